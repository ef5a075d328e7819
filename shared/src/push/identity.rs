//! Event identity and the marker id derived from it. A marker's identity is
//! the event's, not the delivery's (README, "The counters function"): the
//! subscription, the event's `hermes_event_id` (or, without one, the message
//! id), and a part number. Its document id is a SHA-256 of an unambiguous
//! encoding of those, so any identity gives a valid id and no two identities
//! share one.

use super::PushMessage;
use crate::hermes::ATTR_EVENT_ID;
use crate::store::{DocumentId, EventIdentity, MarkerOrigin};
use aws_lc_rs::digest::{Context, SHA256};

/// Names this encoding, so that a different one later cannot reuse its ids.
const DOMAIN: &[u8] = b"hermes-marker-v1\0";

/// The event a message carries: its `hermes_event_id` attribute, the same on
/// every publish of the event; else (a message from another publisher) its
/// message id, which Pub/Sub keeps across redeliveries.
pub fn event_of(message: &PushMessage) -> EventIdentity {
    match message.attributes.get(ATTR_EVENT_ID) {
        Some(id) if !id.is_empty() => EventIdentity::EventId(id.clone()),
        _ => EventIdentity::MessageId(message.message_id.clone()),
    }
}

/// The marker's origin for part `part` (0 when the message is not split).
pub fn origin(message: &PushMessage, part: u64) -> MarkerOrigin {
    MarkerOrigin {
        subscription: message.subscription.clone(),
        event: event_of(message),
        part,
    }
}

/// The marker's document id: the lowercase hex SHA-256 of
///
/// ```text
/// "hermes-marker-v1\0"
/// u64 BE byte length of the subscription ‖ the subscription (UTF-8)
/// u8 source: 1 = hermes_event_id, 2 = messageId
/// u64 BE byte length of the identity ‖ the identity (UTF-8)
/// u64 BE part
/// ```
///
/// Every variable field is length-prefixed and the source is tagged, so the
/// encoding is injective: `("s", "a-1", 0)` and `("s", "a", 1)`, or an event id
/// that equals some other message's id, never meet.
pub fn marker_id(origin: &MarkerOrigin) -> DocumentId {
    let mut hash = Context::new(&SHA256);
    hash.update(DOMAIN);
    field(&mut hash, origin.subscription.as_bytes());
    let source: u8 = match origin.event {
        EventIdentity::EventId(_) => 1,
        EventIdentity::MessageId(_) => 2,
    };
    hash.update(&[source]);
    field(&mut hash, origin.event.as_str().as_bytes());
    hash.update(&origin.part.to_be_bytes());
    let digest = hash.finish();
    let mut bytes = [0u8; 32];
    // SHA-256 is 32 bytes: the zip copies all of it, without a length check that could panic.
    for (b, d) in bytes.iter_mut().zip(digest.as_ref()) {
        *b = *d;
    }
    DocumentId::from_digest(&bytes)
}

fn field(hash: &mut Context, bytes: &[u8]) {
    // usize → u64 is lossless on every target Rust supports.
    hash.update(&(bytes.len() as u64).to_be_bytes());
    hash.update(bytes);
}
