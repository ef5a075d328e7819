//! Reaching Google Cloud's REST APIs: where to ([`Endpoint`]), with which
//! credentials ([`Auth`]), and one [`Transport`] that sends a request with a
//! deadline, retries what Google asks clients to retry, and answers with a
//! typed [`CallError`] whose [`ErrorClass`] tells the caller what to do next.
//! The Pub/Sub and Firestore clients are both built on it.

mod api_error;
mod auth;
mod endpoint;
mod project;
mod retry;
mod transport;

pub use api_error::{ApiError, ErrorClass};
pub use auth::{Auth, AuthError, SCOPE_CLOUD_PLATFORM};
pub use endpoint::Endpoint;
pub use project::{project_from_env, ENV_PROJECT};
pub use retry::Backoff;
pub use transport::{http_client, AttemptError, CallError, Deadline, Transport};
