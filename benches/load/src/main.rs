//! `hermes-bench`: the load, cold-start, push-path and memory benchmarks of
//! `docs/PERFORMANCE.md`, in one run on one machine, all on loopback.
//!
//! It serves a minimal Pub/Sub and Firestore REST sink itself, starts each
//! server under test as a child process (pinned to its own CPUs), and drives
//! it with keep-alive HTTP/1.1 connections:
//!
//! - `hermes-ingest`, and on the same bodies the two baselines: `bare-axum`
//!   (the machine's limit) and the Node.js function of `benches/baseline-node`
//!   (the usual alternative), at 1, 10 and 100 events per request;
//! - `hermes-counters` with Pub/Sub push envelopes (and `bare-axum` on the same
//!   envelopes);
//! - cold start: exec to the first 200 answer to `POST /`;
//! - a 1 MiB body under a 128 MiB address-space limit, and peak RSS.
//!
//! `scripts/bench` builds the binaries, runs criterion, then this; see
//! `hermes-bench --help`.

mod load;
mod procs;
mod report;
mod sinks;

use bytes::Bytes;
use load::{Load, LoadResult};
use procs::{Logs, Spec};
use report::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: hermes-bench [--smoke] [options]

  --smoke              seconds-long run with tiny counts (CI): checks everything runs
  --bin-dir DIR        where hermes-ingest, hermes-counters, bare-axum are
                       (default: this executable's directory)
  --node BIN           the Node.js executable (default: node)
  --node-script FILE   default: benches/baseline-node/server.mjs
  --criterion DIR      criterion's output to include (default: target/criterion;
                       none with --smoke)
  --out DIR            results.json, report.md, server logs (default: target/bench)
  --doc FILE           also replace the generated section of FILE (docs/PERFORMANCE.md)
  --connections N      concurrent connections (default 32; smoke 4)
  --duration SECS      measured seconds per scenario (default 5; smoke 0.3)
  --warmup SECS        warm-up seconds per scenario (default 1; smoke 0.1)
  --starts N           cold starts per server (default 20; smoke 2)
  --no-pin             do not pin the servers and the load generator to separate CPUs
  --no-node            skip the Node.js baseline
  --only LIST          run only these parts, comma-separated: load,push,cold,mib
                       (for profiling; the report then has only those tables)
  --events LIST        events per request for the load part (default 1,10,100)
  --mib-limit MIB      address-space limit of the 1 MiB test (default 128; 0: none)
  --report-from FILE   only render a results.json of an earlier run (to --out's
                       report.md, and to --doc when given); runs nothing
  --since EPOCH_SECS   when the whole benchmark started (scripts/bench passes it),
                       for the total time in the report
";

#[derive(Debug, Clone)]
pub struct Opts {
    pub smoke: bool,
    pub bin_dir: PathBuf,
    pub node: String,
    pub node_script: PathBuf,
    pub criterion: Option<PathBuf>,
    pub out: PathBuf,
    pub doc: Option<PathBuf>,
    pub connections: usize,
    pub duration: f64,
    pub warmup: f64,
    pub starts: usize,
    pub pin: bool,
    pub with_node: bool,
    pub only: Option<Vec<String>>,
    pub events: Vec<u64>,
    pub mib_limit: u64,
    pub since: Option<u64>,
    pub report_from: Option<PathBuf>,
}

impl Opts {
    fn part(&self, name: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|p| p == name))
    }
}

