//! Tracing for the preview inspector (README, "Preview inspector"). A request
//! is traced when it is an authorized preview request whose
//! `X-Gtm-Server-Preview` value is a live session value. The trace is built
//! and sent by one background task fed through a bounded channel: the request
//! never waits for it, a full channel drops the trace (logged), and a sink
//! that fails is logged; the response is the same with or without tracing.

use crate::error::IngestError;
use crate::process::TracedTag;
use crate::quarantine::Reason;
use crate::response::ResponseBody;
use hermes_core::auth::Tokens;
use hermes_core::config::Config;
use hermes_core::destination::{Destination, Trigger};
use hermes_core::error::report;
use hermes_core::json::Json;
use hermes_core::preview::{
    fit, mask_user_data, DestinationTrace, EventTrace, RequestTrace, SessionValue, TraceSink,
    MAX_TRACED_EVENTS, PREVIEW_HEADER,
};
use hermes_core::time::format_timestamp;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;

/// Traces waiting for the background task; beyond this they are dropped.
const QUEUE: usize = 64;

/// Why a destination triggered or not: `matched`.
pub const REASON_MATCHED: &str = "matched";
/// The event failed the schema: no destination runs.
pub const REASON_SCHEMA: &str = "event failed the schema";

/// Why a destination did not trigger for a schema-valid event. The inspector's
/// reasons are all written here.
pub fn not_triggered_reason(dest: &Destination, event: &Json<'_>) -> String {
    match dest.trigger(event) {
        Trigger::Fired => "not triggered".to_string(),
        Trigger::EventNotMatched => "event not in events".to_string(),
        Trigger::RequiredFieldMissing(path) => {
            format!("required field missing: {}", path.as_str())
        }
        Trigger::NoConsent(kind) => format!("no consent: {kind}"),
    }
}

/// What the request path hands over: cheap to build, everything else happens
/// in the background task.
struct Pending {
    session: SessionValue,
    received: SystemTime,
    status: u16,
    response: Value,
    /// The request body: its events are parsed again in the trace task, so
    /// the request path keeps no copy of them.
    body: bytes::Bytes,
    traced: Vec<TracedTag>,
    /// Events sent to the quarantine, with why.
    quarantined: Vec<(usize, Reason)>,
    backfill: bool,
}

/// What the request path knew of an answered request besides its answer.
pub struct Answered {
    /// Each tag execution with its message.
    pub traced: Vec<TracedTag>,
    /// Events sent to the quarantine, with why.
    pub quarantined: Vec<(usize, Reason)>,
    pub backfill: bool,
}

/// The sending end of the trace task.
pub struct Tracer {
    tx: mpsc::Sender<Pending>,
    /// `[preview] ttl_secs`: no session value lives longer.
    ttl: std::time::Duration,
}

impl Tracer {
    /// Starts the background task (inside a Tokio runtime) writing to `sink`.
    pub fn spawn(config: Config, sink: Arc<dyn TraceSink>) -> Self {
        let ttl = config.preview.ttl;
        let (tx, mut rx) = mpsc::channel::<Pending>(QUEUE);
        tokio::spawn(async move {
            while let Some(pending) = rx.recv().await {
                let mut trace = build(&config, pending);
                fit(&mut trace);
                if let Err(e) = sink.record(&trace).await {
                    tracing::warn!(error = %report(&e), "preview trace not stored");
                }
            }
        });
        Self { tx, ttl }
    }

    /// The live session a request's preview header names, if any.
    pub fn session(
        &self,
        headers: &axum::http::HeaderMap,
        now: SystemTime,
    ) -> Option<SessionValue> {
        let value = headers.get(PREVIEW_HEADER)?.to_str().ok()?;
        SessionValue::parse(value, now, self.ttl)
    }

    /// Queues the trace of an answered request; never waits.
    pub fn send(
        &self,
        session: SessionValue,
        status: u16,
        body: &ResponseBody,
        request_body: bytes::Bytes,
        answered: Answered,
    ) {
        let pending = Pending {
            session,
            received: SystemTime::now(),
            status,
            response: serde_json::to_value(body).unwrap_or(Value::Null),
            body: request_body,
            traced: answered.traced,
            quarantined: answered.quarantined,
            backfill: answered.backfill,
        };
        if let Err(e) = self.tx.try_send(pending) {
            let why = match e {
                mpsc::error::TrySendError::Full(_) => "the trace queue is full",
                mpsc::error::TrySendError::Closed(_) => "the trace task has stopped",
            };
            tracing::warn!(reason = why, "preview trace dropped");
        }
    }
}

