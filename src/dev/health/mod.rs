//! Pipeline health under `hermes dev`, the figures Cloud Monitoring shows on
//! Google Cloud (README, "Monitoring"), from the dev SQLite file: events per
//! minute by `event_name` (recorded as the queue takes them, each event once
//! however many destinations it went to), events rejected by schema error code
//! and requests refused by status (ingest's answers, seen in process), bad
//! rows quarantined by reason (as the queue keeps them; never counted as
//! events), and the dead letters of the queue. Kept for the last hour.
//!
//! `GET /dashboard/api/health` serves it; the dashboard page shows it when
//! the route answers (on Google Cloud it does not: Monitoring has the figures).

pub mod record;

use super::db::{Db, DbError};
use super::queue::SqliteQueue;
use axum::body::Body;
use axum::body::HttpBody as _;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hermes_ingest::quarantine::Reason;
use record::{bump, minute_now, prune, KEEP_MINUTES, QUARANTINED};
use rusqlite::params;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

/// Minutes the page shows.
const WINDOW: i64 = 10;
/// Ingest answers larger than this are passed on without being looked at.
const MAX_INSPECTED: u64 = 1 << 20;

#[derive(Clone)]
pub struct Health {
    db: Db,
    queue: SqliteQueue,
}

impl Health {
    pub fn new(db: Db, queue: SqliteQueue) -> Self {
        Self { db, queue }
    }

    /// Records what an ingest answer says was rejected: per error code the
    /// events with such an error (each once), or the refusal of the whole request.
    async fn record_answer(&self, status: StatusCode, body: &[u8]) -> Result<(), DbError> {
        let Ok(answer) = serde_json::from_slice::<Value>(body) else {
            return Ok(());
        };
        let mut by_code: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for e in answer["errors"].as_array().into_iter().flatten() {
            let code = e["code"].as_str().unwrap_or("unknown").to_string();
            by_code
                .entry(code)
                .or_default()
                .insert(e["eventIndex"].to_string());
        }
        // 206 / 422 / 500 answers are about events and tags; a 4xx or 503 without
        // event errors refused the request whole.
        let refused = by_code.is_empty()
            && (status.is_client_error() || status == StatusCode::SERVICE_UNAVAILABLE);
        if by_code.is_empty() && !refused {
            return Ok(());
        }
        let status = status.as_u16().to_string();
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let minute = minute_now();
                prune(&tx, minute)?;
                for (code, events) in &by_code {
                    bump(&tx, minute, "rejected", code, events.len() as i64)?;
                }
                if by_code.is_empty() {
                    bump(&tx, minute, "refused", &status, 1)?;
                }
                tx.commit()
            })
            .await
    }

    /// The JSON of `GET /dashboard/api/health`.
    pub async fn snapshot(&self) -> Result<Value, DbError> {
        let now = minute_now();
        let rows: Vec<(i64, String, String, i64)> = self
            .db
            .call(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT minute, kind, key, count FROM health WHERE minute > ?1 ORDER BY minute",
                )?;
                let rows = stmt
                    .query_map(params![now - KEEP_MINUTES], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })?
                    .collect();
                rows
            })
            .await?;
        let stats = self.queue.stats().await?;
        let first = now - WINDOW + 1;
        let mut per_minute: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        let (mut rejected, mut refused) = (Map::new(), Map::new());
        // Every reason, 0 included, when the quarantine is on; null when it is off.
        let mut quarantined = self.queue.quarantine_topic().map(|_| {
            [Reason::Schema, Reason::Destination]
                .into_iter()
                .map(|r| (r.as_str().to_string(), json!(0)))
                .collect::<Map<_, _>>()
        });
        for (minute, kind, key, count) in rows {
            match kind.as_str() {
                "event" if minute >= first => {
                    let slots = per_minute
                        .entry(key)
                        .or_insert_with(|| vec![0; WINDOW as usize]);
                    if let Some(slot) = usize::try_from(minute - first)
                        .ok()
                        .and_then(|i| slots.get_mut(i))
                    {
                        *slot += count;
                    }
                }
                "rejected" => add(&mut rejected, key, count),
                "refused" => add(&mut refused, key, count),
                QUARANTINED => {
                    if let Some(map) = quarantined.as_mut() {
                        add(map, key, count);
                    }
                }
                _ => {}
            }
        }
        let minutes: Vec<String> = (first..=now)
            .map(|m| {
                let t =
                    UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(m * 60).unwrap_or(0));
                hermes_core::time::format_timestamp(t)
            })
            .collect();
        Ok(json!({
            "minutes": minutes,
            "events_per_minute": per_minute,
            "rejected_last_hour": rejected,
            "refused_last_hour": refused,
            "quarantined_last_hour": quarantined,
            "dead_letters": stats.dead,
            "pending": stats.pending,
        }))
    }
}

