//! A push job of your own on Hermes' push-job kit: it logs the first purchase
//! of each day (README, "Write your own job"). The kit does the rest: the
//! OIDC check, the envelope, the body limit, previews, the status Pub/Sub
//! needs (400 poison, 503 / 500 retry) and one bounded log line per message.
//!
//! Its settings are a `[jobs.first_purchase]` table of the shared
//! configuration, which every Hermes function skips:
//!
//! ```toml
//! [jobs.first_purchase]
//! event = "purchase"                 # the event_name that counts (default)
//! push_audience = "https://first-purchase-xyz.a.run.app/"   # OIDC on (optional)
//! ```
//!
//! Run it: `cargo run --example first_purchase` (port 8080, or `$PORT`);
//! test it: `cargo test --example first_purchase`.

use hermes_core::config::{parse_section, Config, ConfigError};
use hermes_core::future::BoxFuture;
use hermes_push::{
    Backfill, FailureClass, JobError, JobOutcome, OidcVerifier, PushAuth, PushJob, PushMessage,
};
use serde::Deserialize;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// The job's own table: `[jobs.first_purchase]`.
const SECTION: &str = "jobs.first_purchase";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    event: Option<String>,
    push_audience: Option<String>,
    push_service_account: Option<String>,
    jwks_url: Option<String>,
}

/// `[jobs.first_purchase]`, parsed once at start-up.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The `event_name` of a purchase.
    pub event: String,
    pub push: PushAuth,
}

impl Settings {
    /// Reads the job's table; an absent table means the defaults.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let raw: Raw = match config.job("first_purchase") {
            Some(table) => parse_section(SECTION, table)?,
            None => Raw::default(),
        };
        let event = raw.event.unwrap_or_else(|| "purchase".to_string());
        if event.trim().is_empty() {
            return Err(ConfigError::invalid(
                format!("{SECTION}.event"),
                "must not be empty",
            ));
        }
        let push = PushAuth::parse(
            SECTION,
            raw.push_audience,
            raw.push_service_account,
            raw.jwks_url,
        )?;
        Ok(Self { event, push })
    }
}

/// The day (`YYYY-MM-DD`, UTC) of the last first purchase seen by this
/// instance. A job with effects that must survive a restart keeps a marker
/// instead (`hermes_core::store::MarkerStore`, as notify does).
pub struct FirstPurchase {
    settings: Settings,
    verifier: Option<OidcVerifier>,
    last_day: Mutex<String>,
}

impl FirstPurchase {
    pub fn new(settings: Settings) -> Self {
        Self {
            verifier: settings.push.verifier(),
            settings,
            last_day: Mutex::default(),
        }
    }
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

    fn verifier(&self) -> Option<&OidcVerifier> {
        self.verifier.as_ref()
    }

    /// "First of the day" is read from the publish time: old orders sent again
    /// would all look like today's first.
    fn backfill(&self) -> Backfill {
        Backfill::Skip
    }

    fn handle<'a>(&'a self, message: &'a PushMessage) -> BoxFuture<'a, Result<Seen, Self::Error>> {
        Box::pin(async move {
            if message.attributes.get("event_name") != Some(&self.settings.event) {
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
    let settings = match Config::from_env_without_hash_key().and_then(|c| Settings::from_config(&c))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("first_purchase: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let router = hermes_push::router(Arc::new(FirstPurchase::new(settings)));
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

    fn settings(toml: &str) -> Result<Settings, ConfigError> {
        Settings::from_config(&Config::parse_with_hash_key(toml, None, None)?)
    }

    #[test]
    fn settings_come_from_the_jobs_own_table() {
        let s = settings("[jobs.first_purchase]\nevent = \"order\"").unwrap();
        assert_eq!(s.event, "order");
        assert!(!s.push.is_on());
        assert_eq!(settings("").unwrap().event, "purchase");
        let s = settings("[jobs.first_purchase]\npush_audience = \"https://fp.example/\"").unwrap();
        assert!(s.push.is_on());
        let err = settings("[jobs.first_purchase]\nevnt = \"order\"").unwrap_err();
        assert!(err.to_string().contains("jobs.first_purchase"), "{err}");
        assert!(err.to_string().contains("evnt"), "{err}");
    }

    #[tokio::test]
    async fn the_first_purchase_of_each_day_only() {
        let settings = settings("").unwrap();
        let app = hermes_push::router(Arc::new(FirstPurchase::new(settings)));
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
