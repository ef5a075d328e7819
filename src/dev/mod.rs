//! `hermes dev`: the whole pipeline on one machine and one port — ingest at
//! `POST /`, the durable embedded queue and its delivery loop into the
//! counters logic, the SQLite counter store, and the dashboard at `/dashboard`;
//! with `[notify]` configured, notify in process too (its markers and a log of
//! its webhook calls in the same SQLite file). With `[quarantine]` (on in the
//! built-in sample), the bad rows ingest publishes are kept in that file too,
//! listed at `/dev/quarantine`. With `[enrich]`, enrich runs in process too:
//! its lookups read the collections of the same file (`PUT
//! /dev/collections/{collection}/{id}`), its output topic is a queue topic.
//! With `PUBSUB_EMULATOR_HOST` / `FIRESTORE_EMULATOR_HOST` set, those emulators
//! replace the queue / the store.

mod collections;
mod db;
mod delivery;
mod emulator;
mod health;
mod notified;
mod preview;
mod queue;
mod routes;
mod settings;
mod store;

use db::{Db, OpenError};
use emulator::EmulatorError;
use hermes_core::auth::Tokens;
use hermes_core::config::{Config, ConfigError};
use hermes_core::destination::Publisher;
use hermes_core::preview::{TraceReader, TraceSink};
use hermes_core::store::{
    CounterStore, DocumentReader, ItemsReader, MarkerStore, NOTIFIED_COLLECTION,
};
use hermes_counters::Counters;
use hermes_dashboard::Dashboard;
use hermes_enrich::Enrich;
use hermes_gcp::firestore::{FirestoreMarkers, FirestoreStore};
use hermes_gcp::pubsub::PubSubRest;
use hermes_gcp::{project_from_env, AuthError};
use hermes_ingest::quarantine::Quarantine;
use hermes_ingest::Ingest;
use hermes_notify::Notify;
use hermes_push::PushAuth;
use notified::{Recorded, SqliteNotified};
use preview::SqliteTraces;
use queue::{SqliteQueue, COUNTERS, ENRICH, NOTIFY};
use routes::DevState;
use settings::DEFAULT_PROJECT;
pub use settings::{DevSettings, Options, UsageError, SAMPLE_CONFIG};
use std::sync::Arc;
use std::time::Duration;
use store::SqliteStore;
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Emulator(#[from] EmulatorError),
    #[error(transparent)]
    Runtime(#[from] hermes_runtime::RuntimeError),
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error("cannot prepare the preview traces table")]
    Traces(#[from] hermes_core::store::StoreError),
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
        None => hermes_runtime::port_from_env()?,
    };
    let mut counters_settings = Counters::settings_from(&config)?;
    // In-process delivery needs no push token.
    counters_settings.push = PushAuth::off();
    let dashboard_settings = Dashboard::settings_from(&config)?;
    let notify_settings = match Notify::settings_from(&config)? {
        Some(mut s) => {
            if let hermes_notify::settings::BodyKind::Slack(template) = &s.body {
                settings::check_notify_fields(&config, &dev.notify_topics, &template.fields())?;
            }
            let url = Notify::url_from_env(&s)?;
            // In-process delivery needs no push token.
            s.push = PushAuth::off();
            Some((s, url))
        }
        None => None,
    };
    let enrich_settings = match hermes_enrich::settings::Settings::from_config(&config)? {
        Some(mut s) => {
            if dev.enrich_topics.contains(&s.output_topic) {
                // Enrich would read its own copies and enrich them again, for ever.
                return Err(ConfigError::invalid(
                    "dev.enrich_topics",
                    format!("holds {}, enrich.output_topic", s.output_topic),
                )
                .into());
            }
            let place = Enrich::place_from_env(&s)?;
            // In-process delivery needs no push token.
            s.push = PushAuth::off();
            Some((s, place))
        }
        None => None,
    };
    // Where ingest publishes bad rows (it parses the section again, the same way).
    let quarantine = Quarantine::from_config(&config)?.map(|q| q.topic);
    let tokens = Tokens::from_env()?;
    let token_needed = tokens.production.is_configured();

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
    let mut firestore = None;
    let (store, reader): (Arc<dyn CounterStore>, Arc<dyn ItemsReader>) = match &sqlite_store {
        Some(s) => (Arc::new(s.clone()), Arc::new(s.clone())),
        None => {
            let store = FirestoreStore::from_env(
                &project,
                &counters_settings.database,
                counters_settings.commit_deadline,
            )
            .await?;
            firestore = Some(store.clone());
            (Arc::new(store.clone()), Arc::new(store))
        }
    };
    // Notify's markers live beside the counters' (SQLite, or the Firestore
    // emulator); its webhook calls are logged for `/dev/queue` when there is a file.
    let notify_log = db.clone().map(SqliteNotified::new);
    let notify = match notify_settings {
        Some((settings, url)) => {
            let markers: Arc<dyn MarkerStore> = match (&firestore, &notify_log) {
                (Some(f), _) => Arc::new(FirestoreMarkers::new(f.clone(), NOTIFIED_COLLECTION)),
                (None, Some(log)) => Arc::new(log.clone()),
                // Not reached (no SQLite store means the Firestore emulator), but typed so.
                (None, None) => Arc::new(FirestoreMarkers::new(
                    FirestoreStore::from_env(&project, &settings.database, settings.store_deadline)
                        .await?,
                    NOTIFIED_COLLECTION,
                )),
            };
            Some(Arc::new(Notify::new(settings, url, markers)))
        }
        None => None,
    };
    // With a Pub/Sub emulator: its base URL, for creating the topics and the push subscription.
    let (publisher, queue, emulator_base): (Arc<dyn Publisher>, Option<SqliteQueue>, _) =
        match (&pubsub_emulator, &db) {
            (None, Some(db)) => {
                let mut q = SqliteQueue::new(
                    db.clone(),
                    dev.push_topics.clone(),
                    dev.retry_min,
                    dev.retry_max,
                );
                if notify.is_some() {
                    q = q.with_subscriber(NOTIFY, dev.notify_topics.clone());
                }
                if enrich_settings.is_some() {
                    q = q.with_subscriber(ENRICH, dev.enrich_topics.clone());
                }
                if let Some(topic) = &quarantine {
                    q = q.with_quarantine(topic.clone());
                }
                (Arc::new(q.clone()), Some(q), None)
            }
            _ => {
                let rest = PubSubRest::from_env(config.publish_deadline).await?;
                let base = rest.base_url().to_string();
                (Arc::new(rest), None, Some(base))
            }
        };
    // Only an emulator's push subscription reaches the counters over HTTP, at a
    // path holding a secret that only that subscription knows: nothing else can
    // push (and so acknowledge or plant) a message.
    let push_secret = emulator_base
        .as_ref()
        .map(|_| uuid::Uuid::new_v4().simple().to_string());

    // Preview traces: SQLite, or the Firestore emulator when it holds the counters.
    let traces: (Arc<dyn TraceSink>, Arc<dyn TraceReader>) = match (&db, &firestore_emulator) {
        (Some(db), None) => {
            let t = SqliteTraces::new(db.clone()).await?;
            (Arc::new(t.clone()), Arc::new(t))
        }
        _ => {
            let f = FirestoreStore::from_env(
                &project,
                &counters_settings.database,
                counters_settings.commit_deadline,
            )
            .await?;
            (Arc::new(f.clone()), Arc::new(f))
        }
    };
    // Enrich's lookups read the collections where the counters' catalog is.
    let documents: Arc<dyn DocumentReader> = match (&sqlite_store, &firestore) {
        (Some(s), _) => Arc::new(s.clone()),
        (None, Some(f)) => Arc::new(f.clone()),
        (None, None) => Arc::new(
            FirestoreStore::from_env(
                &project,
                &counters_settings.database,
                counters_settings.commit_deadline,
            )
            .await?,
        ),
    };
    let counters = Arc::new(Counters::new(counters_settings, store));
    let dashboard = Arc::new(
        Dashboard::new(reader, dashboard_settings).with_preview(traces.1, config.preview.ttl),
    );
    // The emulator's topics to create: the quarantine's too, or its bad rows
    // would be refused by the emulator (NOT_FOUND) and lost.
    let mut topics: Vec<_> = config.topics().into_iter().cloned().collect();
    let enrich_output = enrich_settings
        .as_ref()
        .map(|(s, _)| s.output_topic.clone());
    for topic in quarantine.iter().chain(&enrich_output) {
        if !topics.contains(topic) {
            topics.push(topic.clone());
        }
    }
    let protection = hermes_runtime::Protection::from_config(&config);
    let ingest = Arc::new(Ingest::new(config, tokens.clone(), publisher)?.with_tracing(traces.0));
    let publishing = ingest.publishing.clone();
    // Enrich shares ingest's publish calls (drained with them at shutdown).
    let enrich = enrich_settings.map(|(settings, place)| {
        Arc::new(Enrich::new(
            settings,
            documents,
            place,
            publishing.batcher().clone(),
        ))
    });
    let health = match (&queue, &db) {
        (Some(q), Some(db)) => Some(Arc::new(health::Health::new(db.clone(), q.clone()))),
        _ => None,
    };
    let state = Arc::new(DevState {
        queue: queue.clone(),
        catalog: sqlite_store,
        notify_log: notify.as_ref().and(notify_log.clone()),
        tokens,
        health: health.clone(),
    });
    let host = options
        .host
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    let mut dashboard_routes = hermes_dashboard::mount("/dashboard", dashboard.clone())
        .merge(routes::health_router(state.clone()));
    // Open on loopback; served beyond it, the dashboard, its health figures and
    // the inspector require the production token when one is configured.
    if !host.is_loopback() {
        dashboard_routes = dashboard_routes.route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            routes::production_token,
        ));
    }
    let mut ingest_router = hermes_ingest::router(ingest);
    if let Some(h) = &health {
        ingest_router = ingest_router.layer(axum::middleware::from_fn_with_state(
            h.clone(),
            health::record_ingest,
        ));
    }
    let mut router = ingest_router
        .merge(dashboard_routes)
        .merge(routes::router(state));
    if let Some(secret) = &push_secret {
        router = router.nest(
            &format!("/counters/{secret}"),
            hermes_counters::router(counters.clone()),
        );
        if let Some(job) = notify_job(&notify, &notify_log) {
            router = router.nest(&format!("/notify/{secret}"), job);
        }
        if let Some(enrich) = &enrich {
            router = router.nest(
                &format!("/enrich/{secret}"),
                hermes_enrich::router(enrich.clone()),
            );
        }
    }

    let listener = tokio::net::TcpListener::bind((host, port))
        .await
        .map_err(|source| hermes_runtime::RuntimeError::Bind {
            addr: format!("{host}:{port}"),
            source,
        })?;
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    if let (Some(base), Some(secret)) = (&emulator_base, &push_secret) {
        let endpoint = format!("http://127.0.0.1:{port}/counters/{secret}");
        let notify_pushes = emulator::Pushes {
            topics: if notify.is_some() {
                &dev.notify_topics
            } else {
                &[]
            },
            name: emulator::notify_subscription_on,
            endpoint: format!("http://127.0.0.1:{port}/notify/{secret}"),
        };
        let enrich_pushes = emulator::Pushes {
            topics: if enrich.is_some() {
                &dev.enrich_topics
            } else {
                &[]
            },
            name: delivery::enrich_subscription_of,
            endpoint: format!("http://127.0.0.1:{port}/enrich/{secret}"),
        };
        // Bad rows wait on a pull subscription for `hermes replay`.
        let pulls: Vec<_> = quarantine.iter().cloned().collect();
        emulator::prepare(
            base,
            &topics,
            &dev.push_topics,
            &endpoint,
            &[notify_pushes, enrich_pushes],
            &pulls,
        )
        .await?;
    }
    print!(
        "{}",
        banner(&Banner {
            port,
            dev: &dev,
            sample: using_sample,
            pubsub: &pubsub_emulator,
            firestore: &firestore_emulator,
            token_needed,
            quarantine: quarantine.as_ref(),
            enrich_output: enrich_output.as_ref(),
        })
    );

    // Open event streams never end by themselves: close them on the signal, so
    // the graceful shutdown can finish.
    let closing = dashboard.clone();
    tokio::spawn(async move {
        hermes_runtime::shutdown_signal().await;
        closing.shutdown();
    });
    let (stop, stopped) = watch::channel(false);
    let mut deliveries = Vec::new();
    if let Some(q) = &queue {
        deliveries.push(tokio::spawn(delivery::deliver(
            q.clone(),
            COUNTERS,
            delivery::subscription_of,
            counters,
            stopped.clone(),
        )));
        if let (Some(notify), Some(log)) = (&notify, &notify_log) {
            let job = Arc::new(Recorded {
                notify: notify.clone(),
                log: log.clone(),
            });
            deliveries.push(tokio::spawn(delivery::deliver(
                q.clone(),
                NOTIFY,
                delivery::notify_subscription_of,
                job,
                stopped.clone(),
            )));
        }
        if let Some(enrich) = &enrich {
            deliveries.push(tokio::spawn(delivery::deliver(
                q.clone(),
                ENRICH,
                delivery::enrich_subscription_of,
                enrich.clone(),
                stopped,
            )));
        }
    }
    let served = hermes_runtime::serve_protected(listener, router, &protection).await;
    if !publishing.drain(Duration::from_secs(8)).await {
        tracing::warn!("stopping with publishes still running");
    }
    let _ = stop.send(true);
    for task in deliveries {
        let _ = task.await;
    }
    served?;
    Ok(())
}

