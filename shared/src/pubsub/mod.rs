//! Publishing messages: the [`Publisher`] seam and its backends.
//! `rest` is Google Cloud Pub/Sub over REST (or its emulator).

pub mod queue;
pub mod rest;

use crate::hermes::Message;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use rest::PubSubRest;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum PublishError {
    #[error("Pub/Sub answered HTTP {status}: {message}")]
    Status { status: u16, message: String },
    #[error("Pub/Sub could not be reached: {0}")]
    Transport(String),
    #[error("publish deadline of {}ms passed{}", .0.as_millis(), .1.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default())]
    Deadline(Duration, Option<Box<PublishError>>),
    #[error("{0}")]
    Auth(#[from] crate::gcp::AuthError),
    #[error("unexpected publish response: {0}")]
    Response(String),
    #[error("{0}")]
    Queue(String),
}

/// Publishes one batch (≤ 1,000 messages, ≤ 10 MB) to one topic; returns the
/// message ids in message order. Retries are the implementation's business.
pub trait Publisher: Send + Sync + 'static {
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        messages: &'a [Message],
    ) -> BoxFuture<'a, Result<Vec<String>, PublishError>>;
}
