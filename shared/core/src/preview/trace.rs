//! The trace of one preview request, as the inspector shows it, and the two
//! rules every trace follows: `user_data` values masked, and a bounded size.

use super::SessionId;
use crate::transform::is_sha256_hex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// What a masked value shows.
pub const MASK: &str = "***";
/// A trace fits one Firestore document (1 MiB) and one Pub/Sub message with
/// room to spare; bigger ones lose their payloads, then their last events.
pub const MAX_TRACE_BYTES: usize = 512 * 1024;
/// Events detailed per request; the rest are counted in `events_omitted`.
pub const MAX_TRACED_EVENTS: usize = 100;

/// One traced request (the JSON keys are the inspector API's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestTrace {
    pub session: SessionId,
    /// Unique per request: the trace's document id.
    pub id: String,
    /// RFC 3339, when ingest answered.
    pub received_at: String,
    /// RFC 3339, when the trace may be deleted.
    pub expire_at: String,
    /// The HTTP status ingest answered.
    pub status: u16,
    /// The response body ingest answered.
    pub response: Value,
    pub events: Vec<EventTrace>,
    /// Sent with `X-Hermes-Backfill: true`: its messages carry `hermes_backfill`.
    #[serde(default)]
    pub backfill: bool,
    /// Events of the request not detailed (over [`MAX_TRACED_EVENTS`] or the size bound).
    #[serde(default)]
    pub events_omitted: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventTrace {
    pub index: usize,
    pub event_name: Option<String>,
    /// The schema errors of this event, as in the response's `errors`.
    pub errors: Vec<Value>,
    pub destinations: Vec<DestinationTrace>,
    /// Why the event went to the quarantine (`schema`, `destination`), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantined: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DestinationTrace {
    pub name: String,
    pub triggered: bool,
    /// Why it triggered or not: `matched`, `event not in events`, …
    pub reason: String,
    /// The message data as published, decoded (JSON), `user_data` masked.
    pub payload: Option<Value>,
    pub attributes: Option<BTreeMap<String, String>>,
    pub message_id: Option<String>,
    pub error: Option<String>,
    /// Wall time of the publish call that carried the message, in ms.
    #[serde(rename = "executionTime")]
    pub execution_time: Option<u64>,
}

/// Masks every value under a `user_data` key, at any depth, and every
/// top-level key in `mapped` (payload keys a mapping filled from `user_data`).
/// With `keep_digests` (the destination hashes or keys personal data), a value
/// that is a SHA-256 digest (64 hex digits) stays visible: it is what the
/// transform published, and showing it is how a user checks the normalisation.
pub fn mask_user_data(payload: &mut Value, mapped: &[&str], keep_digests: bool) {
    if let Value::Object(map) = payload {
        for key in mapped {
            if let Some(v) = map.get_mut(*key) {
                mask_all(v, keep_digests);
            }
        }
    }
    mask_under_user_data(payload, keep_digests);
}

fn mask_under_user_data(v: &mut Value, keep_digests: bool) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "user_data" {
                    mask_all(child, keep_digests);
                } else {
                    mask_under_user_data(child, keep_digests);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| mask_under_user_data(item, keep_digests)),
        _ => {}
    }
}

/// Every leaf becomes `"***"` (nulls stay null: nothing to hide); the shape stays.
fn mask_all(v: &mut Value, keep_digests: bool) {
    match v {
        Value::Object(map) => map.values_mut().for_each(|c| mask_all(c, keep_digests)),
        Value::Array(items) => items.iter_mut().for_each(|c| mask_all(c, keep_digests)),
        Value::Null => {}
        Value::String(s) if keep_digests && is_sha256_hex(s) => {}
        leaf => *leaf = Value::String(MASK.to_string()),
    }
}

/// Bounds a trace to [`MAX_TRACE_BYTES`] of JSON: first the payloads and the
/// response body are replaced by a note, then events are dropped from the end.
pub fn fit(trace: &mut RequestTrace) {
    if json_len(trace) <= MAX_TRACE_BYTES {
        return;
    }
    for event in &mut trace.events {
        for dest in &mut event.destinations {
            if let Some(payload) = &dest.payload {
                let note = format!(
                    "(payload of {} bytes not shown: a trace holds at most {MAX_TRACE_BYTES} bytes)",
                    payload.to_string().len()
                );
                dest.payload = Some(Value::String(note));
            }
        }
    }
    if json_len(trace) > MAX_TRACE_BYTES {
        let status = trace.response.get("status").cloned().unwrap_or(Value::Null);
        let error = trace.response.get("error").cloned().unwrap_or(Value::Null);
        trace.response = serde_json::json!({ "status": status, "error": error, "note": "response body not shown: too large for a trace" });
    }
    while json_len(trace) > MAX_TRACE_BYTES && !trace.events.is_empty() {
        let drop = trace.events.len().div_ceil(2);
        let keep = trace.events.len() - drop;
        trace.events.truncate(keep);
        trace.events_omitted += drop;
    }
}

fn json_len(trace: &RequestTrace) -> usize {
    serde_json::to_vec(trace)
        .map(|v| v.len())
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn digests_stay_visible_only_where_the_destination_hashes() {
        let digest = "a".repeat(64);
        let event = json!({"user_data": {"sha256_email_address": digest, "city": "Oslo"}});
        let mut hashed = event.clone();
        mask_user_data(&mut hashed, &[], true);
        assert_eq!(
            hashed,
            json!({"user_data": {"sha256_email_address": digest, "city": MASK}})
        );
        let mut plain = event;
        mask_user_data(&mut plain, &[], false);
        assert_eq!(
            plain,
            json!({"user_data": {"sha256_email_address": MASK, "city": MASK}})
        );
    }

    #[test]
    fn user_data_is_masked_at_any_depth_and_mapped_keys_too() {
        let mut p = json!({
            "user_data": {"email_address": "a@b.c", "address": [{"city": "Oslo"}], "x": null},
            "items": [{"user_data": "raw"}],
            "email": "a@b.c",
            "value": 3
        });
        mask_user_data(&mut p, &["email"], false);
        assert_eq!(
            p,
            json!({
                "user_data": {"email_address": MASK, "address": [{"city": MASK}], "x": null},
                "items": [{"user_data": MASK}],
                "email": MASK,
                "value": 3
            })
        );
    }

    #[test]
    fn oversized_traces_are_cut_to_the_bound() {
        let big = "x".repeat(10_000);
        let dest = DestinationTrace {
            name: "d".into(),
            triggered: true,
            reason: "matched".into(),
            payload: Some(json!({ "big": big })),
            attributes: None,
            message_id: Some("1".into()),
            error: None,
            execution_time: Some(1),
        };
        let events = (0..100)
            .map(|i| EventTrace {
                index: i,
                event_name: Some("e".into()),
                errors: vec![json!({ "message": big })],
                destinations: vec![dest.clone()],
                quarantined: None,
            })
            .collect();
        let mut t = RequestTrace {
            session: SessionId::parse(&"a".repeat(64)).unwrap(),
            id: "t".into(),
            received_at: "2026-01-01T00:00:00.000000Z".into(),
            expire_at: "2026-01-01T01:00:00.000000Z".into(),
            status: 200,
            response: json!({ "status": 200, "error": "", "errors": [big] }),
            events,
            events_omitted: 0,
            backfill: false,
        };
        fit(&mut t);
        assert!(json_len(&t) <= MAX_TRACE_BYTES);
        assert!(t.events_omitted > 0 && t.events.len() + t.events_omitted == 100);
        assert!(t.events[0].destinations[0]
            .payload
            .as_ref()
            .unwrap()
            .is_string());
    }
}
