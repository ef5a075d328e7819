//! The exactly-once marker of a message (or of one part of a split message).
//! Its identity is the event's, not the delivery's (README, "The counters
//! function"): the subscription, the event's `hermes_event_id` (or, without
//! one, the message id), and the part. Its document id is a SHA-256 of an
//! unambiguous encoding of those, so any identity gives a valid id and no two
//! identities share one.

// The identity and its hashing are the push-job kit's (`hermes_core::push`),
// shared with every job that keeps markers; re-exported here for counters' callers.
pub use hermes_core::push::{event_of, marker_id, origin};
#[cfg(test)]
use hermes_core::{
    hermes::ATTR_EVENT_ID,
    push::PushMessage,
    store::{DocumentId, EventIdentity, MarkerOrigin},
};

#[cfg(test)]
mod tests {
    use super::*;
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