impl Tracer {
    /// Traces a request refused before its events were processed (400, 413,
    /// 415, …) when it is an authorized preview request all the same; a 401
    /// is never traced.
    pub fn refused(
        &self,
        headers: &axum::http::HeaderMap,
        tokens: &Tokens,
        container_id: &str,
        error: &IngestError,
    ) {
        if matches!(
            error,
            IngestError::Unauthorized | IngestError::BackfillUnauthorized
        ) || !headers.contains_key(PREVIEW_HEADER)
        {
            return;
        }
        let authorization = headers
            .get(axum::http::header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        if !tokens.authorize(authorization, true) {
            return;
        }
        if let Some(session) = self.session(headers, SystemTime::now()) {
            let (status, body) = crate::response::from_error(container_id, error);
            self.send(
                session,
                status.as_u16(),
                &body,
                bytes::Bytes::new(),
                Answered {
                    traced: Vec::new(),
                    quarantined: Vec::new(),
                    backfill: false,
                },
            );
        }
    }
}

fn build(config: &Config, p: Pending) -> RequestTrace {
    let ttl = config.preview.ttl;
    let invalid: HashSet<u64> = p
        .response
        .get("invalidSchemaEvents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .collect();
    let mut errors: BTreeMap<u64, Vec<Value>> = BTreeMap::new();
    for e in p
        .response
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(i) = e.get("eventIndex").and_then(Value::as_u64) {
            errors.entry(i).or_default().push(e.clone());
        }
    }
    let mut traced: BTreeMap<(usize, usize), TracedTag> = p
        .traced
        .into_iter()
        .map(|t| ((t.event, t.dest), t))
        .collect();
    // The body of an answered request parsed once already; a refused one has none.
    let parsed = std::str::from_utf8(&p.body)
        .ok()
        .and_then(|text| hermes_core::json::parse_array(text, usize::MAX).ok())
        .map(|events| events.items)
        .unwrap_or_default();
    let quarantined: BTreeMap<usize, Reason> = p.quarantined.into_iter().collect();
    let events = parsed
        .iter()
        .map(|element| &element.value)
        .enumerate()
        .take(MAX_TRACED_EVENTS)
        .map(|(i, event)| {
            let schema_failed = invalid.contains(&(i as u64));
            let destinations = config
                .destinations
                .iter()
                .enumerate()
                .map(|(d, dest)| match traced.remove(&(i, d)) {
                    Some(tag) => triggered(dest, tag),
                    None => not_triggered(
                        dest,
                        if schema_failed {
                            REASON_SCHEMA.to_string()
                        } else {
                            not_triggered_reason(dest, event)
                        },
                    ),
                })
                .collect();
            EventTrace {
                index: i,
                event_name: event
                    .get("event_name")
                    .and_then(Json::as_str)
                    .map(|name| name.into_owned()),
                errors: errors.remove(&(i as u64)).unwrap_or_default(),
                destinations,
                quarantined: quarantined.get(&i).map(|r| r.as_str().to_string()),
            }
        })
        .collect();
    // Not a time-ordered id: the store orders by `received_at`.
    let id = hermes_core::hex::hex(&crate::process::random_bits());
    RequestTrace {
        session: p.session.session_id(),
        id,
        received_at: format_timestamp(p.received),
        expire_at: format_timestamp(p.received + ttl.max(Duration::from_secs(1))),
        status: p.status,
        response: p.response,
        events_omitted: parsed.len().saturating_sub(MAX_TRACED_EVENTS),
        backfill: p.backfill,
        events,
    }
}

fn not_triggered(dest: &Destination, reason: String) -> DestinationTrace {
    DestinationTrace {
        name: dest.name.clone(),
        triggered: false,
        reason,
        payload: None,
        attributes: None,
        message_id: None,
        error: None,
        execution_time: None,
    }
}

fn triggered(dest: &Destination, tag: TracedTag) -> DestinationTrace {
    // Payload keys a mapping fills from `user_data` are masked like `user_data` itself.
    let mapped: Vec<&str> = dest
        .mapping
        .iter()
        .flatten()
        .filter(|row| {
            let p = row.path.as_str();
            p == "user_data" || p.starts_with("user_data.")
        })
        .map(|row| row.key.as_str())
        .collect();
    let (payload, attributes) = match tag.message {
        Some(message) => {
            let mut payload = hermes_core::json::to_value(&message.data).unwrap_or_else(|| {
                Value::String(String::from_utf8_lossy(&message.data).into_owned())
            });
            // Values a `hash` / `hmac` transform produced are digests: shown as published.
            let keep_digests = dest
                .transform
                .as_ref()
                .is_some_and(|t| !t.hash.is_empty() || !t.hmac.is_empty());
            mask_user_data(&mut payload, &mapped, keep_digests);
            (
                Some(payload),
                Some(message.attributes.into_iter().collect()),
            )
        }
        None => (None, None),
    };
    DestinationTrace {
        name: dest.name.clone(),
        triggered: true,
        reason: REASON_MATCHED.to_string(),
        payload,
        attributes,
        message_id: tag.message_id,
        error: tag.error,
        execution_time: Some(tag.execution_time),
    }
}

#[cfg(test)]
mod tests {
    use super::not_triggered_reason;
    use hermes_core::config::Config;
    use serde_json::json;

    #[test]
    fn every_reason_a_destination_does_not_trigger_is_named() {
        let config = Config::parse(
            r#"
[[destinations]]
name = "ads"
topic = "ads"
events = ["purchase"]
require = ["items"]
require_consent = ["ad_user_data"]
"#,
            Some("p"),
        )
        .expect("config");
        let ads = &config.destinations[0];
        let reason = |event: serde_json::Value| {
            let text = event.to_string();
            not_triggered_reason(ads, &hermes_core::json::parse(&text).unwrap())
        };
        assert_eq!(
            reason(json!({"event_name": "page_view"})),
            "event not in events"
        );
        assert_eq!(
            reason(json!({"event_name": "purchase"})),
            "required field missing: items"
        );
        for consent in [
            json!(null),
            json!({"ad_user_data": "DENIED"}),
            json!("GRANTED"),
        ] {
            assert_eq!(
                reason(json!({"event_name": "purchase", "items": [], "consent": consent})),
                "no consent: ad_user_data"
            );
        }
    }
}
