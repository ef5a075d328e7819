//! The load phase (`--only load`): `POST /` with 1, 10 and 100 README events
//! per request to `hermes-ingest` and, on the same bodies, to bare axum and
//! the Node.js function, each a fresh process per scenario.

use crate::bodies;
use crate::harness::Harness;
use crate::procs::Spec;
use crate::report::Scenario;
use std::sync::Arc;

/// The label of `hermes-ingest` driven with `?validate_only=true`.
const VALIDATE_ONLY: &str = "hermes-ingest validate_only";

pub async fn run(harness: &mut Harness) -> Result<Vec<Scenario>, String> {
    let mut scenarios = Vec::new();
    if !harness.opts.part("load") || harness.opts.events.is_empty() {
        return Ok(scenarios);
    }
    let events = harness.opts.events.clone();
    println!("== load: POST / with {events:?} README events per request");
    for n in events {
        let body = bodies::body_of(n as usize);
        for (spec, path, label) in servers(harness) {
            let b = body.clone();
            let m = harness
                .load_fresh(&spec, path, n, Arc::new(move |_| b.clone()), |c| {
                    &c.messages
                })
                .await?;
            let (r, published) = (&m.result, m.sink_delta);
            println!(
                "  {:>3} ev/req {:<14} {:>9.0} req/s {:>10.0} events/s  p50 {:>7.2} ms  p99 {:>7.2} ms  peak RSS {:>6.1} MiB  CPU {:>6.1} µs/req (server {:.0}%, load generator {:.0}%)",
                n,
                label,
                r.requests_per_sec,
                r.events_per_sec,
                r.p50_ms,
                r.p99_ms,
                m.peak_rss_kib as f64 / 1024.0,
                r.server_cpu_us_per_request,
                r.server_cpu_pct,
                r.bench_cpu_pct
            );
            harness.check(&format!("{label} at {n} events/request"), r);
            // Every acknowledged event reached the sink (validate_only publishes nothing).
            let publishes = spec.name != "bare-axum" && path == "/";
            if publishes && published < r.requests * n {
                harness.fail(&format!(
                    "{label}: the sink got {published} messages for {} requests of {n} events",
                    r.requests
                ));
            }
            scenarios.push(Scenario {
                server: label.to_string(),
                events_per_request: n,
                result: m.result,
                peak_rss_kib: m.peak_rss_kib,
                sink_messages: published,
            });
        }
        print_ratios(&scenarios, n);
    }
    Ok(scenarios)
}

/// `(server, request target, label)`: the baselines, Hermes, and Hermes with
/// `?validate_only=true` (everything but the publish call: where the time goes).
fn servers(harness: &Harness) -> Vec<(Spec, &'static str, &'static str)> {
    let s = &harness.servers;
    let mut v = vec![
        (s.bare.clone(), "/", "bare-axum"),
        (s.hermes.clone(), "/", "hermes-ingest"),
        (s.hermes.clone(), "/?validate_only=true", VALIDATE_ONLY),
    ];
    v.extend(s.node.clone().map(|node| (node, "/", "node-baseline")));
    v
}

/// The ratios the targets are about, at `n` events per request.
fn print_ratios(scenarios: &[Scenario], n: u64) {
    let get = |name: &str| {
        scenarios
            .iter()
            .find(|s| s.server == name && s.events_per_request == n)
    };
    let (Some(h), Some(b)) = (get("hermes-ingest"), get("bare-axum")) else {
        return;
    };
    let mut line = format!(
        "  ratios at {n} ev/req: hermes/bare requests/s = {:.0}%",
        100.0 * h.result.requests_per_sec / b.result.requests_per_sec.max(1e-9)
    );
    if let Some(node) = get("node-baseline") {
        line.push_str(&format!(
            "; hermes/node events/s = {:.1}×; p99 hermes {:.2} ms vs node {:.2} ms",
            h.result.events_per_sec / node.result.events_per_sec.max(1e-9),
            h.result.p99_ms,
            node.result.p99_ms
        ));
    }
    println!("{line}");
}
