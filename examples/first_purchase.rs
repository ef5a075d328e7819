//! A push job of your own on Hermes' push-job kit: it logs the first purchase
//! of each day (README, "Write your own job"). The kit does the rest: the
//! OIDC check, the envelope, the body limit, previews, the status Pub/Sub
//! needs (400 poison, 503 / 500 retry) and one bounded log line per message.
//!
//! Run it: `cargo run --example first_purchase` (port 8080, or `$PORT`);
//! test it: `cargo test --example first_purchase`.

use hermes_core::future::BoxFuture;
use hermes_push::{FailureClass, JobError, JobOutcome, PushJob, PushMessage};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// The day (`YYYY-MM-DD`, UTC) of the last first purchase seen by this
/// instance. A job with effects that must survive a restart keeps a marker
/// instead (`hermes_core::store::MarkerStore`, as notify does).
#[derive(Default)]
pub struct FirstPurchase {
    last_day: Mutex<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    First,
    NotFirst,
    NotAPurchase,
}

impl JobOutcome for Seen {
    fn as_str(&self) -> &'static str {
        match self {
            Seen::First => "first",
            Seen::NotFirst => "not_first",
            Seen::NotAPurchase => "not_a_purchase",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FirstPurchaseError {
    #[error("the payload is not JSON")]
    NotJson(#[source] serde_json::Error),
}

impl JobError for FirstPurchaseError {
    fn class(&self) -> FailureClass {
        // The same bytes will never parse: dead-letter it.
        FailureClass::Poison
    }
}

impl PushJob for FirstPurchase {
    type Outcome = Seen;
    type Error = FirstPurchaseError;

    fn name(&self) -> &'static str {
        "first-purchase"
    }

    fn handle<'a>(&'a self, message: &'a PushMessage) -> BoxFuture<'a, Result<Seen, Self::Error>> {
        Box::pin(async move {
            if message.attributes.get("event_name").map(String::as_str) != Some("purchase") {
                return Ok(Seen::NotAPurchase);
            }
            let payload: Value =
                serde_json::from_slice(&message.data).map_err(FirstPurchaseError::NotJson)?;
            // Pub/Sub's publish time is RFC 3339 UTC: its first 10 characters are the day.
            let time = message.publish_time.as_deref().unwrap_or_default();
            let day = time.get(..10).unwrap_or_default().to_string();
            let mut last = self.last_day.lock().unwrap_or_else(|p| p.into_inner());
            if *last >= day {
                return Ok(Seen::NotFirst);
            }
            *last = day.clone();
            tracing::info!(%day, transaction_id = %payload["transaction_id"], "first purchase of the day");
            Ok(Seen::First)
        })
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    hermes_runtime::logging::init();
    let router = hermes_push::router(Arc::new(FirstPurchase::default()));
    match hermes_runtime::run(router).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("first_purchase: {}", hermes_core::error::Report(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use base64::Engine;
    use serde_json::json;
    use tower::ServiceExt;

    /// Pushes one message through the kit's router, as Pub/Sub would.
    async fn push(app: &axum::Router, event: &str, data: &[u8], time: &str) -> (u16, Value) {
        let envelope = json!({
            "message": {
                "data": base64::engine::general_purpose::STANDARD.encode(data),
                "attributes": { "event_name": event },
                "messageId": "1",
                "publishTime": time,
            },
            "subscription": "projects/p/subscriptions/first-purchase",
        });
        let request = Request::post("/")
            .body(Body::from(envelope.to_string()))
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn the_first_purchase_of_each_day_only() {
        let app = hermes_push::router(Arc::new(FirstPurchase::default()));
        let order = br#"{"transaction_id":"T-1"}"#;
        let day1 = "2026-12-01T08:00:00Z";
        let (status, answer) = push(&app, "purchase", order, day1).await;
        assert_eq!((status, answer["status"].as_str()), (200, Some("first")));
        let (_, answer) = push(&app, "purchase", order, "2026-12-01T23:59:59Z").await;
        assert_eq!(answer["status"], "not_first");
        let (_, answer) = push(&app, "page_view", b"{}", "2026-12-02T00:00:01Z").await;
        assert_eq!(answer["status"], "not_a_purchase");
        let (_, answer) = push(&app, "purchase", order, "2026-12-02T00:00:02Z").await;
        assert_eq!(answer["status"], "first");
        // A payload that is not JSON is poison: 400, and Pub/Sub dead-letters it.
        let (status, answer) = push(&app, "purchase", b"not json", day1).await;
        assert_eq!((status, answer["status"].as_str()), (400, Some("error")));
    }
}
