//! Runs a phase's scenarios: each `--repeats` times, on a fresh server process
//! each time, the repeats interleaved (every scenario once, then every one
//! again) so that a slow phase of the machine does not fall on one server only.

use crate::harness::{Harness, Job, Mode};
use crate::procs::Spec;
use crate::report::{Run, Scenario};

/// One scenario to run: what the report calls it, the server, the load.
pub struct Planned {
    pub scenario: Scenario,
    pub spec: Spec,
    pub job: Job,
    /// Whether every acknowledged event (or message) must have reached the sink.
    pub check_sink: bool,
}

pub async fn run_all(
    harness: &mut Harness,
    planned: Vec<Planned>,
) -> Result<Vec<Scenario>, String> {
    let mut out: Vec<Scenario> = planned.iter().map(|p| p.scenario.clone()).collect();
    let repeats = harness.opts.repeats;
    for rep in 0..repeats {
        for (p, sc) in planned.iter().zip(out.iter_mut()) {
            let m = harness.load_fresh(&p.spec, &p.job).await?;
            let r = &m.result;
            let load = match p.job.mode {
                Mode::Closed { connections } => format!("{connections:>4} conns"),
                Mode::Open { rate } => format!("{rate:>6.0} req/s open"),
            };
            let latency = match p.job.mode {
                Mode::Open { .. } => format!(
                    "  p50 {:>6.2} ms  p99 {:>6.2} ms  p99.9 {:>6.2} ms  late {}",
                    r.p50_ms, r.p99_ms, r.p999_ms, r.late_starts
                ),
                Mode::Closed { .. } => String::new(),
            };
            println!(
                "  [{}/{repeats}] {:<28} {:>3} ev/req {load} sink {:>2} ms {:>8.0} req/s {:>9.0} events/s  CPU {:>6.2} µs/event ({:.0}%)  peak RSS {:>6.1} MiB  load gen {:.0}%{latency}",
                rep + 1,
                sc.server,
                p.job.events,
                p.job.sink_latency_ms,
                r.requests_per_sec,
                r.events_per_sec,
                r.server_cpu_us_per_event,
                r.server_cpu_pct,
                m.peak_rss_kib as f64 / 1024.0,
                r.bench_cpu_pct,
            );
            let what = format!(
                "{} ({}, {} events/request, {load})",
                sc.server, sc.phase, p.job.events
            );
            harness.check(&what, r);
            if p.check_sink && m.sink_delta < r.requests * p.job.events {
                harness.fail(&format!(
                    "{what}: the sink got {} for {} requests of {} events (messages)",
                    m.sink_delta, r.requests, p.job.events
                ));
            }
            sc.runs.push(Run {
                result: m.result,
                peak_rss_kib: m.peak_rss_kib,
                sink_delta: m.sink_delta,
            });
        }
    }
    Ok(out)
}
