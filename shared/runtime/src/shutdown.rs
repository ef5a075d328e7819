//! SIGTERM (Cloud Run's stop signal) or Ctrl-C, and when it came.

use std::sync::OnceLock;
use std::time::Instant;

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
