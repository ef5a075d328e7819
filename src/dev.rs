//! `hermes dev`: the whole pipeline on one machine and one port — ingest at
//! `POST /`, the durable embedded queue and its delivery loop into the
//! counters logic, the SQLite counter store, and the dashboard at `/dashboard`.
//! With `PUBSUB_EMULATOR_HOST` / `FIRESTORE_EMULATOR_HOST` set, those emulators
//! replace the queue / the store.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hermes_core::auth::Tokens;
use hermes_core::config::{project_from_env, Config, ConfigError};
use hermes_core::firestore::FirestoreStore;
use hermes_core::gcp::AuthError;
use hermes_core::pubsub::queue::{Nacked, SqliteQueue};
use hermes_core::pubsub::{PubSubRest, Publisher};
use hermes_core::push::PushMessage;
use hermes_core::sqlite::{Db, OpenError, SqliteStore};
use hermes_core::store::CounterStore;
use hermes_counters::Counters;
use hermes_dashboard::Dashboard;
use hermes_ingest::Ingest;
use serde::Deserialize;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Used when neither `HERMES_CONFIG` nor `HERMES_CONFIG_TOML` is set: every
/// event carrying `items` is published whole and its items are counted.
pub const SAMPLE_CONFIG: &str = r#"
container_id = "hermes-dev"

[[destinations]]
name = "items-realtime"
topic = "items-realtime"
require = ["items"]
[destinations.attributes]
source = "hermes-dev"
"#;

const DEFAULT_PROJECT: &str = "hermes-dev";
const DEFAULT_DATABASE: &str = "hermes-data/hermes.db";

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("{0}")]
    Auth(#[from] AuthError),
    #[error("Pub/Sub emulator: {0}")]
    Emulator(String),
    #[error(transparent)]
    Runtime(#[from] hermes_core::runtime::RuntimeError),
    #[error("{0}")]
    Usage(String),
}

/// `[dev]`: settings of `hermes dev` only.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDev {
    database: Option<String>,
    push_topics: Option<Vec<String>>,
    retry_min_ms: Option<u64>,
    retry_max_ms: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct DevSettings {
    /// The SQLite file holding the queue and the counters.
    pub database: PathBuf,
    /// Topics delivered to the counters (full names).
    pub push_topics: Vec<String>,
    pub retry_min: Duration,
    pub retry_max: Duration,
}

impl DevSettings {
    fn parse(config: &Config, project: &str) -> Result<Self, ConfigError> {
        let raw: RawDev = hermes_core::config::parse_section("dev", &config.dev)?;
        let push_topics = match raw.push_topics {
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    hermes_core::config::topic_name(t, Some(project))
                        .map_err(|m| ConfigError::invalid(format!("dev.push_topics[{i}]"), m))
                })
                .collect::<Result<Vec<_>, _>>()?,
            // The topics whose messages carry items; all topics if none says so.
            None => {
                let with_items: Vec<String> = config
                    .destinations
                    .iter()
                    .filter(|d| d.require.iter().any(|p| p.as_str() == "items"))
                    .map(|d| d.topic.clone())
                    .collect();
                if with_items.is_empty() {
                    config.topics().into_iter().map(str::to_string).collect()
                } else {
                    with_items
                }
            }
        };
        let retry_min = Duration::from_millis(raw.retry_min_ms.unwrap_or(1000));
        let retry_max = Duration::from_millis(raw.retry_max_ms.unwrap_or(60_000));
        if retry_max < retry_min {
            return Err(ConfigError::invalid(
                "dev.retry_max_ms",
                "must be at least dev.retry_min_ms",
            ));
        }
        Ok(Self {
            database: PathBuf::from(raw.database.unwrap_or_else(|| DEFAULT_DATABASE.into())),
            push_topics,
            retry_min,
            retry_max,
        })
    }
}

