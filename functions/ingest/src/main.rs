//! `hermes-ingest`: serves the ingest router on Cloud Run (`$PORT`) or AWS Lambda.

use hermes_ingest::{router, Ingest};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Cloud Run allows 10 s between SIGTERM and SIGKILL: publishes still running
/// after the server stopped get what is left of 9 s from the signal (the
/// server itself takes at most hermes_runtime::SHUTDOWN_GRACE).
const EXIT_BY: Duration = Duration::from_secs(9);

#[tokio::main]
async fn main() -> ExitCode {
    hermes_runtime::logging::init();
    let ingest = match Ingest::from_env().await {
        Ok(i) => i,
        Err(e) => {
            eprintln!("hermes-ingest: {}", hermes_core::error::Report(&e));
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        destinations = ingest.config.destinations.len(),
        topics = ingest.config.topics().len(),
        "hermes-ingest ready"
    );
    let publishing = ingest.publishing.clone();
    let protection = hermes_runtime::Protection::from_config(&ingest.config);
    let served = hermes_runtime::run_protected(router(Arc::new(ingest)), &protection).await;
    let drain = hermes_runtime::shutdown_started()
        .map(|t| EXIT_BY.saturating_sub(t.elapsed()))
        .unwrap_or(EXIT_BY);
    if !publishing.drain(drain).await {
        tracing::warn!("shutting down with publishes still running");
    }
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hermes-ingest: {}", hermes_core::error::Report(&e));
            ExitCode::FAILURE
        }
    }
}
