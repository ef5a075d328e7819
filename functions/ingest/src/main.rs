//! `hermes-ingest`: serves the ingest router on Cloud Run (`$PORT`) or AWS Lambda.

use hermes_ingest::{router, Ingest};
use std::process::ExitCode;
use std::sync::Arc;

#[tokio::main]
async fn main() -> ExitCode {
    hermes_core::logging::init();
    let ingest = match Ingest::from_env().await {
        Ok(i) => i,
        Err(e) => {
            eprintln!("hermes-ingest: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        destinations = ingest.config.destinations.len(),
        topics = ingest.config.topics().len(),
        "hermes-ingest ready"
    );
    match hermes_core::runtime::run(router(Arc::new(ingest))).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hermes-ingest: {e}");
            ExitCode::FAILURE
        }
    }
}