/// Command-line options of `hermes dev`.
#[derive(Debug, Default)]
pub struct Options {
    pub port: Option<u16>,
    /// Interface to listen on; loopback unless asked, since dev has no auth by default.
    pub host: Option<std::net::IpAddr>,
    pub database: Option<PathBuf>,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Self, DevError> {
        let mut o = Options::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| DevError::Usage(format!("{name} needs a value")))
            };
            match arg.as_str() {
                "--port" => {
                    let v = value("--port")?;
                    o.port =
                        Some(v.parse().map_err(|_| {
                            DevError::Usage(format!("--port {v}: not a port number"))
                        })?);
                }
                "--db" => o.database = Some(PathBuf::from(value("--db")?)),
                "--host" => {
                    let v = value("--host")?;
                    o.host =
                        Some(v.parse().map_err(|_| {
                            DevError::Usage(format!("--host {v}: not an IP address"))
                        })?);
                }
                other => return Err(DevError::Usage(format!("unknown option {other}"))),
            }
        }
        Ok(o)
    }
}

struct DevState {
    queue: Option<SqliteQueue>,
    /// The embedded store, for `PUT /dev/catalog/{item_id}` (absent with a Firestore emulator).
    catalog: Option<SqliteStore>,
}

/// Runs `hermes dev` until Ctrl-C / SIGTERM.
pub async fn run(options: Options) -> Result<(), DevError> {
    let text = hermes_core::config::source_from_env()?;
    let using_sample = text.is_none();
    let project = project_from_env().unwrap_or_else(|| DEFAULT_PROJECT.into());
    let config = Config::parse(text.as_deref().unwrap_or(SAMPLE_CONFIG), Some(&project))?;
    let mut dev = DevSettings::parse(&config, &project)?;
    if let Some(db) = options.database {
        dev.database = db;
    }
    let port = match options.port {
        Some(p) => p,
        None => hermes_core::runtime::port_from_env()?,
    };
    let mut counters_settings = Counters::settings_from(&config)?;
    // In-process delivery needs no push token.
    counters_settings.push_audience = None;
    counters_settings.push_service_account = None;
    let dashboard_settings = Dashboard::settings_from(&config)?;
    let tokens = Tokens::from_env()?;

    let pubsub_emulator = std::env::var("PUBSUB_EMULATOR_HOST")
        .ok()
        .filter(|h| !h.is_empty());
    let firestore_emulator = std::env::var("FIRESTORE_EMULATOR_HOST")
        .ok()
        .filter(|h| !h.is_empty());
    let db = if pubsub_emulator.is_none() || firestore_emulator.is_none() {
        Some(Db::open(&dev.database)?)
    } else {
        None
    };

    let sqlite_store = match (&firestore_emulator, &db) {
        (None, Some(db)) => Some(SqliteStore::new(db.clone())),
        _ => None,
    };
    let store: Arc<dyn CounterStore> = match &sqlite_store {
        Some(s) => Arc::new(s.clone()),
        None => Arc::new(
            FirestoreStore::from_env(
                &project,
                &counters_settings.database,
                counters_settings.commit_deadline,
            )
            .await?,
        ),
    };
    let (publisher, queue): (Arc<dyn Publisher>, Option<SqliteQueue>) =
        match (&pubsub_emulator, &db) {
            (None, Some(db)) => {
                let q = SqliteQueue::new(
                    db.clone(),
                    dev.push_topics.clone(),
                    dev.retry_min,
                    dev.retry_max,
                );
                (Arc::new(q.clone()), Some(q))
            }
            _ => {
                let rest = PubSubRest::from_env(config.publish_deadline).await?;
                prepare_emulator(&rest, &config, &dev.push_topics, port).await?;
                (Arc::new(rest), None)
            }
        };

    let counters = Arc::new(Counters::new(counters_settings, store.clone()));
    let dashboard = Arc::new(Dashboard::new(store, dashboard_settings));
    let ingest = Arc::new(Ingest::new(config, tokens, publisher)?);
    let state = Arc::new(DevState {
        queue: queue.clone(),
        catalog: sqlite_store,
    });
    let router = hermes_ingest::router(ingest)
        .merge(hermes_dashboard::mount("/dashboard", dashboard.clone()))
        .nest("/counters", hermes_counters::router(counters.clone()))
        .merge(
            Router::new()
                .route("/dev/queue", get(queue_stats))
                .route("/dev/dead-letters", get(dead_letters))
                .route("/dev/catalog/{item_id}", axum::routing::put(put_catalog))
                .with_state(state),
        );
    let router = hermes_core::runtime::with_request_log(router);

    let host = options
        .host
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    let listener = tokio::net::TcpListener::bind((host, port))
        .await
        .map_err(|source| hermes_core::runtime::RuntimeError::Bind {
            addr: format!("{host}:{port}"),
            source,
        })?;
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    banner(
        port,
        &dev,
        using_sample,
        &pubsub_emulator,
        &firestore_emulator,
    );

    // Open event streams never end by themselves: close them on the signal, so
    // the graceful shutdown can finish.
    let closing = dashboard.clone();
    tokio::spawn(async move {
        hermes_core::runtime::shutdown_signal().await;
        closing.shutdown();
    });
    let (stop, stopped) = watch::channel(false);
    let delivery = queue.map(|q| tokio::spawn(deliver(q, counters, stopped)));
    let served = hermes_core::runtime::serve(listener, router).await;
    let _ = stop.send(true);
    if let Some(task) = delivery {
        let _ = task.await;
    }
    served?;
    Ok(())
}

