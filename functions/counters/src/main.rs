//! `hermes-counters`: serves the push endpoint on Cloud Run (`$PORT`) or AWS Lambda.

use hermes_core::config::Config;
use hermes_core::firestore::FirestoreStore;
use hermes_core::runtime::Protection;
use hermes_counters::{router, Counters, StartupError};
use std::process::ExitCode;
use std::sync::Arc;

async fn start() -> Result<(Counters, Protection), StartupError> {
    let config = Config::from_env()?;
    let protection = Protection::from_config(&config);
    let settings = Counters::settings_from(&config)?;
    let store =
        FirestoreStore::from_function_env(&settings.database, settings.commit_deadline).await?;
    tracing::info!(
        firestore = store.base_url(),
        shards = settings.shards,
        push_auth = settings.push_audience.is_some(),
        "hermes-counters ready"
    );
    Ok((Counters::new(settings, Arc::new(store)), protection))
}

#[tokio::main]
async fn main() -> ExitCode {
    hermes_core::logging::init();
    let (counters, protection) = match start().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hermes-counters: {}", hermes_core::error::Report(&e));
            return ExitCode::FAILURE;
        }
    };
    if counters.settings.push_audience.is_none() {
        tracing::warn!("counters.push_audience is not set: push requests are not authenticated");
    }
    match hermes_core::runtime::run_protected(router(Arc::new(counters)), &protection).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hermes-counters: {}", hermes_core::error::Report(&e));
            ExitCode::FAILURE
        }
    }
}
