//! The push-path phase (`--only push`): Pub/Sub push envelopes to
//! `hermes-counters`, which commits to the local Firestore sink, and to bare
//! axum on the same envelopes.

use crate::bodies::{self, PUSH_ITEMS};
use crate::harness::Harness;
use crate::report::Push;
use std::sync::Arc;

pub async fn run(harness: &mut Harness) -> Result<Vec<Push>, String> {
    let mut pushes = Vec::new();
    if !harness.opts.part("push") {
        return Ok(pushes);
    }
    println!("== push path: hermes-counters → local Firestore sink");
    for spec in [
        harness.servers.bare.clone(),
        harness.servers.counters.clone(),
    ] {
        let m = harness
            .load_fresh(&spec, "/", 1, Arc::new(bodies::push_envelope), |c| {
                &c.commits
            })
            .await?;
        let (r, commits) = (&m.result, m.sink_delta);
        println!(
            "  {:<16} {:>9.0} messages/s {:>9.0} items/s  p50 {:>6.2} ms  p99 {:>6.2} ms  peak RSS {:>6.1} MiB  CPU {:>6.1} µs/message (server {:.0}%, load generator {:.0}%)",
            spec.name,
            r.requests_per_sec,
            r.requests_per_sec * PUSH_ITEMS as f64,
            r.p50_ms,
            r.p99_ms,
            m.peak_rss_kib as f64 / 1024.0,
            r.server_cpu_us_per_request,
            r.server_cpu_pct,
            r.bench_cpu_pct
        );
        harness.check(&format!("{} push", spec.name), r);
        // An acknowledged message that was never committed would be lost.
        if spec.name == "hermes-counters" && commits < r.requests {
            harness.fail(&format!(
                "hermes-counters: {commits} commits for {} acknowledged messages",
                r.requests
            ));
        }
        pushes.push(Push {
            server: spec.name.to_string(),
            items_per_message: PUSH_ITEMS,
            result: m.result,
            peak_rss_kib: m.peak_rss_kib,
            commits,
        });
    }
    Ok(pushes)
}
