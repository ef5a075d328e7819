//! The [`Publisher`] seam: where a destination's messages go. Its backends
//! are Pub/Sub over REST (`hermes-gcp`) and `hermes dev`'s embedded queue;
//! ingest's batcher shares calls between requests over any of them.

use super::message::Message;
use super::topic::TopicName;
use crate::future::BoxFuture;

/// A backend's own error, source kept.
pub type BackendError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The backend refused the call for good (a bad request, a refused
    /// permission): the same call would fail again.
    #[error("{backend} refused the publish")]
    Refused {
        backend: &'static str,
        #[source]
        source: BackendError,
    },
    /// The call failed in a way a later call may not (unreachable, overloaded,
    /// past its deadline).
    #[error("{backend} publish")]
    Failed {
        backend: &'static str,
        #[source]
        source: BackendError,
    },
    #[error("unexpected publish response: {got} message ids for {expected} messages")]
    IdCount { got: usize, expected: usize },
}

impl PublishError {
    /// Whether the same call would fail again: worth resending per request.
    pub fn is_refused(&self) -> bool {
        matches!(self, Self::Refused { .. })
    }
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
