//! The push-path phase (`--only push`): Pub/Sub push envelopes to the push
//! jobs, and to bare axum on the same envelopes (the HTTP stack alone, the
//! baseline of the CPU ratios), in the same run:
//!
//! - `hermes-counters`, which reads the catalogue and commits to the local
//!   Firestore sink: the README's purchase with items the catalogue does not
//!   have (a miss) and with items it has (a hit: `cost` and `item_brand`
//!   enrich them), and the miss again with the item ids drawn from 1,000
//!   documents, as a real catalogue would spread them;
//! - `hermes-notify` on `purchase`: a marker read (404) in the Firestore sink,
//!   a call to the sink's webhook (200 at once), the marker written;
//! - `hermes-enrich` on `purchase`, after those and with bare axum again on
//!   its own envelopes (the purchase with a `user_id` and a `user_agent`): a
//!   lookup of `customers/{user_id}` cached for 60 s (every message the same
//!   user, so every read after a process's first few is a cache hit),
//!   `received_at`, and the enriched event published to the Pub/Sub sink;
//!   once more with `[enrich.user_agent]` too.
//!
//! The sinks answer at once, while real Firestore takes about one write per
//! second per document: this measures the CPU a message costs, not a rate
//! Firestore would sustain.

use crate::bodies::{self, PUSH_ITEMS};
use crate::harness::{Harness, Job, Mode};
use crate::load::BodyFn;
use crate::procs::Spec;
use crate::report::Scenario;
use crate::scenarios::{self, Planned};
use crate::sinks::Counts;
use bytes::Bytes;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, LazyLock};

/// The sink counter that must grow by one per acknowledged message.
type Counter = fn(&Counts) -> &AtomicU64;

/// One scenario of the phase: the server, what it is sent, and what it must
/// have reached (`None`: bare axum, which sends nothing on).
struct Row {
    spec: Spec,
    body: BodyFn,
    documents: u64,
    catalog: Option<String>,
    counter: Option<Counter>,
}

pub async fn run(harness: &mut Harness) -> Result<Vec<Scenario>, String> {
    if !harness.opts.part("push") {
        return Ok(Vec::new());
    }
    println!("== push path (CPU only): hermes-counters and hermes-notify → local Firestore and webhook sinks answering at once");
    let connections = harness.opts.connections;
    let miss: BodyFn = Arc::new(bodies::push_envelope);
    let hit: BodyFn = Arc::new(bodies::push_envelope_catalog);
    let spread: BodyFn = Arc::new(bodies::push_envelope_spread);
    let s = &harness.servers;
    let commits: Counter = |c| &c.commits;
    let webhooks: Counter = |c| &c.webhooks;
    let row = |spec: &Spec, body: &BodyFn, documents, catalog: Option<&str>, counter| Row {
        spec: spec.clone(),
        body: Arc::clone(body),
        documents,
        catalog: catalog.map(str::to_string),
        counter,
    };
    let rows = [
        row(&s.bare, &miss, 2, None, None),
        row(&s.counters, &miss, 2, Some("miss"), Some(commits)),
        row(&s.counters, &hit, 2, Some("hit"), Some(commits)),
        row(
            &s.counters,
            &spread,
            bodies::SPREAD_DOCUMENTS,
            Some("miss"),
            Some(commits),
        ),
        row(&s.notify, &miss, 2, None, Some(webhooks)),
    ];
    let mut scenarios = scenarios::run_all(harness, plan(rows, connections)).await?;

    // Enrich, on its own envelopes: bare axum first (the baseline of its ratio).
    println!("== push path (CPU only): hermes-enrich, a cached lookup → local Firestore and Pub/Sub sinks answering at once");
    let enriched: Counter = |c| &c.messages;
    let body: BodyFn = Arc::new(enrich_envelope);
    let sink_host = harness.sink.host();
    let enrich = |name: &str, toml: String| {
        row(
            &enrich_spec(&harness.opts.bin_dir, &sink_host, toml),
            &body,
            1,
            Some(name),
            Some(enriched),
        )
    };
    let rows = [
        row(
            &harness.servers.bare,
            &body,
            1,
            Some(ENRICH_ENVELOPES),
            None,
        ),
        enrich(CACHED_LOOKUP, ENRICH_CONFIG.to_string()),
        enrich(
            CACHED_LOOKUP_AND_DEVICE,
            format!("{ENRICH_CONFIG}{USER_AGENT_CONFIG}"),
        ),
    ];
    let enrich_runs = harness.opts.repeats as u64 * 2;
    let reads_before = Counts::get(&harness.sink.counts.batch_gets);
    scenarios.extend(scenarios::run_all(harness, plan(rows, connections)).await?);
    // Only the first messages of each fresh process miss the cache: at most
    // one read per connection (concurrent first misses), never one per message.
    let reads = Counts::get(&harness.sink.counts.batch_gets) - reads_before;
    println!("  hermes-enrich: {reads} batchGet calls in {enrich_runs} runs");
    if reads > enrich_runs * connections as u64 {
        harness.fail(&format!(
            "hermes-enrich: {reads} batchGet calls in {enrich_runs} runs of {connections} connections: the lookups were not cached"
        ));
    }
    Ok(scenarios)
}

