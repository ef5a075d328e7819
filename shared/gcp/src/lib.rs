//! Reaching Google Cloud's REST APIs: where to ([`Endpoint`]), with which
//! credentials ([`Auth`]), and one [`Transport`] that sends a request with a
//! deadline, retries what Google asks clients to retry, and answers with a
//! typed [`CallError`] whose [`ErrorClass`] tells the caller what to do next.
//! The Pub/Sub publisher ([`pubsub`]) and subscriber calls ([`subscription`]) and the Firestore backends of
//! hermes-core's storage seams ([`firestore`]) are both built on it.

mod api_error;
mod auth;
mod client;
mod endpoint;
pub mod firestore;
pub mod pubsub;
mod retry;
mod startup;
pub mod subscription;
mod transport;

pub use api_error::{ApiError, ErrorClass};
pub use auth::{Auth, AuthError, GoogleTokens, ENV_CREDENTIALS, SCOPE_CLOUD_PLATFORM};
pub use client::http_client;
pub use endpoint::{Endpoint, EndpointVars};
pub use hermes_core::config::{project_from_env, ENV_PROJECT};
pub use retry::Backoff;
pub use startup::StartupError;
pub use transport::{AttemptError, CallError, Deadline, Transport};
