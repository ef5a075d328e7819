//! What the phases send, and what `hermes-ingest` must answer: the README's
//! events as ingest bodies, and Pub/Sub push envelopes for `hermes-counters`.

use bytes::Bytes;
use serde_json::Value;
use std::sync::LazyLock;

/// The events of the Server-to-Server client's README.
const README_EVENTS: [&str; 3] = [
    r#"{"event_name":"purchase","ip_override":"1.2.3.4","language":"en_us"}"#,
    r#"{"event_name":"add_to_cart","currency":"USD","value":7.77,"language":"en_es"}"#,
    r#"{"event_name":"login","user_id":"FI4L21234","viewport_size":"725x345","user_data":{"email_address":"foo@example.com","phone_number":"+15551234567","first_name":"Jane","last_name":"Doe"}}"#,
];

/// A JSON array of `n` README events, in turn.
pub fn body_of(n: usize) -> Bytes {
    let list: Vec<&str> = README_EVENTS.iter().copied().cycle().take(n).collect();
    Bytes::from(format!("[{}]", list.join(",")))
}

/// As many README events as fit in `max` bytes: `(body, events)`.
pub fn body_up_to(max: usize) -> (Bytes, usize) {
    let mut s = String::with_capacity(max);
    s.push('[');
    let mut n = 0;
    for e in README_EVENTS.iter().cycle() {
        // `,` or nothing before, `]` after.
        if s.len() + e.len() + 2 > max {
            break;
        }
        if n > 0 {
            s.push(',');
        }
        s.push_str(e);
        n += 1;
    }
    s.push(']');
    (Bytes::from(s), n)
}

/// One 200 with one published message id per event, or why not.
pub fn check_ingest_answer(status: u16, body: &[u8], n: usize) -> Result<(), String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let ids = v["messageIds"].as_array().map(Vec::len).unwrap_or(0);
    let all_published = v["messageIds"].as_array().is_some_and(|a| {
        a.iter()
            .all(|m| m.get("events").is_some_and(Value::is_string))
    });
    if status != 200 || v["status"] != 200 || ids != n || !all_published {
        return Err(format!(
            "HTTP {status}, {ids} message ids for {n} events: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ));
    }
    Ok(())
}

/// The items-realtime payload of the README's purchase (what ingest publishes for counters).
const PUSH_PAYLOAD: &str = r#"{"transaction_id":"T1","value":150,"currency":"DKK","items":[{"item_id":"123","item_name":"Blazer","item_category":"Jackets","price":150,"quantity":1},{"item_id":"456","item_name":"T-Shirt","item_category":"Shirts","price":30,"quantity":2}]}"#;

/// The items in [`PUSH_PAYLOAD`].
pub const PUSH_ITEMS: u64 = 2;

/// [`PUSH_PAYLOAD`] in base64, encoded once: envelopes are made per request
/// by the load generator, whose CPU time is measured.
static PUSH_DATA: LazyLock<String> = LazyLock::new(|| {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(PUSH_PAYLOAD)
});

/// The push envelope of message number `seq`: each message its own id, as
/// Pub/Sub gives them.
pub fn push_envelope(seq: u64) -> Bytes {
    envelope(PUSH_DATA.as_str(), seq)
}

/// [`PUSH_PAYLOAD`] with the item ids `cat-123` and `cat-456`, which the
/// Firestore sink's catalogue has (`crate::sinks::CATALOG_PREFIX`), base64.
static CATALOG_DATA: LazyLock<String> = LazyLock::new(|| {
    use base64::Engine;
    let payload = PUSH_PAYLOAD
        .replace(r#""item_id":"123""#, r#""item_id":"cat-123""#)
        .replace(r#""item_id":"456""#, r#""item_id":"cat-456""#);
    base64::engine::general_purpose::STANDARD.encode(payload)
});

/// Like [`push_envelope`], but both items are in the sink's catalogue (a
/// catalogue hit: `cost` and `item_brand` enrich them).
pub fn push_envelope_catalog(seq: u64) -> Bytes {
    envelope(CATALOG_DATA.as_str(), seq)
}

/// Documents the items of [`push_envelope_spread`] are drawn from.
pub const SPREAD_DOCUMENTS: u64 = 1_000;

/// [`PUSH_PAYLOAD`] with item ids `i-{k}` and `i-{(k + 500) % 1000}`, base64, for each `k`.
static SPREAD_DATA: LazyLock<Vec<String>> = LazyLock::new(|| {
    use base64::Engine;
    (0..SPREAD_DOCUMENTS)
        .map(|k| {
            let other = (k + SPREAD_DOCUMENTS / 2) % SPREAD_DOCUMENTS;
            let payload = PUSH_PAYLOAD
                .replace(r#""item_id":"123""#, &format!(r#""item_id":"i-{k}""#))
                .replace(r#""item_id":"456""#, &format!(r#""item_id":"i-{other}""#));
            base64::engine::general_purpose::STANDARD.encode(payload)
        })
        .collect()
});

/// Like [`push_envelope`], but the two items' ids are drawn from
/// [`SPREAD_DOCUMENTS`] (a fixed pseudo-random sequence, the same every run).
pub fn push_envelope_spread(seq: u64) -> Bytes {
    // splitmix64: cheap, well spread, reproducible.
    let mut z = seq.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let k = (z % SPREAD_DOCUMENTS) as usize;
    envelope(&SPREAD_DATA[k], seq)
}

fn envelope(data: &str, seq: u64) -> Bytes {
    Bytes::from(format!(
        r#"{{"message":{{"data":"{data}","messageId":"bench-{seq}","publishTime":"2026-01-01T00:00:00Z","attributes":{{"event_name":"purchase","source":"s2s"}}}},"subscription":"projects/bench/subscriptions/items-realtime"}}"#
    ))
}
