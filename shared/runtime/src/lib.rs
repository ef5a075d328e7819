//! `hermes-runtime`: running a function's `axum::Router` anywhere: under AWS Lambda through
//! `lambda_http` when `AWS_LAMBDA_RUNTIME_API` is set, else as an HTTP server on
//! `0.0.0.0:$PORT` (the Cloud Run contract), draining in-flight requests on SIGTERM.
//!
//! Every router it serves is guarded (`[limits]`, README "Limits and overload"):
//! the request bytes held at once are bounded ([`guard`]), bodies and headers
//! have deadlines, connections are capped ([`serve`]), and large work is kept
//! off the async workers ([`offload`]).

mod error;
pub mod guard;
pub mod logging;
pub mod offload;
mod protection;
pub mod refusal;
mod request_log;
mod run;
pub mod serve;
mod shutdown;

pub use error::RuntimeError;
pub use guard::{Overloaded, RequestBudget, Reservation};
pub use offload::{heavy_permit, offload, OFFLOAD_BYTES};
pub use protection::Protection;
pub use refusal::Refusal;
pub use request_log::{with_request_log, EventCount};
pub use run::{
    port_from_env, run, run_protected, serve, serve_protected, serve_until, DEFAULT_PORT,
    ENV_LAMBDA_RUNTIME_API, ENV_PORT,
};
pub use serve::SHUTDOWN_GRACE;
pub use shutdown::{shutdown_signal, shutdown_started};
