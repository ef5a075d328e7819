//! The shared test configuration and sample messages: the destinations of the
//! README's example (`examples/hermes.toml`) and the push envelope Pub/Sub sends.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hermes_core::config::Config;
use serde_json::{json, Value};

/// The Google Cloud project of the tests; bare topic ids are completed with it.
pub const PROJECT: &str = "hermes-test";

/// `toml` parsed as the functions parse `HERMES_CONFIG_TOML`, in [`PROJECT`].
pub fn config(toml: &str) -> Config {
    Config::parse(toml, Some(PROJECT)).expect("test config")
}

/// The README's `items-realtime` destination: purchases that carry items, mapped
/// with the Hermes encoding (README, "The Hermes encoding"). The mapping table is
/// left open, for callers to add keys.
pub fn items_realtime(topic: &str) -> String {
    format!(
        r#"
[[destinations]]
name = "items-realtime"
id = "1"
topic = "{topic}"
events = ["purchase"]
require = ["items"]
[destinations.mapping]
transaction_id = "transaction_id"
value_num = "value"
items = "items"
"#
    )
}

/// The README's two destinations: `events` takes every event whole, and
/// [`items_realtime`] with the first item's quantity as an integer and a static
/// attribute.
pub fn two_destinations(events_topic: &str, items_topic: &str) -> String {
    format!(
        r#"
container_id = "GTM-TEST"

[[destinations]]
name = "events"
topic = "{events_topic}"
{}quantity_int = "items.0.quantity"
[destinations.attributes]
source = "s2s"
"#,
        items_realtime(items_topic)
    )
}

/// A Pub/Sub push request body, as Google sends it to the counters function:
/// `data` base64-encoded, the message id in both spellings.
pub fn push_envelope(message_id: &str, data: &Value, attributes: Value) -> Value {
    json!({
        "message": {
            "data": STANDARD.encode(data.to_string()),
            "attributes": attributes,
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": "2026-11-22T10:00:00.000Z",
        },
        "subscription": "projects/p/subscriptions/items-realtime-counters",
        "deliveryAttempt": 1,
    })
}

/// Whether `id` has the form of a derived (`"k1."`) or random (`"r1."`)
/// event identity: the prefix and 32 lowercase hex digits.
pub fn is_identity_form(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|hex| {
        hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}
