//! The run plan: which CPUs the servers and the load generator get, and what
//! is checked and recorded before anything is timed.

use crate::bodies;
use crate::harness::{blocking, Harness};
use crate::load;
use crate::opts::{self, Opts};
use crate::procs::{self, Logs, Server};
use crate::report::{Machine, Results};
use crate::servers::Servers;
use crate::sinks;
use std::sync::Arc;
use std::time::Duration;

/// With two or more CPUs, the servers get all but the last, the load generator
/// and the sinks the last one, so that they do not steal each other's time.
pub struct Cpus {
    /// The machine's.
    pub count: usize,
    /// Empty: not pinned.
    pub servers: Vec<usize>,
    pub bench: Vec<usize>,
}

impl Cpus {
    pub fn split(pin: bool) -> Self {
        let count = procs::online_cpus();
        let (servers, bench) = if pin && count >= 2 {
            ((0..count - 1).collect(), vec![count - 1])
        } else {
            (Vec::new(), Vec::new())
        };
        Self {
            count,
            servers,
            bench,
        }
    }

    fn describe(&self) -> String {
        if self.servers.is_empty() {
            "none: servers, load generator and sinks share all CPUs".to_string()
        } else {
            format!(
                "servers on CPU {}, load generator and sinks on CPU {}",
                list(&self.servers),
                list(&self.bench)
            )
        }
    }
}

fn list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Everything before the phases: the output directories, the binaries, Node,
/// how busy the machine is, the sinks, and one correct answer from each
/// server. Returns the harness and the results with the run's settings.
pub async fn prepare(mut opts: Opts, cpus: Cpus) -> Result<(Harness, Results), String> {
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    let logs = Arc::new(Logs {
        dir: opts.out.join("logs"),
    });
    std::fs::create_dir_all(&logs.dir).map_err(|e| e.to_string())?;
    check_binaries(&opts)?;
    // Only the load phases run the Node.js baselines.
    opts.with_node &= opts.server_parts();
    opts.with_node = node_baseline(&opts)?;
    opts.with_node_official = opts.with_node && node_official(&opts)?;
    // The widest sweep, and the overload phase's 500 half-open connections.
    let widest = opts.sweep.iter().copied().chain([opts.connections, 500]);
    procs::raise_fd_limit(widest.max().unwrap_or(opts::MAX_CONNECTIONS))?;
    let busy_before = busy_before(opts.smoke).await;
    let sink = sinks::start().await.map_err(|e| format!("sink: {e}"))?;
    let harness = Harness {
        servers: Servers::new(&opts, &sink.host()),
        opts,
        server_cpus: cpus.servers.clone(),
        logs,
        sink,
        ok: true,
    };
    let pinning = cpus.describe();
    let o = &harness.opts;
    println!(
        "hermes-bench{}: every scenario {}×, {}s warm-up + {}s measured; {pinning}",
        if o.smoke { " (smoke)" } else { "" },
        o.repeats,
        o.warmup,
        o.duration
    );
    probe_answers(&harness).await?;
    let results = Results {
        smoke: o.smoke,
        connections: o.connections,
        repeats: o.repeats,
        sink_latency_ms: o.sink_latency_ms,
        warmup_s: o.warmup,
        duration_s: o.duration,
        pinning,
        busy_before_pct: busy_before * 100.0,
        machine: Machine::probe(cpus.count, o.with_node.then_some(o.node.as_str())),
        ..Results::default()
    };
    Ok((harness, results))
}

fn check_binaries(opts: &Opts) -> Result<(), String> {
    let servers = if opts.server_parts() {
        &[
            "hermes-ingest",
            "hermes-counters",
            "hermes-notify",
            "bare-axum",
        ][..]
    } else {
        &[]
    };
    let dashboard = opts.part("dashboard").then_some("hermes-dashboard");
    for &bin in servers.iter().chain(&dashboard) {
        if !opts.bin_dir.join(bin).is_file() {
            return Err(format!(
                "{bin} not found next to hermes-bench: build with `cargo build --release -p hermes-ingest -p hermes-counters -p hermes-notify -p hermes-dashboard -p hermes-bench` (or pass --bin-dir)"
            ));
        }
    }
    Ok(())
}

/// Whether the Node.js baseline runs: without `node` it is skipped with a
/// warning, except in CI, where a missing baseline must not pass unnoticed.
fn node_baseline(opts: &Opts) -> Result<bool, String> {
    if !opts.with_node || node_works(&opts.node) {
        return Ok(opts.with_node);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        return Err(format!(
            "`{} --version` failed: Node.js is required",
            opts.node
        ));
    }
    eprintln!(
        "warning: `{}` not found: skipping the Node.js baseline",
        opts.node
    );
    Ok(false)
}

/// Whether the official client's baseline runs: it needs `npm ci` in
/// `--node-dir` (scripts/bench does it); without it, as for `node`.
fn node_official(opts: &Opts) -> Result<bool, String> {
    let module = opts
        .node_dir
        .join("node_modules/@google-cloud/pubsub/package.json");
    if module.is_file() {
        return Ok(true);
    }
    let why = format!(
        "{} is missing: run `npm ci` in {}",
        module.display(),
        opts.node_dir.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        return Err(why);
    }
    eprintln!("warning: {why}: skipping the official-client Node.js baseline");
    Ok(false)
}

fn node_works(node: &str) -> bool {
    std::process::Command::new(node)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// How busy the machine was just before the run, 0 to 1: other work on the
/// machine skews every figure, so say so.
async fn busy_before(smoke: bool) -> f64 {
    let window = Duration::from_millis(if smoke { 200 } else { 2000 });
    let busy = blocking(move || procs::machine_busy(window))
        .await
        .unwrap_or(0.0);
    if busy > 0.05 {
        eprintln!(
            "warning: the machine was {:.0}% busy before the run: figures will be low and noisy",
            busy * 100.0
        );
    }
    busy
}

/// The answers are what they should be before anything is timed (bare axum
/// answers the same to anything).
async fn probe_answers(harness: &Harness) -> Result<(), String> {
    if !harness.opts.server_parts() {
        return Ok(());
    }
    for spec in harness.servers.ingest_like() {
        if spec.name == "bare-axum" {
            continue;
        }
        let server = harness.start(&spec, None).await?;
        let verdict = probe_ingest(&server, 10).await;
        server.stop();
        verdict.map_err(|e| format!("{}: wrong answer: {e}", spec.name))?;
    }
    Ok(())
}

/// One POST of `n` events: 200 and one message id per event.
async fn probe_ingest(server: &Server, n: usize) -> Result<(), String> {
    let mut sender = load::connect(server.addr())
        .await
        .map_err(|e| e.to_string())?;
    let (status, body) = load::post(&mut sender, bodies::body_of(n)).await?;
    bodies::check_ingest_answer(status, &body, n)
}
