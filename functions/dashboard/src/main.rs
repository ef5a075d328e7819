//! `hermes-dashboard`: serves the live page over Firestore's counters on Cloud
//! Run (`$PORT`) or AWS Lambda (where the event stream is buffered: use Cloud
//! Run, or the page's polling fallback, for live updates).

use hermes_core::config::Config;
use hermes_dashboard::{router, Dashboard, StartupError};
use hermes_gcp::firestore::FirestoreStore;
use hermes_runtime::Protection;
use std::process::ExitCode;
use std::sync::Arc;

async fn start() -> Result<(Dashboard, Protection), StartupError> {
    let config = Config::from_env_without_hash_key()?;
    let protection = Protection::from_config(&config);
    let settings = Dashboard::settings_from(&config)?;
    let store =
        FirestoreStore::from_function_env(&settings.database, settings.read_deadline).await?;
    tracing::info!(
        firestore = store.base_url(),
        database = %settings.database,
        poll_interval_ms = settings.poll_interval.as_millis() as u64,
        "hermes-dashboard ready"
    );
    let ttl = config.preview.ttl;
    let dashboard =
        Dashboard::new(Arc::new(store.clone()), settings).with_preview(Arc::new(store), ttl);
    Ok((dashboard, protection))
}

#[tokio::main]
async fn main() -> ExitCode {
    hermes_runtime::logging::init();
    let (dashboard, protection) = match start().await {
        Ok((d, p)) => (Arc::new(d), p),
        Err(e) => {
            eprintln!("hermes-dashboard: {}", hermes_core::error::Report(&e));
            return ExitCode::FAILURE;
        }
    };
    // Open event streams never finish by themselves: end them on SIGTERM so the
    // server's graceful shutdown can complete.
    let closing = Arc::clone(&dashboard);
    tokio::spawn(async move {
        hermes_runtime::shutdown_signal().await;
        closing.shutdown();
    });
    match hermes_runtime::run_protected(router(dashboard), &protection).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hermes-dashboard: {}", hermes_core::error::Report(&e));
            ExitCode::FAILURE
        }
    }
}