fn banner(
    port: u16,
    dev: &DevSettings,
    sample: bool,
    pubsub: &Option<String>,
    firestore: &Option<String>,
) {
    let base = format!("http://localhost:{port}");
    println!("Hermes dev is running.");
    println!();
    println!("  ingest      POST {base}/");
    println!("  dashboard   {base}/dashboard");
    println!("  health      {base}/healthz");
    println!("  queue       {base}/dev/queue   dead letters: {base}/dev/dead-letters");
    match pubsub {
        Some(h) => println!("  queue       Pub/Sub emulator at {h}"),
        None => println!("  storage     {}", dev.database.display()),
    }
    if let Some(h) = firestore {
        println!("  counters    Firestore emulator at {h}");
    }
    if sample {
        println!("  config      built-in sample (set HERMES_CONFIG to use yours)");
    }
    println!();
    println!("Send a purchase:");
    println!();
    println!(
        "  curl -X POST {base}/ -H 'Content-Type: application/json' -d '[{{\"event_name\":\"purchase\",\"currency\":\"DKK\",\"items\":[{{\"item_id\":\"123\",\"item_name\":\"Blazer\",\"item_category\":\"Jackets\",\"price\":150,\"quantity\":1}},{{\"item_id\":\"456\",\"item_name\":\"T-Shirt\",\"item_category\":\"Shirts\",\"price\":30,\"quantity\":2}}]}}]'"
    );
    println!();
    println!("Press Ctrl-C to stop.");
}

