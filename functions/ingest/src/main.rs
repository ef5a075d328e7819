//! `hermes-ingest`: serves the ingest router on Cloud Run (`$PORT`) or AWS Lambda.

use hermes_ingest::{router, Ingest};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Cloud Run allows 10 s between SIGTERM and SIGKILL: publishes still running
/// after the server stopped get most of it.
const DRAIN: Duration = Duration::from_secs(8);

#[tokio::main]
async fn main() -> ExitCode {
    hermes_core::logging::init();
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
    let served = hermes_core::runtime::run(router(Arc::new(ingest))).await;
    if !publishing.drain(DRAIN).await {
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