fn add(map: &mut Map<String, Value>, key: String, n: i64) {
    let total = map.get(&key).and_then(Value::as_i64).unwrap_or(0) + n;
    map.insert(key, json!(total));
}

/// Around ingest's router: looks at each answer to `POST /` (bounded: larger
/// ones pass untouched) and records its rejections. A failure to record is
/// logged and never changes the answer.
pub async fn record_ingest(
    State(health): State<Arc<Health>>,
    request: Request,
    next: Next,
) -> Response {
    let is_ingest = request.method() == Method::POST && request.uri().path() == "/";
    let response = next.run(request).await;
    let small = response
        .body()
        .size_hint()
        .exact()
        .is_some_and(|n| n <= MAX_INSPECTED);
    if !is_ingest || response.status() == StatusCode::OK || !small {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_INSPECTED as usize).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "answer lost").into_response(),
    };
    if let Err(e) = health.record_answer(parts.status, &bytes).await {
        tracing::warn!(error = %hermes_core::error::report(&e), "dev health: cannot record an ingest answer");
    }
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hermes_core::destination::{Message, Publisher, TopicName, ATTR_EVENT_ID, ATTR_EVENT_NAME};
    use hermes_ingest::quarantine::ATTR_QUARANTINE_REASON;
    use std::time::Duration;

    fn topic(id: &str) -> TopicName {
        TopicName::parse(id, Some("p")).unwrap()
    }

    fn message(event_id: &str, reason: Option<&str>) -> Message {
        let mut attributes = vec![
            (ATTR_EVENT_ID.to_string(), event_id.to_string()),
            (ATTR_EVENT_NAME.to_string(), "purchase".to_string()),
        ];
        attributes.extend(reason.map(|r| (ATTR_QUARANTINE_REASON.to_string(), r.to_string())));
        Message {
            data: b"{}".to_vec().into(),
            attributes,
        }
    }

    fn health(quarantine: bool) -> Health {
        let db = Db::memory().unwrap();
        let mut queue = SqliteQueue::new(
            db.clone(),
            vec![topic("items")],
            Duration::ZERO,
            Duration::ZERO,
        );
        if quarantine {
            queue = queue.with_quarantine(topic("hermes-quarantine"));
        }
        Health::new(db, queue)
    }

    fn events(snapshot: &Value, name: &str) -> i64 {
        snapshot["events_per_minute"][name]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_i64)
            .sum()
    }

    /// Bad rows are counted per reason, not as events: not even the bad row
    /// of an event that was also published (a destination refused it), which
    /// arrived first, keeps that event from its count.
    #[tokio::test]
    async fn bad_rows_are_counted_by_reason_and_not_as_events() {
        let h = health(true);
        let bad = topic("hermes-quarantine");
        h.queue
            .publish(
                &bad,
                &[
                    message("e1", Some("destination")),
                    message("e2", Some("schema")),
                ],
            )
            .await
            .unwrap();
        h.queue
            .publish(&bad, &[message("e3", Some("schema"))])
            .await
            .unwrap();
        h.queue
            .publish(&topic("items"), &[message("e1", None)])
            .await
            .unwrap();
        let snapshot = h.snapshot().await.unwrap();
        assert_eq!(events(&snapshot, "purchase"), 1, "{snapshot}");
        assert_eq!(
            snapshot["quarantined_last_hour"],
            json!({"schema": 2, "destination": 1}),
            "{snapshot}"
        );
        assert_eq!(snapshot["pending"], 1, "bad rows are not pending");
        assert_eq!(snapshot["dead_letters"], 0);
    }

    /// With the quarantine on, both reasons show from the start; off, the
    /// figure is null (the page shows nothing of it).
    #[tokio::test]
    async fn the_figure_is_zero_when_on_and_null_when_off() {
        let on = health(true).snapshot().await.unwrap();
        assert_eq!(
            on["quarantined_last_hour"],
            json!({"schema": 0, "destination": 0})
        );
        let off = health(false).snapshot().await.unwrap();
        assert_eq!(off["quarantined_last_hour"], Value::Null);
        for key in [
            "minutes",
            "events_per_minute",
            "rejected_last_hour",
            "refused_last_hour",
            "dead_letters",
            "pending",
        ] {
            assert!(off.get(key).is_some(), "{key} kept: {off}");
        }
    }
}
