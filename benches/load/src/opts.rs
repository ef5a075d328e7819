//! The command line: its flags, their defaults (smaller with `--smoke`), and
//! which parts `--only` leaves in.

use std::path::{Path, PathBuf};

pub const USAGE: &str = "\
usage: hermes-bench [--smoke] [options]

  --smoke              seconds-long run with tiny counts (CI): checks everything runs
  --bin-dir DIR        where hermes-ingest, hermes-counters, hermes-notify, hermes-dashboard,
                       bare-axum are
                       (default: this executable's directory)
  --node BIN           the Node.js executable (default: node)
  --node-dir DIR       the Node.js baselines (server.mjs, server-official.mjs and their
                       node_modules, from `npm ci`; default: benches/baseline-node)
  --criterion DIR      criterion's output to include (default: target/criterion;
                       none with --smoke)
  --out DIR            results.json, report.md, server logs (default: target/bench)
  --doc FILE           also replace the generated section of FILE (docs/PERFORMANCE.md)
  --connections N      concurrent connections of the load phase (default 32; smoke 4)
  --sweep LIST         connections of the concurrency sweep (default 32,80,250,1000;
                       smoke 4,40)
  --sink-latency-ms MS latency the sinks add to every call in the sweep and the
                       open-loop phase (default 20; the load phase always has 0)
  --open-rate REQ/S    the open-loop arrival rate (default: --open-share of the
                       official-client Node baseline's best closed-loop requests/s
                       in the sweep of the same run)
  --open-share X       default 0.5
  --duration SECS      measured seconds per scenario (default 3; smoke 0.3);
                       --seconds is the same
  --warmup SECS        warm-up seconds per scenario (default 1; smoke 0.1)
  --repeats N          runs of every scenario, each on a fresh process (default 3; smoke 1)
  --starts N           cold starts per server (default 20; smoke 2)
  --no-pin             do not pin the servers and the load generator to separate CPUs
  --no-node            skip the Node.js baselines
  --only LIST          run only these parts, comma-separated:
                       load,sweep,open,push,cold,mib,overload,dashboard
                       (for profiling; the report then has only those tables)
  --events LIST        events per request for the load part (default 1,10,100)
  --mib-limit MIB      address-space limit of the 1 MiB test (default 128; 0: none)
  --overload-limit MIB address-space limit of the overload test (default 256)
  --report-from FILE   only render a results.json of an earlier run (to --out's
                       report.md, and to --doc when given); runs nothing
  --since EPOCH_SECS   when the whole benchmark started (scripts/bench passes it),
                       for the total time in the report
";

/// The most connections one scenario may open (below hermes-ingest's default
/// `max_connections`, 1,024).
pub const MAX_CONNECTIONS: usize = 1_000;

/// The default of `--mib-limit`: the target is a 1 MiB body inside 128 MB.
const MIB_LIMIT: u64 = 128;

#[derive(Debug, Clone)]
pub struct Opts {
    pub smoke: bool,
    pub bin_dir: PathBuf,
    pub node: String,
    pub node_dir: PathBuf,
    pub criterion: Option<PathBuf>,
    pub out: PathBuf,
    pub doc: Option<PathBuf>,
    pub connections: usize,
    pub sweep: Vec<usize>,
    pub sink_latency_ms: u64,
    pub open_rate: Option<f64>,
    pub open_share: f64,
    pub repeats: usize,
    pub duration: f64,
    pub warmup: f64,
    pub starts: usize,
    pub pin: bool,
    pub with_node: bool,
    /// Whether the official client's `node_modules` are there (checked at start).
    pub with_node_official: bool,
    pub only: Option<Vec<String>>,
    pub events: Vec<u64>,
    pub mib_limit: u64,
    pub overload_limit: u64,
    pub since: Option<u64>,
    pub report_from: Option<PathBuf>,
}

