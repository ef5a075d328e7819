//! The push-path phase (`--only push`): Pub/Sub push envelopes to
//! `hermes-counters`, which commits to the local Firestore sink, and to bare
//! axum on the same envelopes. The sink answers at once, while real Firestore
//! takes about one write per second per document: this measures the CPU a
//! message costs, not a rate Firestore would sustain. The README's purchase
//! touches 2 documents; a second run spreads the items over 1,000 documents
//! (item ids drawn from 1,000), as a real catalogue would.

use crate::bodies::{self, PUSH_ITEMS};
use crate::harness::{Harness, Job, Mode};
use crate::load::BodyFn;
use crate::report::Scenario;
use crate::scenarios::{self, Planned};
use crate::sinks::Counts;
use std::sync::Arc;

pub async fn run(harness: &mut Harness) -> Result<Vec<Scenario>, String> {
    if !harness.opts.part("push") {
        return Ok(Vec::new());
    }
    println!("== push path (CPU only): hermes-counters → local Firestore sink answering at once");
    let connections = harness.opts.connections;
    let same: BodyFn = Arc::new(bodies::push_envelope);
    let spread: BodyFn = Arc::new(bodies::push_envelope_spread);
    let planned = [
        (harness.servers.bare.clone(), same.clone(), 2),
        (harness.servers.counters.clone(), same, 2),
        (
            harness.servers.counters.clone(),
            spread,
            bodies::SPREAD_DOCUMENTS,
        ),
    ]
    .into_iter()
    .map(|(spec, body, documents)| Planned {
        scenario: Scenario {
            phase: "push".into(),
            server: spec.name.into(),
            events_per_request: PUSH_ITEMS,
            connections,
            documents: Some(documents),
            ..Scenario::default()
        },
        check_sink: spec.name == "hermes-counters",
        spec,
        job: Job {
            path: "/",
            // Per message: one commit each, counted against the acknowledged messages.
            events: 1,
            body,
            mode: Mode::Closed { connections },
            sink_latency_ms: 0,
            counter: |c: &Counts| &c.commits,
        },
    })
    .collect();
    scenarios::run_all(harness, planned).await
}
