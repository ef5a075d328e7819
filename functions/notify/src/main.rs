//! `hermes-notify`: serves the push endpoint on Cloud Run (`$PORT`) or AWS Lambda.

use hermes_core::config::{Config, ConfigError};
use hermes_core::store::NOTIFIED_COLLECTION;
use hermes_gcp::firestore::{FirestoreMarkers, FirestoreStore};
use hermes_notify::{router, Notify, StartupError};
use hermes_runtime::Protection;
use std::process::ExitCode;
use std::sync::Arc;

async fn start() -> Result<(Notify, Protection), StartupError> {
    let config = Config::from_env_without_hash_key()?;
    let protection = Protection::from_config(&config);
    let settings = Notify::settings_from(&config)?
        .ok_or_else(|| ConfigError::invalid("notify", "the [notify] section is required"))?;
    let url = Notify::url_from_env(&settings)?;
    let store =
        FirestoreStore::from_function_env(&settings.database, settings.store_deadline).await?;
    tracing::info!(
        firestore = store.base_url(),
        events = ?settings.events,
        push_auth = settings.push.is_on(),
        "hermes-notify ready"
    );
    let markers = FirestoreMarkers::new(store, NOTIFIED_COLLECTION);
    Ok((Notify::new(settings, url, Arc::new(markers)), protection))
}

#[tokio::main]
async fn main() -> ExitCode {
    hermes_runtime::logging::init();
    let (notify, protection) = match start().await {
        Ok(n) => n,
        Err(e) => {
            eprintln!("hermes-notify: {}", hermes_core::error::Report(&e));
            return ExitCode::FAILURE;
        }
    };
    if !notify.settings.push.is_on() {
        tracing::warn!("notify.push_audience is not set: push requests are not authenticated");
    }
    match hermes_runtime::run_protected(router(Arc::new(notify)), &protection).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hermes-notify: {}", hermes_core::error::Report(&e));
            ExitCode::FAILURE
        }
    }
}