impl Opts {
    /// The options of this process's arguments; `Err("")` for `--help`.
    pub fn parse() -> Result<Self, String> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        // Known first: the other defaults depend on it.
        let smoke = args.iter().any(|a| a == "--smoke");
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."));
        let mut o = Opts {
            smoke,
            bin_dir: exe_dir,
            node: "node".into(),
            node_dir: "benches/baseline-node".into(),
            criterion: (!smoke).then(|| "target/criterion".into()),
            out: "target/bench".into(),
            doc: None,
            connections: if smoke { 4 } else { 32 },
            sweep: if smoke {
                vec![4, 40]
            } else {
                vec![32, 80, 250, 1000]
            },
            sink_latency_ms: 20,
            open_rate: None,
            open_share: 0.5,
            repeats: if smoke { 1 } else { 3 },
            duration: if smoke { 0.3 } else { 3.0 },
            warmup: if smoke { 0.1 } else { 1.0 },
            starts: if smoke { 2 } else { 20 },
            pin: true,
            with_node: true,
            with_node_official: true,
            only: None,
            events: vec![1, 10, 100],
            mib_limit: MIB_LIMIT,
            overload_limit: 256,
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
                "--node-dir" => o.node_dir = value(&a)?.into(),
                "--criterion" => o.criterion = Some(value(&a)?.into()),
                "--out" => o.out = value(&a)?.into(),
                "--doc" => o.doc = Some(value(&a)?.into()),
                "--connections" => o.connections = num(&a, &value(&a)?)?,
                "--duration" | "--seconds" => o.duration = num(&a, &value(&a)?)?,
                "--sweep" => o.sweep = list(&a, &value(&a)?)?,
                "--sink-latency-ms" => o.sink_latency_ms = num(&a, &value(&a)?)?,
                "--open-rate" => o.open_rate = Some(num(&a, &value(&a)?)?),
                "--open-share" => o.open_share = num(&a, &value(&a)?)?,
                "--repeats" => o.repeats = num(&a, &value(&a)?)?,
                "--warmup" => o.warmup = num(&a, &value(&a)?)?,
                "--starts" => o.starts = num(&a, &value(&a)?)?,
                "--no-pin" => o.pin = false,
                "--no-node" => o.with_node = false,
                "--report-from" => o.report_from = Some(value(&a)?.into()),
                "--since" => o.since = Some(num(&a, &value(&a)?)?),
                "--mib-limit" => o.mib_limit = num(&a, &value(&a)?)?,
                "--overload-limit" => o.overload_limit = num(&a, &value(&a)?)?,
                "--only" => o.only = Some(value(&a)?.split(',').map(str::to_string).collect()),
                "--events" => o.events = list(&a, &value(&a)?)?,
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown argument {other}")),
            }
        }
        if o.connections == 0 || o.starts == 0 || o.duration <= 0.0 || o.duration > 120.0 {
            return Err("--connections and --starts must be ≥ 1, --duration in (0, 120]".into());
        }
        if o.repeats == 0 || o.repeats > 20 {
            return Err("--repeats must be in 1..=20".into());
        }
        // Beyond this the load generator runs out of ports and file descriptors,
        // and hermes-ingest answers 503 past its max_connections (1,024 by default).
        if o.sweep.iter().any(|&c| c == 0 || c > MAX_CONNECTIONS) || o.connections > MAX_CONNECTIONS
        {
            return Err(format!("connections must be in 1..={MAX_CONNECTIONS}"));
        }
        if !(o.open_share > 0.0 && o.open_share <= 1.0)
            || o.open_rate.is_some_and(|r| !(r > 0.0 && r <= 1e6))
        {
            return Err("--open-share must be in (0, 1], --open-rate in (0, 1000000]".into());
        }
        if o.sink_latency_ms > 10_000 {
            return Err("--sink-latency-ms must be at most 10000".into());
        }
        Ok(o)
    }

    /// Whether the part `name` (`load`, `sweep`, `open`, `push`, `cold`, `mib`,
    /// `overload`, `dashboard`) runs.
    pub fn part(&self, name: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|p| p == name))
    }
}

impl Opts {
    /// Whether any part but the dashboard's runs (those need the other servers).
    pub fn server_parts(&self) -> bool {
        ["load", "sweep", "open", "push", "cold", "mib", "overload"]
            .iter()
            .any(|p| self.part(p))
    }
}

fn list<T: std::str::FromStr>(name: &str, v: &str) -> Result<Vec<T>, String> {
    v.split(',').map(|n| num(name, n)).collect()
}

fn num<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{name}: \"{v}\" is not a number"))
}