/// Pushes due messages to the counters logic with Pub/Sub's rules: success
/// acks; any error retries with backoff; the 5th failure dead-letters.
async fn deliver(queue: SqliteQueue, counters: Arc<Counters>, mut stop: watch::Receiver<bool>) {
    let notify = queue.notified();
    loop {
        if *stop.borrow() {
            return;
        }
        let due = match queue.due(64).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "queue read failed");
                Vec::new()
            }
        };
        let full = due.len() == 64;
        for message in due {
            if *stop.borrow() {
                return;
            }
            let push = PushMessage {
                message_id: message.message_id(),
                data: message.data.clone(),
                attributes: message.attributes.clone(),
                publish_time: Some(message.publish_time.clone()),
                subscription: format!("{}-counters", message.topic),
                delivery_attempt: Some(message.attempts + 1),
            };
            let result = match counters.count(&push).await {
                Ok(_) => queue.ack(message.seq).await,
                Err(e) => match queue.nack(&message, &e.to_string()).await {
                    Ok(Nacked::DeadLettered) => {
                        tracing::warn!(message_id = %push.message_id, error = %e, "message dead-lettered after 5 attempts: see /dev/dead-letters");
                        Ok(())
                    }
                    Ok(Nacked::RetryIn(after)) => {
                        tracing::info!(message_id = %push.message_id, error = %e, retry_in_ms = after.as_millis() as u64, "delivery failed, will retry");
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = result {
                tracing::error!(error = %e, "queue update failed");
            }
        }
        if full {
            continue;
        }
        let wait = match queue.next_due_in().await {
            Ok(Some(d)) => d.min(Duration::from_secs(5)),
            _ => Duration::from_secs(5),
        };
        tokio::select! {
            _ = notify.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
    }
}

/// With a Pub/Sub emulator: make sure the topics exist and the counted ones push to us.
async fn prepare_emulator(
    rest: &PubSubRest,
    config: &Config,
    push_topics: &[String],
    port: u16,
) -> Result<(), DevError> {
    let http = reqwest::Client::new();
    let base = rest.base_url();
    for topic in config.topics() {
        let resp = http
            .put(format!("{base}/v1/{topic}"))
            .json(&json!({}))
            .send()
            .await
            .map_err(|e| DevError::Emulator(e.to_string()))?;
        if !(resp.status().is_success() || resp.status() == StatusCode::CONFLICT) {
            return Err(DevError::Emulator(format!(
                "creating {topic}: HTTP {}",
                resp.status()
            )));
        }
    }
    for topic in push_topics {
        let name = format!(
            "{}-hermes-dev-counters",
            topic.replace("/topics/", "/subscriptions/")
        );
        let resp = http
            .put(format!("{base}/v1/{name}"))
            .json(&json!({
                "name": name,
                "topic": topic,
                "pushConfig": { "pushEndpoint": format!("http://127.0.0.1:{port}/counters") },
            }))
            .send()
            .await
            .map_err(|e| DevError::Emulator(e.to_string()))?;
        if !(resp.status().is_success() || resp.status() == StatusCode::CONFLICT) {
            return Err(DevError::Emulator(format!(
                "creating {name}: HTTP {}",
                resp.status()
            )));
        }
    }
    Ok(())
}

async fn queue_stats(State(state): State<Arc<DevState>>) -> Response {
    match &state.queue {
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no embedded queue: a Pub/Sub emulator is in use"})),
        )
            .into_response(),
        Some(q) => match q.stats().await {
            Ok(s) => Json(s).into_response(),
            Err(e) => {
                (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": e}))).into_response()
            }
        },
    }
}

async fn dead_letters(State(state): State<Arc<DevState>>) -> Response {
    match &state.queue {
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no embedded queue: a Pub/Sub emulator is in use"})),
        )
            .into_response(),
        Some(q) => match q.dead_letters().await {
            Ok(d) => Json(json!({ "deadLetters": d })).into_response(),
            Err(e) => {
                (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": e}))).into_response()
            }
        },
    }
}

/// `PUT /dev/catalog/{item_id}` with a JSON object (`{"cost": 12.5, "brand": "Acme"}`):
/// the dev stand-in for a Firestore `catalog/{item_id}` document.
async fn put_catalog(
    State(state): State<Arc<DevState>>,
    axum::extract::Path(item_id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(store) = &state.catalog else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "the catalog lives in the Firestore emulator"})),
        )
            .into_response();
    };
    let fields = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Object(fields)) => fields,
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "send a JSON object of catalog fields"})),
            )
                .into_response()
        }
    };
    if !hermes_core::store::valid_document_id(&item_id) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "not a valid item id"})),
        )
            .into_response();
    }
    match store.put_catalog(&item_id, fields).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}
