//! Event identity and the marker id derived from it. A marker's identity is
//! the event's, not the delivery's (README, "The counters function"): the
//! subscription, the event's `hermes_event_id` (or, without one, the message
//! id), and a part number. Its document id is a SHA-256 of an unambiguous
//! encoding of those, so any identity gives a valid id and no two identities
//! share one.

use crate::envelope::PushMessage;
use aws_lc_rs::digest::{Context, SHA256};
use hermes_core::destination::ATTR_EVENT_ID;
use hermes_core::store::{DocumentId, EventIdentity, MarkerOrigin};

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

#[cfg(test)]
mod tests {
    use super::*;
    use hermes_core::store::{DocumentId, EventIdentity, MarkerOrigin};
    use std::collections::{HashMap, HashSet};

    const SUB: &str = "projects/p/subscriptions/s";

    fn at(subscription: &str, event: EventIdentity, part: u64) -> DocumentId {
        marker_id(&MarkerOrigin {
            subscription: subscription.into(),
            event,
            part,
        })
    }

    fn ev(id: &str) -> EventIdentity {
        EventIdentity::EventId(id.into())
    }

    fn msg(id: &str) -> EventIdentity {
        EventIdentity::MessageId(id.into())
    }

    #[test]
    fn the_same_inputs_give_the_same_id() {
        assert_eq!(at(SUB, ev("e-1"), 0), at(SUB, ev("e-1"), 0));
        assert_eq!(at(SUB, msg("42"), 3), at(SUB, msg("42"), 3));
    }

    #[test]
    fn a_known_vector() {
        // Pins the encoding (computed independently): changing it would count
        // every redelivery in flight at a deploy once more.
        assert_eq!(
            at(SUB, ev("e-1"), 0).as_str(),
            "022fd4d3cc08a1194bebe5d0892310da99d7c020c071c62e25825e401ff3220a"
        );
    }

    #[test]
    fn every_field_changes_the_id() {
        let base = at(SUB, ev("e-1"), 0);
        assert_ne!(base, at("projects/p/subscriptions/t", ev("e-1"), 0));
        assert_ne!(base, at(SUB, ev("e-2"), 0));
        assert_ne!(base, at(SUB, ev("e-1"), 1));
        // An event id equal to some message's id is still another event.
        assert_ne!(base, at(SUB, msg("e-1"), 0));
    }

    #[test]
    fn field_boundaries_cannot_be_shifted() {
        let ids: Vec<DocumentId> = vec![
            at("s", ev("a-1"), 0),
            at("s", ev("a"), 1),
            at("s", ev("a-0"), 0),
            at("s", ev("a"), 0),
            at("sa", ev(""), 0),
            at("s", ev("as"), 0),
            at("", ev("sa"), 0),
            at("s\0", ev("a"), 0),
            at("s", ev("\0a"), 0),
        ];
        let distinct: HashSet<&DocumentId> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "{ids:?}");
    }

    #[test]
    fn any_identity_gives_a_valid_document_id() {
        for id in [
            "a/b",
            "__x__",
            ".",
            "..",
            "",
            &"é".repeat(1000),
            &"x".repeat(2000),
        ] {
            for event in [ev(id), msg(id)] {
                let marker = at(id, event, u64::MAX);
                assert_eq!(marker.as_str().len(), 64);
                assert!(marker.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
                assert_eq!(DocumentId::parse(marker.as_str()).as_ref(), Ok(&marker));
            }
        }
    }

    fn push(message_id: &str, attributes: &[(&str, &str)]) -> PushMessage {
        PushMessage {
            message_id: message_id.into(),
            data: Vec::new(),
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
            publish_time: None,
            subscription: SUB.into(),
            delivery_attempt: None,
        }
    }

    #[test]
    fn the_event_id_attribute_wins_over_the_message_id() {
        let a = push("1", &[(ATTR_EVENT_ID, "e-1")]);
        let b = push("2", &[(ATTR_EVENT_ID, "e-1")]);
        assert_eq!(event_of(&a), ev("e-1"));
        assert_eq!(marker_id(&origin(&a, 0)), marker_id(&origin(&b, 0)));
        assert_eq!(event_of(&push("3", &[])), msg("3"));
        // An empty attribute is no identity: the message id stands in.
        assert_eq!(event_of(&push("4", &[(ATTR_EVENT_ID, "")])), msg("4"));
    }
}
