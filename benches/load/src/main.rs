//! `hermes-bench`: the load, cold-start, push-path and memory benchmarks of
//! `docs/PERFORMANCE.md`, in one run on one machine, all on loopback.
//!
//! It serves a minimal Pub/Sub and Firestore REST sink itself, starts each
//! server under test as a child process (pinned to its own CPUs), and drives
//! it with keep-alive HTTP/1.1 connections, one phase after another:
//!
//! - [`ingest_load`]: `hermes-ingest`, and on the same bodies the
//!   baselines: `bare-axum` (the machine's limit) and the Node.js function of
//!   `benches/baseline-node`, with Google's official Pub/Sub client and with
//!   plain `fetch`: capacity at 1, 10 and 100 events per request, a
//!   concurrency sweep with a slow sink, and an open loop at a fixed rate;
//! - [`push_path`]: `hermes-counters` (catalogue miss and hit) and
//!   `hermes-notify` with Pub/Sub push envelopes, and `bare-axum` on the same
//!   envelopes;
//! - [`cold_start`]: exec to the first 200 answer to `POST /`;
//! - [`one_mib`]: a 1 MiB body under a 128 MiB address-space limit, and peak RSS;
//! - [`overload`]: 200 concurrent 1 MiB bodies under a 256 MiB limit, and 500
//!   half-open connections, with the p99 of small requests meanwhile;
//! - [`dashboard_scale`]: `hermes-dashboard` at shop scale: Firestore
//!   documents read per minute (incremental against re-reading everything)
//!   and peak RSS with 200,000 items.
//!
//! `scripts/bench` builds the binaries, runs criterion, then this; see
//! `hermes-bench --help`.

mod bodies;
mod cold_start;
mod dashboard_report;
mod dashboard_scale;
mod format;
mod harness;
mod ingest_load;
mod load;
mod one_mib;
mod opts;
mod output;
mod overload;
mod plan;
mod procs;
mod push_path;
mod report;
mod scenarios;
mod servers;
mod sinks;
mod standin;

use opts::Opts;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let opts = match Opts::parse() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("hermes-bench: {e}");
            }
            eprint!("{}", opts::USAGE);
            return ExitCode::from(2);
        }
    };
    if let Some(file) = &opts.report_from {
        return exit(output::rerender(&opts, file).map(|()| true));
    }
    // Pinned before the runtime starts, so that its threads inherit the CPU.
    let cpus = plan::Cpus::split(opts.pin);
    if let Err(e) = procs::pin_self(&cpus.bench) {
        eprintln!("hermes-bench: cannot pin to CPU {:?}: {e}", cpus.bench);
        return ExitCode::FAILURE;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hermes-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    exit(rt.block_on(run(opts, cpus)))
}

/// `Ok(false)`: the run went through, but something failed (said above).
fn exit(outcome: Result<bool, String>) -> ExitCode {
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("hermes-bench: some requests failed (see above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("hermes-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The phases, each of which skips itself unless
/// `--only` names it. Failed requests mark the run failed and the rest still
/// runs, so that the report shows them; a wrong answer before any timing, or a
/// load server that does not start, stops it.
async fn run(opts: Opts, cpus: plan::Cpus) -> Result<bool, String> {
    let started = Instant::now();
    let (mut harness, mut results) = plan::prepare(opts, cpus).await?;
    // Cold starts first: after the 1,000-connection and 1 MiB runs every new
    // process starts several milliseconds slower for a while (bare axum's
    // median went from 3 ms to 17 ms), which is the machine, not the server.
    results.cold = cold_start::run(&mut harness).await;
    results.load = ingest_load::run(&mut harness).await?;
    results.sweep = ingest_load::sweep(&mut harness).await?;
    results.open = ingest_load::open(&mut harness, &results.sweep).await?;
    results.push = push_path::run(&mut harness).await?;
    results.one_mib = one_mib::run(&mut harness).await;
    results.overload = overload::run(&mut harness).await;
    // Last: its own peers (Google's Firestore emulator, a Firestore
    // stand-in), not the sinks.
    // A failure there fails the run but keeps the other phases' report.
    if harness.opts.part("dashboard") {
        match dashboard_scale::run(&harness.opts).await {
            Ok((figures, ok)) => {
                harness.ok &= ok;
                results.dashboard = Some(figures);
            }
            Err(e) => {
                eprintln!("  FAILED: dashboard at scale: {e}");
                harness.ok = false;
            }
        }
    }
    output::finish(&mut harness, &mut results, started)?;
    Ok(harness.ok)
}
