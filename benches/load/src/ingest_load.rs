//! The ingest phases, on the same README bodies for every server:
//!
//! - `load` (`--only load`): 1, 10 and 100 events per request, `--connections`
//!   (32) connections, closed loop, sinks answering at once: capacity and CPU
//!   per event of `hermes-ingest`, `validate_only`, bare axum and both Node.js
//!   baselines;
//! - `sweep` (`--only sweep`): 10 events per request, sinks answering after
//!   `--sink-latency-ms` (20 ms), 32, 80, 250 and 1,000 connections: how each
//!   server copes with many requests waiting on Pub/Sub at once, and its peak RSS;
//! - `open` (`--only open`): an open loop at a fixed rate below every server's
//!   capacity (by default half the official-client Node baseline's best
//!   closed-loop rate in this run's sweep), same sink latency: the latency
//!   percentiles a client sees.

use crate::bodies;
use crate::harness::{Harness, Job, Mode};
use crate::procs::Spec;
use crate::report::Scenario;
use crate::scenarios::{self, Planned};
use crate::servers::{NODE_FETCH, NODE_OFFICIAL};
use crate::sinks::Counts;
use std::sync::Arc;

/// The label of `hermes-ingest` driven with `?validate_only=true`.
pub const VALIDATE_ONLY: &str = "hermes-ingest validate_only";

/// Events per request in the sweep and the open loop.
pub const SWEEP_EVENTS: u64 = 10;

pub async fn run(harness: &mut Harness) -> Result<Vec<Scenario>, String> {
    if !harness.opts.part("load") || harness.opts.events.is_empty() {
        return Ok(Vec::new());
    }
    let events = harness.opts.events.clone();
    println!(
        "== load: POST / with {events:?} README events per request, {} connections, sinks answering at once",
        harness.opts.connections
    );
    let mut planned = Vec::new();
    for n in events {
        for (spec, path, label) in servers(harness, true) {
            let mode = Mode::Closed {
                connections: harness.opts.connections,
            };
            planned.push(plan("load", spec, path, label, n, mode, 0));
        }
    }
    scenarios::run_all(harness, planned).await
}

pub async fn sweep(harness: &mut Harness) -> Result<Vec<Scenario>, String> {
    if !harness.opts.part("sweep") {
        return Ok(Vec::new());
    }
    let ms = harness.opts.sink_latency_ms;
    println!(
        "== sweep: {SWEEP_EVENTS} events per request, sinks answering after {ms} ms, {:?} connections",
        harness.opts.sweep
    );
    let mut planned = Vec::new();
    for &c in &harness.opts.sweep.clone() {
        for (spec, path, label) in servers(harness, false) {
            let mode = Mode::Closed { connections: c };
            planned.push(plan("sweep", spec, path, label, SWEEP_EVENTS, mode, ms));
        }
    }
    scenarios::run_all(harness, planned).await
}

/// `sweep`: this run's sweep, from which the rate is chosen.
pub async fn open(harness: &mut Harness, sweep: &[Scenario]) -> Result<Vec<Scenario>, String> {
    if !harness.opts.part("open") {
        return Ok(Vec::new());
    }
    let ms = harness.opts.sink_latency_ms;
    let rate = match harness.opts.open_rate {
        Some(r) => r,
        None => match open_rate(sweep, harness.opts.open_share) {
            Some(r) => r,
            None => {
                // No sweep in this run (e.g. `--only open`): a rate every server here sustains.
                eprintln!("warning: no sweep in this run to choose the open-loop rate from: 500 requests/s (pass --open-rate)");
                500.0
            }
        },
    };
    println!(
        "== open loop: {rate:.0} requests/s of {SWEEP_EVENTS} events, sinks answering after {ms} ms"
    );
    let mut planned = Vec::new();
    for (spec, path, label) in servers(harness, false) {
        if spec.name == "bare-axum" {
            continue;
        }
        planned.push(plan(
            "open",
            spec,
            path,
            label,
            SWEEP_EVENTS,
            Mode::Open { rate },
            ms,
        ));
    }
    scenarios::run_all(harness, planned).await
}

/// `share` of the best median closed-loop requests/s of the official-client Node
/// baseline in `sweep` (else of the plain one, else of Hermes).
pub fn open_rate(sweep: &[Scenario], share: f64) -> Option<f64> {
    [NODE_OFFICIAL, NODE_FETCH, "hermes-ingest"]
        .iter()
        .find_map(|name| {
            sweep
                .iter()
                .filter(|s| s.server == *name && !s.runs.is_empty())
                .map(|s| s.median(|r| r.result.requests_per_sec))
                .max_by(f64::total_cmp)
                .map(|best| (best * share).round().max(1.0))
        })
}

fn plan(
    phase: &str,
    spec: Spec,
    path: &'static str,
    label: &str,
    n: u64,
    mode: Mode,
    sink_latency_ms: u64,
) -> Planned {
    let body = bodies::body_of(n as usize);
    // Every acknowledged event reached the sink (validate_only publishes nothing).
    let check_sink = spec.name != "bare-axum" && path == "/";
    Planned {
        scenario: Scenario {
            phase: phase.into(),
            server: label.into(),
            events_per_request: n,
            connections: match mode {
                Mode::Closed { connections } => connections,
                Mode::Open { .. } => 0,
            },
            sink_latency_ms,
            open_rate: match mode {
                Mode::Open { rate } => Some(rate),
                Mode::Closed { .. } => None,
            },
            ..Scenario::default()
        },
        spec,
        job: Job {
            path,
            events: n,
            body: Arc::new(move |_| body.clone()),
            mode,
            sink_latency_ms,
            counter: |c: &Counts| &c.messages,
        },
        check_sink,
    }
}

/// `(server, request target, label)`: the baselines, Hermes, and (when
/// `validate_only`) Hermes with `?validate_only=true` (everything but the
/// publish call: where the time goes).
fn servers(harness: &Harness, validate_only: bool) -> Vec<(Spec, &'static str, &'static str)> {
    let s = &harness.servers;
    let mut v = vec![
        (s.bare.clone(), "/", "bare-axum"),
        (s.hermes.clone(), "/", "hermes-ingest"),
    ];
    if validate_only {
        v.push((s.hermes.clone(), "/?validate_only=true", VALIDATE_ONLY));
    }
    v.extend(s.nodes().into_iter().map(|n| {
        let name = n.name;
        (n, "/", name)
    }));
    v
}
