//! `hermes-enrich`: serves the push endpoint on Cloud Run (`$PORT`) or AWS Lambda.

use hermes_core::config::{Config, ConfigError};
use hermes_enrich::settings::Settings;
use hermes_enrich::{router, Enrich, StartupError};
use hermes_gcp::firestore::FirestoreStore;
use hermes_gcp::pubsub::PubSubRest;
use hermes_publish::Batcher;
use hermes_runtime::Protection;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Cloud Run allows 10 s between SIGTERM and SIGKILL: publishes still running
/// after the server stopped get what is left of 9 s from the signal.
const EXIT_BY: Duration = Duration::from_secs(9);

async fn start() -> Result<(Enrich, Protection), StartupError> {
    let config = Config::from_env_without_hash_key()?;
    let protection = Protection::from_config(&config);
    let settings = Settings::from_config(&config)?
        .ok_or_else(|| ConfigError::invalid("enrich", "the [enrich] section is required"))?;
    // Opened before anything else so that a bad file stops start-up at once.
    let place = Enrich::place_from_env(&settings)?;
    let store =
        FirestoreStore::from_function_env(&settings.database, settings.store_deadline).await?;
    let pubsub = PubSubRest::from_env(settings.publish_deadline).await?;
    tracing::info!(
        firestore = store.base_url(),
        pubsub = pubsub.base_url(),
        output_topic = %settings.output_topic,
        events = ?settings.events,
        lookups = settings.lookups.len(),
        push_auth = settings.push.is_on(),
        "hermes-enrich ready"
    );
    let batcher = Batcher::new(Arc::new(pubsub));
    Ok((
        Enrich::new(settings, Arc::new(store), place, batcher),
        protection,
    ))
}

#[tokio::main]
async fn main() -> ExitCode {
    hermes_runtime::logging::init();
    let (enrich, protection) = match start().await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("hermes-enrich: {}", hermes_core::error::Report(&e));
            return ExitCode::FAILURE;
        }
    };
    if !enrich.settings.push.is_on() {
        tracing::warn!("enrich.push_audience is not set: push requests are not authenticated");
    }
    let enrich = Arc::new(enrich);
    let served = hermes_runtime::run_protected(router(Arc::clone(&enrich)), &protection).await;
    let drain = hermes_runtime::shutdown_started()
        .map(|t| EXIT_BY.saturating_sub(t.elapsed()))
        .unwrap_or(EXIT_BY);
    if !enrich.drain(drain).await {
        tracing::warn!("shutting down with publishes still running");
    }
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hermes-enrich: {}", hermes_core::error::Report(&e));
            ExitCode::FAILURE
        }
    }
}
