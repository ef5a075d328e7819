//! Publishing messages: the [`Publisher`] seam and its Google backend, Pub/Sub
//! over REST (`rest`), and the [`Batcher`] that shares calls between requests
//! over any of them. `hermes dev` adds an embedded queue of its own.

pub mod batcher;
mod message;
pub mod rest;
mod topic;

use crate::future::BoxFuture;
use crate::gcp::CallError;

pub use batcher::{Batcher, BatcherLimits, QueueFull};
pub use message::{
    LimitExceeded, Message, MAX_ATTRIBUTES, MAX_ATTRIBUTE_KEY_BYTES, MAX_ATTRIBUTE_VALUE_BYTES,
    MAX_BATCH_MESSAGES, MAX_REQUEST_BYTES,
};
pub use rest::PubSubRest;
pub use topic::{TopicName, TopicNameError};

/// A boxed error of another publisher backend, source kept.
pub type BackendError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("Pub/Sub publish")]
    Call(#[from] CallError),
    #[error("unexpected publish response: {got} message ids for {expected} messages")]
    IdCount { got: usize, expected: usize },
    #[error("unexpected publish response")]
    Decode(#[source] serde_json::Error),
    #[error("no publish URL for {0}")]
    Url(TopicName),
    #[error("publisher")]
    Backend(#[source] BackendError),
}

/// Publishes one batch (≤ 1,000 messages, ≤ 10 MB) to one topic; returns the
/// message ids in message order. Retries are the implementation's business.
pub trait Publisher: Send + Sync + 'static {
    fn publish<'a>(
        &'a self,
        topic: &'a TopicName,
        messages: &'a [Message],
    ) -> BoxFuture<'a, Result<Vec<String>, PublishError>>;
}