/// Notify's push router for an emulator's subscription: its calls logged when there is a file.
fn notify_job(notify: &Option<Arc<Notify>>, log: &Option<SqliteNotified>) -> Option<axum::Router> {
    let notify = notify.clone()?;
    Some(match log {
        Some(log) => hermes_push::router(Arc::new(Recorded {
            notify,
            log: log.clone(),
        })),
        None => hermes_notify::router(notify),
    })
}

/// What the banner says: where things are, and what is on.
#[derive(Clone, Copy)]
struct Banner<'a> {
    port: u16,
    dev: &'a DevSettings,
    /// The built-in sample configuration is in use.
    sample: bool,
    pubsub: &'a Option<String>,
    firestore: &'a Option<String>,
    token_needed: bool,
    quarantine: Option<&'a hermes_core::destination::TopicName>,
    enrich_output: Option<&'a hermes_core::destination::TopicName>,
}

/// What `hermes dev` prints once it listens. With production tokens set, the
/// sample `curl` sends one from the environment (never the token itself).
fn banner(b: &Banner<'_>) -> String {
    use std::fmt::Write as _;
    let Banner {
        port,
        dev,
        sample,
        pubsub,
        firestore,
        token_needed,
        quarantine,
        enrich_output,
    } = *b;
    let base = format!("http://localhost:{port}");
    // Writing to a String cannot fail: the results are ignored.
    let mut out = String::new();
    let _ = writeln!(out, "Hermes dev is running.\n");
    let _ = writeln!(out, "  ingest      POST {base}/");
    let _ = writeln!(out, "  dashboard   {base}/dashboard");
    let _ = writeln!(out, "  preview     {base}/dashboard/preview");
    let _ = writeln!(out, "  health      {base}/healthz");
    let _ = writeln!(
        out,
        "  queue       {base}/dev/queue   dead letters: {base}/dev/dead-letters"
    );
    let _ = match (quarantine, pubsub) {
        (Some(_), None) => writeln!(out, "  quarantine  {base}/dev/quarantine"),
        (Some(topic), Some(_)) => writeln!(
            out,
            "  quarantine  {topic} on the Pub/Sub emulator \
             (hermes replay --subscription {})",
            emulator::pull_subscription_on(topic)
        ),
        (None, _) => Ok(()),
    };
    if let Some(topic) = enrich_output {
        let _ = writeln!(
            out,
            "  enrich      → {topic}   documents: PUT {base}/dev/collections/{{collection}}/{{id}}"
        );
    }
    let _ = match pubsub {
        Some(h) => writeln!(out, "  queue       Pub/Sub emulator at {h}"),
        None => writeln!(out, "  storage     {}", dev.database.display()),
    };
    if let Some(h) = firestore {
        let _ = writeln!(out, "  counters    Firestore emulator at {h}");
    }
    if sample {
        let _ = writeln!(
            out,
            "  config      built-in sample (set HERMES_CONFIG to use yours)"
        );
    }
    let _ = write!(
        out,
        "\nSend a purchase:\n\n  curl -X POST {base}/ -H 'Content-Type: application/json'"
    );
    if token_needed {
        // The first token of the list, from the shell's own environment.
        let _ = write!(
            out,
            " -H \"Authorization: Bearer ${{{}%%,*}}\"",
            hermes_core::auth::ENV_BEARER_TOKEN
        );
    }
    out.push_str(" -d '[{\"event_name\":\"purchase\",\"currency\":\"DKK\",\"items\":[{\"item_id\":\"123\",\"item_name\":\"Blazer\",\"item_category\":\"Jackets\",\"price\":150,\"quantity\":1},{\"item_id\":\"456\",\"item_name\":\"T-Shirt\",\"item_category\":\"Shirts\",\"price\":30,\"quantity\":2}]}]'\n");
    out.push_str("\nPress Ctrl-C to stop.\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(dev: &'a DevSettings, none: &'a Option<String>) -> Banner<'a> {
        Banner {
            port: 8080,
            dev,
            sample: true,
            pubsub: none,
            firestore: none,
            token_needed: false,
            quarantine: None,
            enrich_output: None,
        }
    }

    /// The banner's `curl` works as printed: with production tokens set it
    /// sends one, from the environment, and never prints a token.
    #[test]
    fn the_banner_curl_carries_a_token_when_one_is_needed() {
        let dev = DevSettings::parse(&Config::default(), "p").expect("defaults");
        let none = None;
        let open = banner(&sample(&dev, &none));
        assert!(
            open.contains("curl -X POST http://localhost:8080/"),
            "{open}"
        );
        assert!(!open.contains("Authorization"), "{open}");
        let guarded = banner(&Banner {
            token_needed: true,
            ..sample(&dev, &none)
        });
        assert!(
            guarded.contains(r#"-H "Authorization: Bearer ${HERMES_BEARER_TOKEN%%,*}""#),
            "{guarded}"
        );
    }

    /// The banner names `/dev/quarantine` when bad rows are kept in the file,
    /// and the emulator's topic when they go there.
    #[test]
    fn the_banner_names_the_quarantine_when_it_is_on() {
        let dev = DevSettings::parse(&Config::default(), "p").expect("defaults");
        let topic = hermes_core::destination::TopicName::parse("hermes-quarantine", Some("p"))
            .expect("topic");
        let none = None;
        let on = banner(&Banner {
            quarantine: Some(&topic),
            ..sample(&dev, &none)
        });
        assert!(
            on.contains("quarantine  http://localhost:8080/dev/quarantine"),
            "{on}"
        );
        let host = Some("h:1".to_string());
        let emulated = banner(&Banner {
            pubsub: &host,
            quarantine: Some(&topic),
            ..sample(&dev, &none)
        });
        assert!(
            emulated.contains("projects/p/topics/hermes-quarantine on the Pub/Sub emulator")
                && !emulated.contains("/dev/quarantine"),
            "{emulated}"
        );
        let off = banner(&sample(&dev, &none));
        assert!(!off.contains("quarantine"), "{off}");
    }
}