fn parse_opts() -> Result<Opts, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let smoke = args.iter().any(|a| a == "--smoke");
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let mut o = Opts {
        smoke,
        bin_dir: exe_dir,
        node: "node".into(),
        node_script: "benches/baseline-node/server.mjs".into(),
        criterion: (!smoke).then(|| "target/criterion".into()),
        out: "target/bench".into(),
        doc: None,
        connections: if smoke { 4 } else { 32 },
        duration: if smoke { 0.3 } else { 5.0 },
        warmup: if smoke { 0.1 } else { 1.0 },
        starts: if smoke { 2 } else { 20 },
        pin: true,
        with_node: true,
        only: None,
        events: vec![1, 10, 100],
        mib_limit: MEMORY_LIMIT_MIB,
        since: None,
        report_from: None,
    };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--smoke" => {}
            "--bin-dir" => o.bin_dir = value(&a)?.into(),
            "--node" => o.node = value(&a)?,
            "--node-script" => o.node_script = value(&a)?.into(),
            "--criterion" => o.criterion = Some(value(&a)?.into()),
            "--out" => o.out = value(&a)?.into(),
            "--doc" => o.doc = Some(value(&a)?.into()),
            "--connections" => o.connections = num(&a, &value(&a)?)?,
            "--duration" => o.duration = num(&a, &value(&a)?)?,
            "--warmup" => o.warmup = num(&a, &value(&a)?)?,
            "--starts" => o.starts = num(&a, &value(&a)?)?,
            "--no-pin" => o.pin = false,
            "--no-node" => o.with_node = false,
            "--report-from" => o.report_from = Some(value(&a)?.into()),
            "--since" => o.since = Some(num(&a, &value(&a)?)?),
            "--mib-limit" => o.mib_limit = num(&a, &value(&a)?)?,
            "--only" => o.only = Some(value(&a)?.split(',').map(str::to_string).collect()),
            "--events" => {
                o.events = value(&a)?
                    .split(',')
                    .map(|n| num(&a, n))
                    .collect::<Result<_, _>>()?
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.connections == 0 || o.starts == 0 || o.duration <= 0.0 || o.duration > 120.0 {
        return Err("--connections and --starts must be ≥ 1, --duration in (0, 120]".into());
    }
    Ok(o)
}

fn num<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{name}: \"{v}\" is not a number"))
}

