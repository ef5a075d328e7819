//! Running a function's `axum::Router` anywhere: under AWS Lambda through
//! `lambda_http` when `AWS_LAMBDA_RUNTIME_API` is set, else as an HTTP server on
//! `0.0.0.0:$PORT` (the Cloud Run contract), draining in-flight requests on SIGTERM.
//!
//! Every router it serves is guarded (`[limits]`, README "Limits and overload"):
//! the request bytes held at once are bounded ([`guard`]), bodies and headers
//! have deadlines, connections are capped ([`serve`]), and large work is kept
//! off the async workers ([`offload`]).

pub mod guard;
pub mod offload;
pub mod refusal;
pub mod serve;

use crate::config::Config;
use crate::limits::Limits;
use crate::logging::{trace_resource, TRACE_FIELD};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tracing::Instrument;

pub use guard::{Overloaded, RequestBudget, Reservation};
pub use offload::{heavy_permit, offload, OFFLOAD_BYTES};
pub use refusal::Refusal;
pub use serve::SHUTDOWN_GRACE;

pub const ENV_LAMBDA_RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";
pub const ENV_PORT: &str = "PORT";
pub const DEFAULT_PORT: u16 = 8080;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("invalid PORT \"{0}\": expected a number from 0 to 65535")]
    Port(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(std::io::Error),
    #[error("Lambda runtime error: {0}")]
    Lambda(String),
}

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
        .and_then(|h| trace_resource(crate::gcp::project_from_env().as_deref(), h));
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

/// The port from `$PORT` (default 8080).
pub fn port_from_env() -> Result<u16, RuntimeError> {
    match std::env::var(ENV_PORT) {
        Ok(p) if !p.trim().is_empty() => p.trim().parse().map_err(|_| RuntimeError::Port(p)),
        _ => Ok(DEFAULT_PORT),
    }
}

/// The protections of `[limits]` for one function: the budget of request
/// bytes, the deadlines, the connection cap, and the wording of refusals.
#[derive(Debug, Clone)]
pub struct Protection {
    pub limits: Limits,
    pub refusal: Refusal,
    inflight: Arc<guard::Inflight>,
}

impl Default for Protection {
    fn default() -> Self {
        Self::new(Limits::default(), Refusal::default())
    }
}

impl Protection {
    pub fn new(limits: Limits, refusal: Refusal) -> Self {
        Self {
            inflight: Arc::new(guard::Inflight::new(limits.max_inflight_bytes)),
            limits,
            refusal,
        }
    }

    /// `[limits]` and `container_id` of the configuration.
    pub fn from_config(config: &Config) -> Self {
        Self::new(
            config.limits,
            Refusal {
                container_id: config.container_id.clone(),
            },
        )
    }

    /// Request bytes held right now by the requests of this protection.
    pub fn inflight_bytes(&self) -> usize {
        self.inflight.used()
    }

    /// Adds the request guard (inflight bytes, body deadline) to a router.
    pub fn guard(&self, router: Router) -> Router {
        let guard = Arc::new(guard::Guard {
            inflight: Arc::clone(&self.inflight),
            body_timeout: self.limits.body_timeout,
            refusal: self.refusal.clone(),
        });
        router.layer(axum::middleware::from_fn_with_state(guard, guard::guard))
    }

    fn conn_limits(&self) -> serve::ConnLimits {
        serve::ConnLimits {
            header_timeout: self.limits.header_timeout,
            max_connections: self.limits.max_connections,
            refusal: self.refusal.clone(),
        }
    }
}

/// Serves `router` under Lambda or as an HTTP server, with the default limits.
pub async fn run(router: Router) -> Result<(), RuntimeError> {
    run_protected(router, &Protection::default()).await
}

/// Serves `router` under Lambda or as an HTTP server, whichever the environment
/// asks for, with the request log and `protection`.
pub async fn run_protected(router: Router, protection: &Protection) -> Result<(), RuntimeError> {
    if std::env::var_os(ENV_LAMBDA_RUNTIME_API).is_some() {
        let router = with_request_log(protection.guard(router));
        check_lambda_env()?;
        tracing::info!("starting under the AWS Lambda runtime");
        return lambda_http::run(router)
            .await
            .map_err(|e| RuntimeError::Lambda(e.to_string()));
    }
    let port = port_from_env()?;
    let addr = format!("0.0.0.0:{port}");
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| RuntimeError::Bind {
            addr: addr.clone(),
            source,
        })?;
    serve_protected(listener, router, protection).await
}

/// `lambda_runtime` panics when these are missing; Lambda always sets them, a
/// hand-started runtime may not: say so plainly instead.
fn check_lambda_env() -> Result<(), RuntimeError> {
    for var in [
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    ] {
        if std::env::var_os(var).is_none() {
            return Err(RuntimeError::Lambda(format!(
                "{ENV_LAMBDA_RUNTIME_API} is set but {var} is not"
            )));
        }
    }
    let memory = std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").unwrap_or_default();
    if memory.parse::<i32>().is_err() {
        return Err(RuntimeError::Lambda(format!(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE \"{memory}\" is not a number"
        )));
    }
    Ok(())
}

/// Serves on a bound listener until SIGTERM / Ctrl-C with the default limits
/// (no request log), then finishes in-flight requests.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> Result<(), RuntimeError> {
    let protection = Protection::default();
    serve_until(
        listener,
        protection.guard(router),
        &protection,
        shutdown_signal(),
    )
    .await
}

/// Serves on a bound listener with the request log and `protection` until
/// SIGTERM / Ctrl-C, then answers the requests already received and stops
/// within [`SHUTDOWN_GRACE`].
pub async fn serve_protected(
    listener: tokio::net::TcpListener,
    router: Router,
    protection: &Protection,
) -> Result<(), RuntimeError> {
    let router = with_request_log(protection.guard(router));
    serve_until(listener, router, protection, shutdown_signal()).await
}

/// [`serve_protected`] without the request log, until `shutdown` resolves
/// (tests stop a server this way).
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    router: Router,
    protection: &Protection,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), RuntimeError> {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(addr = %addr, "listening");
    serve::serve_connections(listener, router, protection.conn_limits(), shutdown).await?;
    tracing::info!("stopped: in-flight requests finished");
    Ok(())
}

/// When the shutdown signal arrived, if it has.
pub fn shutdown_started() -> Option<Instant> {
    SHUTDOWN_AT.get().copied()
}

static SHUTDOWN_AT: OnceLock<Instant> = OnceLock::new();

/// Resolves on SIGTERM (Cloud Run's stop signal) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    SHUTDOWN_AT.get_or_init(Instant::now);
    tracing::info!("shutdown signal received: draining in-flight requests");
}
