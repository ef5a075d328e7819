//! Event identity: the `hermes_event_id` attribute that every message of one
//! event carries, fixed before the first publish attempt so that every retry,
//! ours or the client's, resends the same value; the counters count an
//! identity once (README, "Delivery guarantees").
//!
//! Three sources, in order: the event's own id field, exactly as the client
//! wrote it; else an id derived from the request's `Idempotency-Key`, the
//! event's index and its minified text; else random. The derived and random
//! ids have forms of their own (a prefix and 32 hex digits), so a client's id
//! meets one only if the client writes that exact text on purpose, and
//! since a derived id depends on the event's content, nobody takes another
//! sender's events by guessing its keys.

use crate::field_path::FieldPath;
use crate::hex::push_hex;
use crate::json::Json;
use aws_lc_rs::digest;
use std::borrow::Cow;

/// The prefix of an id derived from an `Idempotency-Key`.
pub const KEY_PREFIX: &str = "k1.";
/// The prefix of a random id.
pub const RANDOM_PREFIX: &str = "r1.";

/// Where an event's identity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The event's id field (`idempotency_field`).
    Field,
    /// The request's `Idempotency-Key`, with the event's index and text.
    Key,
    Random,
}

/// The event's own id: the value at `field` when it is a non-empty string.
pub fn of_field<'v>(field: &FieldPath, event: &'v Json<'_>) -> Option<Cow<'v, str>> {
    field
        .lookup(event)
        .and_then(Json::as_str)
        .filter(|id| !id.is_empty())
}

/// The id for event `index` of a request sent with `Idempotency-Key: key`:
/// the first 128 bits of SHA-256 over the key (length first, so no key and
/// index run into each other), the index and the event's minified text. The
/// same request resent gives the same ids; a new body under the same key,
/// new ones.
pub fn from_key(key: &str, index: usize, minified_event: &[u8]) -> String {
    let mut context = digest::Context::new(&digest::SHA256);
    context.update(&(key.len() as u64).to_be_bytes());
    context.update(key.as_bytes());
    context.update(&(index as u64).to_be_bytes());
    context.update(minified_event);
    let digest = context.finish();
    with_prefix(KEY_PREFIX, &digest.as_ref()[..16])
}

/// A random id from 128 random bits.
pub fn from_random(bits: &[u8; 16]) -> String {
    with_prefix(RANDOM_PREFIX, bits)
}

fn with_prefix(prefix: &str, bytes: &[u8]) -> String {
    let mut id = String::with_capacity(prefix.len() + bytes.len() * 2);
    id.push_str(prefix);
    push_hex(&mut id, bytes);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_derived_id_covers_key_index_and_text() {
        let a = from_key("reuse1", 0, br#"{"event_name":"a"}"#);
        assert!(
            a.starts_with(KEY_PREFIX) && a.len() == KEY_PREFIX.len() + 32,
            "{a}"
        );
        assert_eq!(a, from_key("reuse1", 0, br#"{"event_name":"a"}"#));
        assert_ne!(a, from_key("reuse1", 0, br#"{"event_name":"b"}"#));
        assert_ne!(a, from_key("reuse1", 1, br#"{"event_name":"a"}"#));
        assert_ne!(a, from_key("reuse2", 0, br#"{"event_name":"a"}"#));
        // The key's length goes first: a key cannot borrow the index's bytes.
        assert_ne!(from_key("k", 0, b"x"), from_key("k\0", 0, b"x"));
    }

    #[test]
    fn random_ids_have_their_own_form() {
        let id = from_random(&[0xab; 16]);
        assert_eq!(id, format!("{RANDOM_PREFIX}{}", "ab".repeat(16)));
    }

    #[test]
    fn the_field_counts_when_it_is_a_non_empty_string() {
        let field = FieldPath::parse("event_id").unwrap();
        let parse = |t: &'static str| crate::json::parse(t).unwrap();
        assert_eq!(
            of_field(&field, &parse(r#"{"event_id":"E1"}"#)).as_deref(),
            Some("E1")
        );
        for text in [r#"{"event_id":""}"#, r#"{"event_id":42}"#, r#"{}"#] {
            assert_eq!(of_field(&field, &parse(text)), None, "{text}");
        }
    }
}
