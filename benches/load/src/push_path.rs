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
//!   a call to the sink's webhook (200 at once), the marker written.
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
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

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
    let planned = rows
        .into_iter()
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
                // Per message: one commit (counters) or one webhook call
                // (notify) each, counted against the acknowledged messages.
                events: 1,
                body: r.body,
                mode: Mode::Closed { connections },
                sink_latency_ms: 0,
                counter: r.counter.unwrap_or(commits),
            },
        })
        .collect();
    scenarios::run_all(harness, planned).await
}
