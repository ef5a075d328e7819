//! Destinations ("tags"), each in one place: its settings (`settings`), its
//! trigger (`trigger`), its encoding (`encode`), and the wire shape of the
//! kind it publishes to, a Pub/Sub topic (`topic`, `message`), behind the
//! [`Publisher`] seam (`publisher`). A second kind of destination is a new
//! file here beside `topic` and `message`, and a backend of [`Publisher`].

mod encode;
mod message;
mod publisher;
mod settings;
mod topic;
mod trigger;

pub use encode::{
    Conversion, EncodeError, MappingRow, Marks, ATTR_BACKFILL, ATTR_EVENT_ID, ATTR_EVENT_NAME,
    ATTR_PREVIEW,
};
pub use message::{
    LimitExceeded, Message, MAX_ATTRIBUTES, MAX_ATTRIBUTE_KEY_BYTES, MAX_ATTRIBUTE_VALUE_BYTES,
    MAX_BATCH_MESSAGES, MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES,
};
pub use publisher::{BackendError, PublishError, Publisher};
pub(crate) use settings::{parse, RawDestination};
pub use topic::{check_project_id, check_resource_id, TopicName, TopicNameError};
pub use trigger::Trigger;

use crate::field_path::FieldPath;
use crate::transform::Transform;

/// A destination: a Pub/Sub topic and the rules that put events on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    pub name: String,
    pub id: String,
    pub topic: TopicName,
    /// Trigger: `event_name` in this list (empty: every event).
    pub events: Vec<String>,
    /// Trigger: these paths present and not null.
    pub require: Vec<FieldPath>,
    /// The key/value table; `None`: the whole event is the payload.
    pub mapping: Option<Vec<MappingRow>>,
    /// Static attributes, validated against Pub/Sub's limits at start-up.
    pub attributes: Vec<(String, String)>,
    /// Trigger: the event's `consent` grants all of these (`"GRANTED"`).
    pub require_consent: Vec<String>,
    /// Personal-data transforms, applied before encoding; `None`: none at all.
    pub transform: Option<Transform>,
}

#[cfg(test)]
pub(crate) mod for_tests {
    use super::Destination;

    pub fn destination(toml: &str) -> Destination {
        let text =
            format!("[[destinations]]\nname = \"d\"\ntopic = \"projects/p/topics/dest\"\n{toml}");
        crate::config::Config::parse_with_hash_key(&text, None, None)
            .unwrap()
            .destinations
            .remove(0)
    }
}