/// The report's rows of the phase, each with its load.
fn plan(rows: impl IntoIterator<Item = Row>, connections: usize) -> Vec<Planned> {
    rows.into_iter()
        .map(|r| Planned {
            scenario: Scenario {
                phase: "push".into(),
                server: r.spec.name.into(),
                events_per_request: PUSH_ITEMS,
                connections,
                documents: Some(r.documents),
                catalog: r.catalog,
                ..Scenario::default()
            },
            check_sink: r.counter.is_some(),
            spec: r.spec,
            job: Job {
                path: "/",
                // Per message: one commit (counters), one webhook call
                // (notify) or one published message (enrich) each, counted
                // against the acknowledged messages.
                events: 1,
                body: r.body,
                mode: Mode::Closed { connections },
                sink_latency_ms: 0,
                counter: r.counter.unwrap_or(|c| &c.commits),
            },
        })
        .collect()
}

/// What the `catalogue` column says of the enrich rows.
const ENRICH_ENVELOPES: &str = "enrich's envelopes";
const CACHED_LOOKUP: &str = "cached lookup";
const CACHED_LOOKUP_AND_DEVICE: &str = "cached lookup, user agent";

/// The README's lookup of a customer by `user_id`, every field of it needed
/// (`on_missing = "fail"`: a document the sink did not find is a 400, a
/// failure of the row), cached for 60 s, and `received_at`.
const ENRICH_CONFIG: &str = r#"[enrich]
output_topic = "events-enriched"
events = ["purchase"]
received_at = "received_at"

[[enrich.lookups]]
collection = "customers"
key = "user_id"
into = "customer"
fields = ["segment", "lifetime_value"]
on_missing = "fail"
cache_ttl_secs = 60
"#;

/// The device too.
const USER_AGENT_CONFIG: &str = r#"
[enrich.user_agent]
from = "user_agent"
into = "device"
"#;

/// `hermes-enrich` with `toml`, its Firestore and its Pub/Sub the sink.
fn enrich_spec(bin_dir: &std::path::Path, sink_host: &str, toml: String) -> Spec {
    Spec {
        name: "hermes-enrich",
        program: bin_dir.join("hermes-enrich"),
        args: vec![],
        env: vec![
            ("HERMES_CONFIG_TOML".into(), toml),
            ("GOOGLE_CLOUD_PROJECT".into(), "bench".into()),
            ("FIRESTORE_EMULATOR_HOST".into(), sink_host.into()),
            ("PUBSUB_EMULATOR_HOST".into(), sink_host.into()),
        ],
    }
}

/// The README's purchase (two items) as the whole-event topic carries it, by
/// one user (a document of the sink's `customers`) with a desktop browser.
const ENRICH_PAYLOAD: &str = r#"{"event_name":"purchase","user_id":"u1","user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36","transaction_id":"T1","value":150,"currency":"DKK","items":[{"item_id":"123","item_name":"Blazer","item_category":"Jackets","price":150,"quantity":1},{"item_id":"456","item_name":"T-Shirt","item_category":"Shirts","price":30,"quantity":2}]}"#;

/// [`ENRICH_PAYLOAD`] in base64, encoded once (the load generator's CPU is measured).
static ENRICH_DATA: LazyLock<String> = LazyLock::new(|| {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(ENRICH_PAYLOAD)
});

/// The push envelope of message number `seq` for enrich: its own message id,
/// and a `publishTime` (enrich's `received_at`).
fn enrich_envelope(seq: u64) -> Bytes {
    Bytes::from(format!(
        r#"{{"message":{{"data":"{}","messageId":"bench-{seq}","publishTime":"2026-01-01T00:00:00Z","attributes":{{"event_name":"purchase","source":"s2s"}}}},"subscription":"projects/bench/subscriptions/enrich"}}"#,
        ENRICH_DATA.as_str()
    ))
}
