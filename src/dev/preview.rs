//! `hermes dev`'s preview traces: one SQLite table in the dev database, written
//! by ingest's trace task in process and read by the inspector. Expired traces
//! are never returned and are deleted on the next write; a session keeps at
//! most [`MAX_PER_SESSION`] traces.

use super::db::{epoch_ms, Db};
use hermes_core::future::BoxFuture;
use hermes_core::preview::{RequestTrace, SessionId, TraceReader, TraceSink};
use hermes_core::store::StoreError;
use hermes_core::time::parse_timestamp;
use rusqlite::params;
use std::time::SystemTime;

/// The newest traces a session keeps; older ones are deleted on write.
pub const MAX_PER_SESSION: usize = 200;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS preview_traces (
    id TEXT PRIMARY KEY,
    session TEXT NOT NULL,
    received_at TEXT NOT NULL,
    expire_at_ms INTEGER NOT NULL,
    trace TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS preview_traces_session ON preview_traces (session, received_at);
";

#[derive(Clone)]
pub struct SqliteTraces {
    db: Db,
}

impl SqliteTraces {
    /// Creates the table when missing.
    pub async fn new(db: Db) -> Result<Self, StoreError> {
        db.call(|c| c.execute_batch(SCHEMA))
            .await
            .map_err(StoreError::permanent)?;
        Ok(Self { db })
    }
}

impl TraceSink for SqliteTraces {
    fn record<'a>(&'a self, trace: &'a RequestTrace) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let text = serde_json::to_string(trace).map_err(StoreError::permanent)?;
            let now = epoch_ms(SystemTime::now());
            let expire = parse_timestamp(&trace.expire_at).map_or(now, epoch_ms);
            let (id, session, received) = (
                trace.id.clone(),
                trace.session.to_string(),
                trace.received_at.clone(),
            );
            self.db
                .call(move |c| {
                    let tx = c.transaction()?;
                    tx.execute(
                        "DELETE FROM preview_traces WHERE expire_at_ms <= ?1",
                        params![now],
                    )?;
                    tx.execute(
                        "INSERT OR REPLACE INTO preview_traces (id, session, received_at, expire_at_ms, trace)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![id, session, received, expire, text],
                    )?;
                    tx.execute(
                        "DELETE FROM preview_traces WHERE session = ?1 AND id NOT IN
                         (SELECT id FROM preview_traces WHERE session = ?1
                          ORDER BY received_at DESC LIMIT ?2)",
                        params![session, MAX_PER_SESSION as i64],
                    )?;
                    tx.commit()
                })
                .await
                .map_err(StoreError::transient)
        })
    }
}

impl TraceReader for SqliteTraces {
    fn traces<'a>(
        &'a self,
        session: &'a SessionId,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<RequestTrace>, StoreError>> {
        Box::pin(async move {
            let session = session.to_string();
            let now = epoch_ms(SystemTime::now());
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = self
                .db
                .call(move |c| {
                    let mut stmt = c.prepare(
                        "SELECT trace FROM preview_traces WHERE session = ?1 AND expire_at_ms > ?2
                         ORDER BY received_at DESC LIMIT ?3",
                    )?;
                    let rows = stmt
                        .query_map(params![session, now, limit], |r| r.get::<_, String>(0))?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    Ok(rows)
                })
                .await
                .map_err(StoreError::transient)?;
            Ok(rows
                .iter()
                .filter_map(|t| serde_json::from_str(t).ok())
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hermes_core::time::format_timestamp;
    use serde_json::json;
    use std::time::Duration;

    fn trace(session: &SessionId, id: &str, received: SystemTime, ttl: Duration) -> RequestTrace {
        RequestTrace {
            session: session.clone(),
            id: id.into(),
            received_at: format_timestamp(received),
            expire_at: format_timestamp(received + ttl),
            status: 200,
            response: json!({ "status": 200 }),
            events: Vec::new(),
            events_omitted: 0,
            backfill: false,
        }
    }

    #[tokio::test]
    async fn newest_first_per_session_and_expired_ones_gone() {
        let traces = SqliteTraces::new(Db::memory().unwrap()).await.unwrap();
        let a = SessionId::parse(&"a".repeat(64)).unwrap();
        let b = SessionId::parse(&"b".repeat(64)).unwrap();
        let now = SystemTime::now();
        let hour = Duration::from_secs(3600);
        // Received two hours ago with a one-hour lifetime: expired.
        let old = trace(&a, "old", now - 2 * hour, hour);
        for t in [
            trace(&a, "first", now - Duration::from_secs(2), hour),
            trace(&a, "second", now - Duration::from_secs(1), hour),
            trace(&b, "other", now, hour),
            old,
        ] {
            traces.record(&t).await.unwrap();
        }
        let got: Vec<String> = traces
            .traces(&a, 50)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(got, ["second", "first"]);
        assert_eq!(traces.traces(&b, 50).await.unwrap().len(), 1);
        assert_eq!(traces.traces(&a, 1).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_session_keeps_a_bounded_number_of_traces() {
        let traces = SqliteTraces::new(Db::memory().unwrap()).await.unwrap();
        let a = SessionId::parse(&"c".repeat(64)).unwrap();
        let now = SystemTime::now();
        for i in 0..MAX_PER_SESSION + 5 {
            let t = trace(
                &a,
                &format!("t{i}"),
                now - Duration::from_secs(1000) + Duration::from_millis(i as u64),
                Duration::from_secs(3600),
            );
            traces.record(&t).await.unwrap();
        }
        let all = traces.traces(&a, 10_000).await.unwrap();
        assert_eq!(all.len(), MAX_PER_SESSION);
        assert_eq!(all[0].id, format!("t{}", MAX_PER_SESSION + 4));
    }
}
