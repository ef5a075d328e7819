//! Notify under `hermes dev`: its markers in SQLite (the [`MarkerStore`] that
//! Firestore's `hermes_notified` is in the cloud), and a log of its webhook
//! calls for the `/dev/queue` view, kept by [`Recorded`], the notify job with
//! each call written down.

use super::db::{epoch_ms, Db, DbError};
use hermes_core::excerpt::preview;
use hermes_core::future::BoxFuture;
use hermes_core::store::{DocumentId, MarkerOrigin, MarkerStore, StoreError};
use hermes_core::time::format_timestamp;
use hermes_notify::webhook::WebhookError;
use hermes_notify::{Notify, NotifyError, Outcome};
use hermes_push::{event_of, Backfill, OidcVerifier, PushJob, PushMessage};
use rusqlite::params;
use std::sync::Arc;
use std::time::SystemTime;

/// Calls kept for the view: the latest ones.
const CALLS_KEPT: i64 = 100;

/// One webhook call as `/dev/queue` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookCall {
    pub at: String,
    pub message_id: String,
    pub idempotency_key: String,
    /// The webhook's status; absent when it could not be reached.
    pub status: Option<u16>,
    /// `delivered`, or why not.
    pub outcome: String,
}

#[derive(Clone)]
pub struct SqliteNotified {
    db: Db,
}

impl SqliteNotified {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn record(&self, call: WebhookCall) -> Result<(), DbError> {
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT INTO notify_calls (at, message_id, idempotency_key, status, outcome)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        call.at,
                        call.message_id,
                        call.idempotency_key,
                        call.status,
                        call.outcome
                    ],
                )?;
                let last = c.last_insert_rowid();
                c.execute(
                    "DELETE FROM notify_calls WHERE id <= ?1",
                    params![last - CALLS_KEPT],
                )
            })
            .await
            .map(|_| ())
    }

    /// The latest calls, newest first.
    pub async fn calls(&self) -> Result<Vec<WebhookCall>, DbError> {
        self.db
            .call(|c| {
                let mut stmt = c.prepare_cached(
                    "SELECT at, message_id, idempotency_key, status, outcome FROM notify_calls
                     ORDER BY id DESC",
                )?;
                let rows = stmt.query_map([], |r| {
                    Ok(WebhookCall {
                        at: r.get(0)?,
                        message_id: r.get(1)?,
                        idempotency_key: r.get(2)?,
                        status: r.get(3)?,
                        outcome: r.get(4)?,
                    })
                })?;
                rows.collect()
            })
            .await
    }
}

impl MarkerStore for SqliteNotified {
    fn exists<'a>(&'a self, id: &'a DocumentId) -> BoxFuture<'a, Result<bool, StoreError>> {
        let (id, now) = (id.as_str().to_string(), epoch_ms(SystemTime::now()));
        Box::pin(async move {
            self.db
                .call(move |c| {
                    c.prepare_cached(
                        "SELECT 1 FROM notified WHERE marker_id = ?1 AND expire_at_ms > ?2",
                    )?
                    .exists(params![id, now])
                })
                .await
                .map_err(StoreError::transient)
        })
    }

    fn put<'a>(
        &'a self,
        id: &'a DocumentId,
        _origin: &'a MarkerOrigin,
        expire_at: SystemTime,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let (id, expire) = (id.as_str().to_string(), epoch_ms(expire_at));
        Box::pin(async move {
            self.db
                .call(move |c| {
                    c.execute(
                        "INSERT INTO notified (marker_id, expire_at_ms) VALUES (?1, ?2)
                         ON CONFLICT (marker_id) DO UPDATE SET expire_at_ms = excluded.expire_at_ms",
                        params![id, expire],
                    )
                })
                .await
                .map(|_| ())
                .map_err(StoreError::transient)
        })
    }
}

/// The notify job, each webhook call written to the dev log.
pub struct Recorded {
    pub notify: Arc<Notify>,
    pub log: SqliteNotified,
}

impl PushJob for Recorded {
    type Outcome = Outcome;
    type Error = NotifyError;

    fn name(&self) -> &'static str {
        self.notify.name()
    }

    fn verifier(&self) -> Option<&OidcVerifier> {
        self.notify.verifier()
    }

    fn handles_preview(&self) -> bool {
        self.notify.handles_preview()
    }

    fn backfill(&self) -> Backfill {
        self.notify.backfill()
    }

    fn handle<'a>(
        &'a self,
        message: &'a PushMessage,
    ) -> BoxFuture<'a, Result<Outcome, NotifyError>> {
        Box::pin(async move {
            let result = self.notify.notify(message).await;
            let status = match &result {
                Ok(Outcome::Delivered(status)) => Some(Some(*status)),
                Err(NotifyError::Webhook(
                    WebhookError::Unavailable(s)
                    | WebhookError::Refused(s)
                    | WebhookError::Unexpected(s),
                )) => Some(Some(*s)),
                Err(NotifyError::Webhook(WebhookError::Unreachable(_))) => Some(None),
                // No call was made.
                _ => None,
            };
            if let Some(status) = status {
                let outcome = match &result {
                    Ok(o) => hermes_push::JobOutcome::as_str(o).to_string(),
                    Err(e) => preview(&e.to_string(), 200),
                };
                let call = WebhookCall {
                    at: format_timestamp(SystemTime::now()),
                    message_id: preview(&message.message_id, 128),
                    idempotency_key: preview(event_of(message).as_str(), 128),
                    status,
                    outcome,
                };
                if let Err(e) = self.log.record(call).await {
                    tracing::warn!(error = %hermes_core::error::report(&e), "webhook call not logged");
                }
            }
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hermes_core::store::EventIdentity;
    use std::time::Duration;

    #[tokio::test]
    async fn markers_expire_and_calls_are_bounded() {
        let notified = SqliteNotified::new(Db::memory().unwrap());
        let id = DocumentId::parse("m1").unwrap();
        let origin = MarkerOrigin {
            subscription: "s".into(),
            event: EventIdentity::EventId("e".into()),
            part: 0,
        };
        assert!(!notified.exists(&id).await.unwrap());
        let later = SystemTime::now() + Duration::from_secs(60);
        notified.put(&id, &origin, later).await.unwrap();
        notified.put(&id, &origin, later).await.unwrap();
        assert!(notified.exists(&id).await.unwrap());
        let past = SystemTime::now() - Duration::from_secs(1);
        notified.put(&id, &origin, past).await.unwrap();
        assert!(
            !notified.exists(&id).await.unwrap(),
            "an expired marker is gone"
        );

        for n in 0..(CALLS_KEPT + 5) {
            let call = WebhookCall {
                at: "t".into(),
                message_id: n.to_string(),
                idempotency_key: "k".into(),
                status: Some(200),
                outcome: "delivered".into(),
            };
            notified.record(call).await.unwrap();
        }
        let calls = notified.calls().await.unwrap();
        assert_eq!(calls.len() as i64, CALLS_KEPT);
        assert_eq!(calls[0].message_id, (CALLS_KEPT + 4).to_string());
    }
}
