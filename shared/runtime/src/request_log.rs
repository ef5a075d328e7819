//! One log line per request: method, path, status, latency, the event count
//! a handler reports ([`EventCount`]) and Cloud Trace's trace id.

use crate::logging::{trace_resource, TRACE_FIELD};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use std::time::Instant;
use tracing::Instrument;

/// Set on a response by a handler so that the request log line carries the event count.
#[derive(Debug, Clone, Copy)]
pub struct EventCount(pub usize);

/// Adds the request log line (status, latency, event count, trace) to a router.
pub fn with_request_log(router: Router) -> Router {
    router.layer(axum::middleware::from_fn(log_request))
}

async fn log_request(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let trace = req
        .headers()
        .get("x-cloud-trace-context")
        .and_then(|v| v.to_str().ok())
        .and_then(|h| trace_resource(hermes_core::config::project_from_env().as_deref(), h));
    let span = match &trace {
        Some(t) => tracing::info_span!("request", "logging.googleapis.com/trace" = %t),
        None => tracing::info_span!("request"),
    };
    debug_assert_eq!(TRACE_FIELD, "logging.googleapis.com/trace");
    let response = next.run(req).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let events = response.extensions().get::<EventCount>().map(|c| c.0);
    let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        let message = format!("{method} {path} {status}");
        match events {
            Some(n) => tracing::info!(status, events = n, latency_ms, method = %method, path = %path, "{message}"),
            None => tracing::info!(status, latency_ms, method = %method, path = %path, "{message}"),
        }
    });
    response
}
