//! `hermes-counters`: serves the push endpoint on Cloud Run (`$PORT`) or AWS Lambda.

use hermes_core::config::Config;
use hermes_counters::preview::{self, TraceWriter};
use hermes_counters::{router, Counters, StartupError};
use hermes_gcp::firestore::FirestoreStore;
use hermes_runtime::Protection;
use std::process::ExitCode;
use std::sync::Arc;

async fn start() -> Result<(Counters, TraceWriter, Protection), StartupError> {
    let config = Config::from_env_without_hash_key()?;
    let protection = Protection::from_config(&config);
    let settings = Counters::settings_from(&config)?;
    let store =
        FirestoreStore::from_function_env(&settings.database, settings.commit_deadline).await?;
    tracing::info!(
        firestore = store.base_url(),
        shards = settings.shards,
        push_auth = settings.push.is_on(),
        "hermes-counters ready"
    );
    // The preview topic's pushes are written to the same database.
    let traces = TraceWriter::new(&settings, Arc::new(store.clone()));
    Ok((Counters::new(settings, Arc::new(store)), traces, protection))
}

#[tokio::main]
async fn main() -> ExitCode {
    hermes_runtime::logging::init();
    let (counters, traces, protection) = match start().await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hermes-counters: {}", hermes_core::error::Report(&e));
            return ExitCode::FAILURE;
        }
    };
    if !counters.settings.push.is_on() {
        tracing::warn!("counters.push_audience is not set: push requests are not authenticated");
    }
    let app = router(Arc::new(counters)).merge(preview::router(Arc::new(traces)));
    match hermes_runtime::run_protected(app, &protection).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hermes-counters: {}", hermes_core::error::Report(&e));
            ExitCode::FAILURE
        }
    }
}