fn main() -> ExitCode {
    let opts = match parse_opts() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("hermes-bench: {e}");
            }
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some(file) = &opts.report_from {
        return match rerender(&opts, file) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("hermes-bench: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // Two or more CPUs: the servers get all but the last, the load generator
    // and the sinks the last one, so they do not steal each other's time.
    let cpus = procs::online_cpus();
    let (server_cpus, bench_cpus): (Vec<usize>, Vec<usize>) = if opts.pin && cpus >= 2 {
        ((0..cpus - 1).collect(), vec![cpus - 1])
    } else {
        (Vec::new(), Vec::new())
    };
    if let Err(e) = procs::pin_self(&bench_cpus) {
        eprintln!("hermes-bench: cannot pin to CPU {bench_cpus:?}: {e}");
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
    match rt.block_on(run(opts, server_cpus, bench_cpus, cpus)) {
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

/// The events of the Server-to-Server client's README.
const README_EVENTS: [&str; 3] = [
    r#"{"event_name":"purchase","ip_override":"1.2.3.4","language":"en_us"}"#,
    r#"{"event_name":"add_to_cart","currency":"USD","value":7.77,"language":"en_es"}"#,
    r#"{"event_name":"login","user_id":"FI4L21234","viewport_size":"725x345","user_data":{"email_address":"foo@example.com","phone_number":"+15551234567","first_name":"Jane","last_name":"Doe"}}"#,
];

/// A JSON array of `n` README events, in turn.
fn body_of(n: usize) -> Bytes {
    let list: Vec<&str> = README_EVENTS.iter().copied().cycle().take(n).collect();
    Bytes::from(format!("[{}]", list.join(",")))
}

/// As many README events as fit in `max` bytes: `(body, events)`.
fn body_up_to(max: usize) -> (Bytes, usize) {
    let mut s = String::with_capacity(max);
    s.push('[');
    let mut n = 0;
    for e in README_EVENTS.iter().cycle() {
        // `,` or nothing before, `]` after.
        if s.len() + e.len() + 2 > max {
            break;
        }
        if n > 0 {
            s.push(',');
        }
        s.push_str(e);
        n += 1;
    }
    s.push(']');
    (Bytes::from(s), n)
}

/// The items-realtime payload of the README's purchase (what ingest publishes for counters).
const PUSH_PAYLOAD: &str = r#"{"transaction_id":"T1","value":150,"currency":"DKK","items":[{"item_id":"123","item_name":"Blazer","item_category":"Jackets","price":150,"quantity":1},{"item_id":"456","item_name":"T-Shirt","item_category":"Shirts","price":30,"quantity":2}]}"#;
const PUSH_ITEMS: u64 = 2;

fn push_envelope(data_b64: &str, seq: u64) -> Bytes {
    Bytes::from(format!(
        r#"{{"message":{{"data":"{data_b64}","messageId":"bench-{seq}","publishTime":"2026-01-01T00:00:00Z","attributes":{{"event_name":"purchase","source":"s2s"}}}},"subscription":"projects/bench/subscriptions/items-realtime"}}"#
    ))
}

/// The label of `hermes-ingest` driven with `?validate_only=true`.
pub const VALIDATE_ONLY: &str = "hermes-ingest validate_only";

const INGEST_CONFIG: &str = r#"container_id = "hermes"
[[destinations]]
name = "events"
topic = "projects/bench/topics/events"
"#;

struct Env {
    opts: Opts,
    server_cpus: Vec<usize>,
    logs: Arc<Logs>,
    sink: sinks::Sink,
    ok: bool,
}

impl Env {
    fn hermes(&self) -> Spec {
        Spec {
            name: "hermes-ingest",
            program: self.opts.bin_dir.join("hermes-ingest"),
            args: vec![],
            env: vec![
                ("HERMES_CONFIG_TOML".into(), INGEST_CONFIG.into()),
                ("GOOGLE_CLOUD_PROJECT".into(), "bench".into()),
                ("PUBSUB_EMULATOR_HOST".into(), self.sink.host()),
            ],
        }
    }

    fn bare(&self) -> Spec {
        Spec {
            name: "bare-axum",
            program: self.opts.bin_dir.join("bare-axum"),
            args: vec![],
            env: vec![],
        }
    }

    fn node(&self) -> Spec {
        Spec {
            name: "node-baseline",
            program: PathBuf::from(&self.opts.node),
            args: vec![self.opts.node_script.to_string_lossy().into_owned()],
            env: vec![
                ("GOOGLE_CLOUD_PROJECT".into(), "bench".into()),
                ("PUBSUB_EMULATOR_HOST".into(), self.sink.host()),
            ],
        }
    }

    fn counters(&self) -> Spec {
        Spec {
            name: "hermes-counters",
            program: self.opts.bin_dir.join("hermes-counters"),
            args: vec![],
            env: vec![
                ("HERMES_CONFIG_TOML".into(), "[counters]\n".into()),
                ("GOOGLE_CLOUD_PROJECT".into(), "bench".into()),
                ("FIRESTORE_EMULATOR_HOST".into(), self.sink.host()),
            ],
        }
    }

    fn ingest_like(&self) -> Vec<Spec> {
        let mut v = vec![self.bare(), self.hermes()];
        if self.opts.with_node {
            v.push(self.node());
        }
        v
    }

    /// The servers of the load part: the baselines, Hermes, and Hermes with
    /// `?validate_only=true` (everything but the publish call: where the time goes).
    fn load_scenarios(&self) -> Vec<(Spec, &'static str, &'static str)> {
        let mut v = vec![
            (self.bare(), "/", "bare-axum"),
            (self.hermes(), "/", "hermes-ingest"),
            (self.hermes(), "/?validate_only=true", VALIDATE_ONLY),
        ];
        if self.opts.with_node {
            v.push((self.node(), "/", "node-baseline"));
        }
        v
    }

    /// Starts `spec` on a free port and waits until `/healthz` answers.
    async fn start(
        &self,
        spec: &Spec,
        address_space: Option<u64>,
    ) -> Result<procs::Server, String> {
        let spec = spec.clone();
        let cpus = self.server_cpus.clone();
        let logs = Arc::clone(&self.logs);
        blocking(move || {
            let port = procs::free_port().map_err(|e| e.to_string())?;
            let mut server = spec
                .spawn(port, &cpus, address_space, &logs)
                .map_err(|e| format!("cannot start {}: {e}", spec.name))?;
            server.wait_ready(Duration::from_secs(15))?;
            Ok(server)
        })
        .await
    }

    fn load(
        &self,
        server: &procs::Server,
        path: &'static str,
        events: u64,
        body: load::BodyFn,
    ) -> Load {
        Load {
            addr: server.addr(),
            path,
            connections: self.opts.connections,
            warmup: Duration::from_secs_f64(self.opts.warmup),
            duration: Duration::from_secs_f64(self.opts.duration),
            events_per_request: events,
            body,
        }
    }

    /// Runs the load against `server`, with the CPU time both sides used.
    async fn measure(
        &self,
        server: &procs::Server,
        path: &'static str,
        events: u64,
        body: load::BodyFn,
    ) -> LoadResult {
        let me = std::process::id();
        let (s0, b0, m0, t0) = (
            procs::cpu_seconds(server.pid()),
            procs::cpu_seconds(me),
            procs::machine_cpu_seconds(),
            Instant::now(),
        );
        let mut r = self.load(server, path, events, body).run().await;
        let wall = t0.elapsed().as_secs_f64();
        if let (Some(s0), Some(s1)) = (s0, procs::cpu_seconds(server.pid())) {
            r.server_cpu_pct = 100.0 * (s1 - s0) / wall;
            r.server_cpu_us_per_request = 1e6 * (s1 - s0) / r.completed.max(1) as f64;
        }
        let b1 = procs::cpu_seconds(me);
        if let (Some(b0), Some(b1)) = (b0, b1) {
            r.bench_cpu_pct = 100.0 * (b1 - b0) / wall;
        }
        if let (Some((busy0, steal0)), Some((busy1, steal1))) = (m0, procs::machine_cpu_seconds()) {
            let ours = (r.server_cpu_pct + r.bench_cpu_pct) / 100.0 * wall;
            r.other_cpu_pct = (100.0 * ((busy1 - busy0) - ours) / wall).max(0.0);
            r.steal_cpu_pct = 100.0 * (steal1 - steal0) / wall;
        }
        if r.other_cpu_pct > 10.0 {
            eprintln!(
                "  warning: other processes used {:.0}% of a CPU during this scenario",
                r.other_cpu_pct
            );
        }
        r
    }

    fn check(&mut self, what: &str, r: &LoadResult) {
        if r.failures > 0 || r.requests == 0 {
            self.ok = false;
            eprintln!(
                "  FAILED {what}: {} failures, {} requests measured; first: {}",
                r.failures,
                r.requests,
                r.first_failure.as_deref().unwrap_or("-")
            );
        }
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

async fn run(
    opts: Opts,
    server_cpus: Vec<usize>,
    bench_cpus: Vec<usize>,
    cpus: usize,
) -> Result<bool, String> {
    let started = Instant::now();
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    let logs = Arc::new(Logs {
        dir: opts.out.join("logs"),
    });
    std::fs::create_dir_all(&logs.dir).map_err(|e| e.to_string())?;
    for bin in ["hermes-ingest", "hermes-counters", "bare-axum"] {
        if !opts.bin_dir.join(bin).is_file() {
            return Err(format!(
                "{bin} not found next to hermes-bench: build with `cargo build --release -p hermes-ingest -p hermes-counters -p hermes-bench` (or pass --bin-dir)"
            ));
        }
    }
    let mut opts = opts;
    if opts.with_node && !node_works(&opts.node) {
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
        opts.with_node = false;
    }
    // Other work on the machine skews every figure: say so.
    let window = Duration::from_millis(if opts.smoke { 200 } else { 2000 });
    let busy_before = blocking(move || procs::machine_busy(window))
        .await
        .unwrap_or(0.0);
    if busy_before > 0.05 {
        eprintln!(
            "warning: the machine was {:.0}% busy before the run: figures will be low and noisy",
            busy_before * 100.0
        );
    }
    let sink = sinks::start().await.map_err(|e| format!("sink: {e}"))?;
    let mut env = Env {
        opts,
        server_cpus: server_cpus.clone(),
        logs,
        sink,
        ok: true,
    };
    let pinning = if server_cpus.is_empty() {
        "none: servers, load generator and sinks share all CPUs".to_string()
    } else {
        format!(
            "servers on CPU {}, load generator and sinks on CPU {}",
            list(&server_cpus),
            list(&bench_cpus)
        )
    };
    println!(
        "hermes-bench{}: {} connections, {}s warm-up + {}s per scenario; {pinning}",
        if env.opts.smoke { " (smoke)" } else { "" },
        env.opts.connections,
        env.opts.warmup,
        env.opts.duration
    );

    // The answers are what they should be before anything is timed.
    for spec in env.ingest_like() {
        if spec.name == "bare-axum" {
            continue;
        }
        let server = env.start(&spec, None).await?;
        let verdict = probe_ingest(&server, 10).await;
        server.stop();
        verdict.map_err(|e| format!("{}: wrong answer: {e}", spec.name))?;
    }

    let mut results = Results {
        smoke: env.opts.smoke,
        connections: env.opts.connections,
        warmup_s: env.opts.warmup,
        duration_s: env.opts.duration,
        pinning,
        busy_before_pct: busy_before * 100.0,
        machine: Machine::probe(cpus, env.opts.with_node.then_some(env.opts.node.as_str())),
        ..Results::default()
    };

    let events = if env.opts.part("load") {
        env.opts.events.clone()
    } else {
        Vec::new()
    };
    if !events.is_empty() {
        println!("== load: POST / with {events:?} README events per request");
    }
    for n in events {
        let body = body_of(n as usize);
        for (spec, path, label) in env.load_scenarios() {
            let server = env.start(&spec, None).await?;
            let before = sinks::Counts::get(&env.sink.counts.messages);
            let b = body.clone();
            let r = env
                .measure(&server, path, n, Arc::new(move |_| b.clone()))
                .await;
            let published = sinks::Counts::get(&env.sink.counts.messages) - before;
            let rss = server.peak_rss_kib().unwrap_or(0);
            server.stop();
            println!(
                "  {:>3} ev/req {:<14} {:>9.0} req/s {:>10.0} events/s  p50 {:>7.2} ms  p99 {:>7.2} ms  peak RSS {:>6.1} MiB  CPU {:>6.1} µs/req (server {:.0}%, load generator {:.0}%)",
                n,
                label,
                r.requests_per_sec,
                r.events_per_sec,
                r.p50_ms,
                r.p99_ms,
                rss as f64 / 1024.0,
                r.server_cpu_us_per_request,
                r.server_cpu_pct,
                r.bench_cpu_pct
            );
            env.check(&format!("{label} at {n} events/request"), &r);
            let publishes = spec.name != "bare-axum" && path == "/";
            if publishes && published < r.requests * n {
                env.ok = false;
                eprintln!(
                    "  FAILED {}: the sink got {published} messages for {} requests of {n} events",
                    label, r.requests
                );
            }
            results.load.push(Scenario {
                server: label.to_string(),
                events_per_request: n,
                result: r,
                peak_rss_kib: rss,
                sink_messages: published,
            });
        }
        print_ratios(&results, n);
    }

    let data = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(PUSH_PAYLOAD)
    };
    let push_specs = if env.opts.part("push") {
        println!("== push path: hermes-counters → local Firestore sink");
        vec![env.bare(), env.counters()]
    } else {
        Vec::new()
    };
    for spec in push_specs {
        let server = env.start(&spec, None).await?;
        let commits_before = sinks::Counts::get(&env.sink.counts.commits);
        let d = data.clone();
        let r = env
            .measure(&server, "/", 1, Arc::new(move |seq| push_envelope(&d, seq)))
            .await;
        let commits = sinks::Counts::get(&env.sink.counts.commits) - commits_before;
        let rss = server.peak_rss_kib().unwrap_or(0);
        server.stop();
        println!(
            "  {:<16} {:>9.0} messages/s {:>9.0} items/s  p50 {:>6.2} ms  p99 {:>6.2} ms  peak RSS {:>6.1} MiB  CPU {:>6.1} µs/message (server {:.0}%, load generator {:.0}%)",
            spec.name,
            r.requests_per_sec,
            r.requests_per_sec * PUSH_ITEMS as f64,
            r.p50_ms,
            r.p99_ms,
            rss as f64 / 1024.0,
            r.server_cpu_us_per_request,
            r.server_cpu_pct,
            r.bench_cpu_pct
        );
        env.check(&format!("{} push", spec.name), &r);
        if spec.name == "hermes-counters" && commits < r.requests {
            env.ok = false;
            eprintln!(
                "  FAILED hermes-counters: {commits} commits for {} acknowledged messages",
                r.requests
            );
        }
        results.push.push(Push {
            server: spec.name.to_string(),
            items_per_message: PUSH_ITEMS,
            result: r,
            peak_rss_kib: rss,
            commits,
        });
    }

    let mut cold_specs = Vec::new();
    if env.opts.part("cold") {
        println!(
            "== cold start: exec → first 200 to POST /, {} starts each",
            env.opts.starts
        );
        cold_specs = env.ingest_like();
        cold_specs.push(env.counters());
    }
    for spec in cold_specs {
        let body = if spec.name == "hermes-counters" {
            push_envelope(&data, 0)
        } else {
            body_of(1)
        };
        let mut samples = Vec::new();
        for i in 0..env.opts.starts {
            let body = if spec.name == "hermes-counters" {
                push_envelope(&data, 1_000_000_000 + i as u64)
            } else {
                body.clone()
            };
            let one = spec.clone();
            let cpus = env.server_cpus.clone();
            let logs = Arc::clone(&env.logs);
            let t = blocking(move || cold_start(&one, &cpus, &logs, &body)).await;
            match t {
                Ok(ms) => samples.push(ms),
                Err(e) => {
                    env.ok = false;
                    eprintln!("  FAILED cold start of {}: {e}", spec.name);
                }
            }
        }
        let c = ColdStart::from_samples(spec.name, samples);
        println!(
            "  {:<16} median {:>6.1} ms  min {:>6.1} ms  max {:>6.1} ms",
            c.server, c.median_ms, c.min_ms, c.max_ms
        );
        results.cold.push(c);
    }

    let (big, big_events) = body_up_to(1_048_576);
    let mib_specs = if env.opts.part("mib") {
        println!("== 1 MiB body (max_body_bytes) under a 128 MiB address-space limit");
        env.ingest_like()
    } else {
        Vec::new()
    };
    for spec in mib_specs {
        let r = one_mib(&env, &spec, &big, big_events).await;
        let phases = r.limited.iter().chain(std::iter::once(&r.unlimited));
        for p in phases {
            println!(
                "  {:<16} address-space limit {:<8} statuses {:?}, first in {:>6.1} ms, peak RSS after one {:>6.1} MiB, after all {:>6.1} MiB{}",
                r.server,
                p.address_space_limit_mib
                    .map(|m| format!("{m} MiB"))
                    .unwrap_or_else(|| "none".into()),
                p.statuses,
                p.first_latency_ms,
                p.peak_rss_after_one_kib as f64 / 1024.0,
                p.peak_rss_kib as f64 / 1024.0,
                p.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default()
            );
            if !p.ok() {
                env.ok = false;
                eprintln!("  FAILED {}: 1 MiB body not handled", r.server);
            }
        }
        results.one_mib.push(r);
    }

    results.binaries = binaries(&env.opts.bin_dir, &env.opts.out);
    results.criterion = env
        .opts
        .criterion
        .as_deref()
        .map(read_criterion)
        .unwrap_or_default();
    results.total_seconds = started.elapsed().as_secs_f64();
    results.whole_seconds = env.opts.since.and_then(|since| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs();
        now.checked_sub(since).map(|s| s as f64)
    });
    results.bad_sink_requests = sinks::Counts::get(&env.sink.counts.bad_requests);
    if results.bad_sink_requests > 0 {
        env.ok = false;
        eprintln!(
            "  FAILED: the sinks refused {} malformed requests",
            results.bad_sink_requests
        );
    }

    let markdown = render(&results);
    write(&env.opts.out.join("report.md"), &markdown)?;
    let json = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
    write(&env.opts.out.join("results.json"), &json)?;
    if let Some(doc) = &env.opts.doc {
        replace_generated(doc, &markdown)?;
        println!("updated {}", doc.display());
    }
    println!("{}", targets_summary(&results));
    println!(
        "wrote {}/report.md and results.json ({:.0} s)",
        env.opts.out.display(),
        results.total_seconds
    );
    Ok(env.ok)
}

/// `--report-from`: the report of an earlier run, rendered again.
fn rerender(opts: &Opts, file: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let results: Results =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let markdown = render(&results);
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    write(&opts.out.join("report.md"), &markdown)?;
    if let Some(doc) = &opts.doc {
        replace_generated(doc, &markdown)?;
        println!("updated {}", doc.display());
    }
    println!("{}", targets_summary(&results));
    Ok(())
}

fn list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn node_works(node: &str) -> bool {
    std::process::Command::new(node)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn print_ratios(results: &Results, n: u64) {
    let get = |name: &str| {
        results
            .load
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

/// One POST of `n` events: 200 and one message id per event.
async fn probe_ingest(server: &procs::Server, n: usize) -> Result<(), String> {
    let mut sender = load::connect(server.addr())
        .await
        .map_err(|e| e.to_string())?;
    let (status, body) = load::post(&mut sender, body_of(n)).await?;
    check_ingest_answer(status, &body, n)
}

fn check_ingest_answer(status: u16, body: &[u8], n: usize) -> Result<(), String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let ids = v["messageIds"].as_array().map(Vec::len).unwrap_or(0);
    let all_published = v["messageIds"].as_array().is_some_and(|a| {
        a.iter()
            .all(|m| m.get("events").is_some_and(Value::is_string))
    });
    if status != 200 || v["status"] != 200 || ids != n || !all_published {
        return Err(format!(
            "HTTP {status}, {ids} message ids for {n} events: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ));
    }
    Ok(())
}

/// Exec to the first 200 answer to `POST /` (polling `connect` every 100 µs), in ms.
fn cold_start(spec: &Spec, cpus: &[usize], logs: &Logs, body: &[u8]) -> Result<f64, String> {
    let port = procs::free_port().map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let mut server = spec
        .spawn(port, cpus, None, logs)
        .map_err(|e| e.to_string())?;
    let addr = server.addr();
    let result = loop {
        match std::net::TcpStream::connect(addr) {
            Ok(mut stream) => match procs::request_on(&mut stream, "POST", "/", body) {
                Ok((200, _)) => break Ok(t0.elapsed().as_secs_f64() * 1000.0),
                Ok((status, b)) => {
                    break Err(format!(
                        "HTTP {status}: {}",
                        String::from_utf8_lossy(&b[..b.len().min(200)])
                    ))
                }
                Err(e) => break Err(e.to_string()),
            },
            Err(_) => {
                if let Some(status) = server.exited() {
                    break Err(format!("exited ({status})"));
                }
                if t0.elapsed() > Duration::from_secs(15) {
                    break Err("no answer after 15 s".into());
                }
                std::thread::sleep(Duration::from_micros(100));
            }
        }
    };
    server.stop();
    result
}

const MIB: u64 = 1 << 20;
const MEMORY_LIMIT_MIB: u64 = 128;

/// The 1 MiB body, in two fresh processes:
///
/// - under `RLIMIT_AS` = `--mib-limit` (128 MiB) with `MALLOC_ARENA_MAX=1`: an
///   address-space limit is stricter than a memory limit (Cloud Run's, a
///   cgroup's), which counts resident pages; with one arena, glibc does not
///   reserve 64 MiB of address space per thread. Node is not run under it: V8
///   reserves gigabytes of address space at start;
/// - as deployed, without either: the peak RSS.
///
/// Each phase sends one request, then 4 at once, and reads the peak RSS after each.
async fn one_mib(env: &Env, spec: &Spec, body: &Bytes, events: usize) -> OneMib {
    let limit = (spec.name != "node-baseline" && env.opts.mib_limit > 0)
        .then_some(env.opts.mib_limit * MIB);
    OneMib {
        server: spec.name.to_string(),
        body_bytes: body.len(),
        events,
        limited: match limit {
            Some(l) => Some(mib_phase(env, spec, body, events, Some(l), 4).await),
            None => None,
        },
        unlimited: mib_phase(env, spec, body, events, None, 4).await,
    }
}

async fn mib_phase(
    env: &Env,
    spec: &Spec,
    body: &Bytes,
    events: usize,
    limit: Option<u64>,
    concurrent: usize,
) -> MibPhase {
    let mut r = MibPhase {
        address_space_limit_mib: limit.map(|l| l / MIB),
        ids_ok: true,
        ..MibPhase::default()
    };
    let mut spec = spec.clone();
    if limit.is_some() {
        // One malloc arena: glibc otherwise reserves 64 MiB of address space per
        // thread that allocates, which the limit would count as if it were used.
        spec.env.push(("MALLOC_ARENA_MAX".into(), "1".into()));
    }
    let server = match env.start(&spec, limit).await {
        Ok(s) => s,
        Err(e) => {
            r.ids_ok = false;
            r.note = Some(e);
            return r;
        }
    };
    r.rss_idle_kib = server.rss_kib().unwrap_or(0);
    let check = spec.name != "bare-axum";
    let send = |addr, body: Bytes| async move {
        let mut sender = load::connect(addr).await.map_err(|e| e.to_string())?;
        let t0 = Instant::now();
        let (status, answer) = load::post(&mut sender, body).await?;
        let ok = !check || check_ingest_answer(status, &answer, events).is_ok();
        Ok::<_, String>((status, ok, t0.elapsed().as_secs_f64() * 1000.0))
    };
    match send(server.addr(), body.clone()).await {
        Ok((status, ok, ms)) => {
            r.statuses.push(status);
            r.ids_ok &= ok;
            r.first_latency_ms = ms;
        }
        Err(e) => {
            r.statuses.push(0);
            r.ids_ok = false;
            r.note = Some(e);
        }
    }
    r.peak_rss_after_one_kib = server.peak_rss_kib().unwrap_or(0);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrent {
        tasks.spawn(send(server.addr(), body.clone()));
    }
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok((status, ok, _))) => {
                r.statuses.push(status);
                r.ids_ok &= ok;
            }
            Ok(Err(e)) => {
                r.statuses.push(0);
                r.ids_ok = false;
                r.note = Some(e);
            }
            Err(e) => r.note = Some(e.to_string()),
        }
    }
    r.peak_rss_kib = server.peak_rss_kib().unwrap_or(0);
    r.peak_address_space_kib = procs::status_field(server.pid(), "VmPeak:").unwrap_or(0);
    let mut server = server;
    if let Some(status) = server.exited() {
        r.ids_ok = false;
        r.note = Some(format!("exited: {status}"));
    }
    server.stop();
    r
}

/// Sizes of the release binaries, and of a stripped copy when `strip` is installed.
fn binaries(bin_dir: &Path, out: &Path) -> Vec<Binary> {
    ["hermes-ingest", "hermes-counters", "bare-axum"]
        .iter()
        .filter_map(|name| {
            let path = bin_dir.join(name);
            let bytes = std::fs::metadata(&path).ok()?.len();
            let copy = out.join(format!("{name}.stripped"));
            let stripped = std::process::Command::new("strip")
                .arg("-o")
                .arg(&copy)
                .arg(&path)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|_| std::fs::metadata(&copy).ok())
                .map(|m| m.len());
            let _ = std::fs::remove_file(&copy);
            Some(Binary {
                name: name.to_string(),
                bytes,
                stripped_bytes: stripped,
            })
        })
        .collect()
}
