//! The results of one run, the criterion figures, and their Markdown: the
//! generated section of `docs/PERFORMANCE.md`.

use crate::format::{int, median, mibf, pct, table, table_with, yes, Spread};
use crate::load::LoadResult;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Results {
    pub smoke: bool,
    pub connections: usize,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub pinning: String,
    /// How busy the machine was (all CPUs) in the seconds before the run.
    pub busy_before_pct: f64,
    pub machine: Machine,
    pub criterion: Vec<Bench>,
    /// Runs of every scenario, each on a fresh process.
    #[serde(default)]
    pub repeats: usize,
    /// The latency the sinks added in the sweep and the open loop, ms.
    #[serde(default)]
    pub sink_latency_ms: u64,
    pub load: Vec<Scenario>,
    #[serde(default)]
    pub sweep: Vec<Scenario>,
    #[serde(default)]
    pub open: Vec<Scenario>,
    pub push: Vec<Scenario>,
    pub cold: Vec<ColdStart>,
    pub one_mib: Vec<OneMib>,
    #[serde(default)]
    pub overload: Option<Overload>,
    /// The dashboard at shop scale (#24).
    #[serde(default)]
    pub dashboard: Option<crate::dashboard_scale::DashboardScale>,
    pub binaries: Vec<Binary>,
    pub bad_sink_requests: u64,
    /// This program's run.
    pub total_seconds: f64,
    /// The whole `scripts/bench` run (builds and criterion included), when known.
    pub whole_seconds: Option<f64>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub cpus: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub os: String,
    pub rustc: String,
    pub node: String,
    pub date: String,
}

impl Machine {
    pub fn probe(cpus: usize, node: Option<&str>) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: f64 = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let os = std::fs::read_to_string("/etc/os-release")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default();
        Self {
            cpu,
            cpus,
            memory_gib: memory_kib / (1024.0 * 1024.0),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
            os,
            rustc: command_line("rustc", &["--version"]),
            node: node
                .map(|n| command_line(n, &["--version"]))
                .unwrap_or_else(|| "not run".into()),
            date: today(),
        }
    }
}

fn command_line(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Seconds since the Unix epoch, now.
pub fn unix_secs() -> Option<u64> {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since_epoch.ok().map(|d| d.as_secs())
}

/// Today's UTC date, `YYYY-MM-DD`.
fn today() -> String {
    let now = hermes_core::time::format_timestamp(std::time::SystemTime::now());
    now.get(..10).unwrap_or_default().to_string()
}

/// One scenario of a phase (`load`, `sweep`, `open`, `push`): a server under
/// one load, run `--repeats` times on a fresh process each.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Scenario {
    pub phase: String,
    /// The report's label (`hermes-ingest`, `hermes-ingest validate_only`, `node-official`…).
    pub server: String,
    /// Events per request (push: items per message).
    pub events_per_request: u64,
    /// Closed loop: connections; open loop: 0.
    pub connections: usize,
    /// The latency the sinks added to every call, ms.
    pub sink_latency_ms: u64,
    /// Open loop: requests per second.
    pub open_rate: Option<f64>,
    /// Push: the documents the items are spread over.
    pub documents: Option<u64>,
    /// Push: whether the items are in the catalogue (`hit`) or not (`miss`).
    #[serde(default)]
    pub catalog: Option<String>,
    pub runs: Vec<Run>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Run {
    pub result: LoadResult,
    pub peak_rss_kib: u64,
    /// How much the sink's counter grew (messages; push: commits), warm-up included.
    pub sink_delta: u64,
}

impl Scenario {
    fn values(&self, f: impl Fn(&Run) -> f64) -> Vec<f64> {
        let mut v: Vec<f64> = self.runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v
    }

    /// The median over the runs of `f`.
    pub fn median(&self, f: impl Fn(&Run) -> f64) -> f64 {
        median(&self.values(f))
    }

    /// `(median, min, max)` over the runs of `f`.
    pub fn spread(&self, f: impl Fn(&Run) -> f64) -> Spread {
        let v = self.values(f);
        Spread {
            median: median(&v),
            min: v.first().copied().unwrap_or(0.0),
            max: v.last().copied().unwrap_or(0.0),
            n: v.len(),
        }
    }

    pub fn failures(&self) -> u64 {
        self.runs.iter().map(|r| r.result.failures).sum()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ColdStart {
    pub server: String,
    pub samples_ms: Vec<f64>,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
}

impl ColdStart {
    pub fn from_samples(server: &str, mut samples: Vec<f64>) -> Self {
        samples.sort_by(f64::total_cmp);
        let median = match samples.len() {
            0 => 0.0,
            n if n % 2 == 1 => samples[n / 2],
            n => (samples[n / 2 - 1] + samples[n / 2]) / 2.0,
        };
        Self {
            server: server.to_string(),
            median_ms: median,
            min_ms: samples.first().copied().unwrap_or(0.0),
            max_ms: samples.last().copied().unwrap_or(0.0),
            samples_ms: samples,
        }
    }
}

/// The overload phase (overload.rs).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Overload {
    pub address_space_limit_mib: u64,
    pub clients: usize,
    pub seconds: f64,
    pub half_open: usize,
    pub wrong_body_events: usize,
    pub flood: Vec<OverloadRound>,
    pub slowloris: Vec<OverloadRound>,
    pub note: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct OverloadRound {
    /// Answers to the big bodies, by status (0: no answer).
    pub statuses: std::collections::BTreeMap<u16, u64>,
    pub share_503: f64,
    pub peak_rss_kib: u64,
    pub peak_address_space_kib: u64,
    pub survived: bool,
    pub small_idle_p99_ms: f64,
    pub small_loaded_p99_ms: f64,
    pub small_sent: usize,
    pub small_answered: usize,
}

impl OverloadRound {
    /// The small requests' p99 under load over their p99 on the idle server.
    pub fn ratio(&self) -> f64 {
        self.small_loaded_p99_ms / self.small_idle_p99_ms.max(1e-3)
    }

    /// Every big body was answered 2xx, 4xx or 503.
    pub fn statuses_ok(&self) -> bool {
        self.statuses
            .keys()
            .all(|&s| (200..500).contains(&s) || s == 503)
    }
}

/// The overload tables: one row per round, then min–max.
pub fn render_overload(o: &Overload) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n### Overload\n\n`hermes-ingest` under a {} MiB address-space limit (`RLIMIT_AS`, `MALLOC_ARENA_MAX=1`), {} clients each sending 1 MiB bodies back to back for {} s (half of them {} events of wrong types each, the largest answer; half a valid 1 MiB that is published), while a prober sends small requests one after another; its p99 is compared with its p99 on the idle server just before, in the same round.\n",
        o.address_space_limit_mib, o.clients, o.seconds, o.wrong_body_events
    );
    let _ = writeln!(s, "| round | big-body answers by status | 503 share | peak RSS | peak address space | survived | small p99 idle | small p99 under load | ratio |");
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
    for (i, r) in o.flood.iter().enumerate() {
        let statuses: Vec<String> = r
            .statuses
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let _ = writeln!(
            s,
            "| {} | {} | {:.1}% | {:.1} MiB | {:.0} MiB | {} | {:.2} ms | {:.2} ms | ×{:.1} |",
            i + 1,
            statuses.join(", "),
            r.share_503 * 100.0,
            r.peak_rss_kib as f64 / 1024.0,
            r.peak_address_space_kib as f64 / 1024.0,
            if r.survived { "yes" } else { "**no**" },
            r.small_idle_p99_ms,
            r.small_loaded_p99_ms,
            r.ratio()
        );
    }
    let _ = writeln!(
        s,
        "\nSlowloris: {} connections each holding half a header open, on a server without a memory limit; the prober's requests meanwhile.\n",
        o.half_open
    );
    let _ = writeln!(s, "| round | small requests answered | small p99 idle | small p99 with the half-open connections | ratio | peak RSS |");
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for (i, r) in o.slowloris.iter().enumerate() {
        let _ = writeln!(
            s,
            "| {} | {} of {} | {:.2} ms | {:.2} ms | ×{:.1} | {:.1} MiB |",
            i + 1,
            r.small_answered,
            r.small_sent,
            r.small_idle_p99_ms,
            r.small_loaded_p99_ms,
            r.ratio(),
            r.peak_rss_kib as f64 / 1024.0
        );
    }
    let spread = |v: Vec<f64>| {
        let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = v.iter().cloned().fold(0.0, f64::max);
        if v.is_empty() {
            "—".to_string()
        } else {
            format!("×{min:.1}–×{max:.1}")
        }
    };
    let _ = writeln!(
        s,
        "\nSmall-request p99 ratio, min–max over the rounds: {} under the flood, {} under slowloris.",
        spread(o.flood.iter().map(OverloadRound::ratio).collect()),
        spread(o.slowloris.iter().map(OverloadRound::ratio).collect())
    );
    if let Some(n) = &o.note {
        let _ = writeln!(s, "\nNote: {n}");
    }
    s
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct OneMib {
    pub server: String,
    pub body_bytes: usize,
    pub events: usize,
    /// One request under an address-space limit (not for Node).
    pub limited: Option<MibPhase>,
    /// No address-space limit: one request, then 4 at once.
    pub unlimited: MibPhase,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct MibPhase {
    pub address_space_limit_mib: Option<u64>,
    /// Every answer's status, in order (0: no answer).
    pub statuses: Vec<u16>,
    pub first_latency_ms: f64,
    /// One message id per event in every answer (always true for bare-axum).
    pub ids_ok: bool,
    pub rss_idle_kib: u64,
    pub peak_rss_after_one_kib: u64,
    pub peak_rss_kib: u64,
    /// `VmPeak`: the most address space the process had mapped.
    pub peak_address_space_kib: u64,
    pub note: Option<String>,
}

impl MibPhase {
    pub fn ok(&self) -> bool {
        self.ids_ok && !self.statuses.is_empty() && self.statuses.iter().all(|&s| s == 200)
    }

    /// The address-space limit, as the terminal and the table say it.
    pub fn limit_label(&self) -> String {
        self.address_space_limit_mib
            .map(|l| format!("{l} MiB"))
            .unwrap_or_else(|| "none".into())
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Binary {
    pub name: String,
    pub bytes: u64,
    pub stripped_bytes: Option<u64>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Bench {
    pub id: String,
    pub elements: Option<u64>,
    /// Criterion's estimate of the time per iteration (slope, else mean), ns.
    pub ns: f64,
    /// Its 95% confidence interval, ns.
    pub ns_low: f64,
    pub ns_high: f64,
}

impl Bench {
    pub fn per_sec(&self) -> Option<f64> {
        self.elements.map(|e| e as f64 * 1e9 / self.ns)
    }
}

/// Every `*/new/benchmark.json` + `estimates.json` under criterion's directory.
pub fn read_criterion(dir: &Path) -> Vec<Bench> {
    let mut out = Vec::new();
    walk(dir, &mut out, 0);
    out.sort_by_key(|b| order_key(&b.id));
    out
}

fn order_key(id: &str) -> (String, u64, String) {
    let (group, rest) = id.split_once('/').unwrap_or((id, ""));
    let rank = match group {
        "schema" => "0",
        "hermes_encode" => "1",
        "request_path" => "2",
        other => other,
    };
    (
        rank.to_string(),
        rest.parse().unwrap_or(0),
        rest.to_string(),
    )
}

fn walk(dir: &Path, out: &mut Vec<Bench>, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            if let Some(b) = read_bench(&path) {
                out.push(b);
            }
        } else if depth < 6 && path.file_name().is_some_and(|n| n != "report") {
            walk(&path, out, depth + 1);
        }
    }
}

fn read_bench(dir: &Path) -> Option<Bench> {
    let read = |f: &str| -> Option<Value> {
        serde_json::from_str(&std::fs::read_to_string(dir.join(f)).ok()?).ok()
    };
    let meta = read("benchmark.json")?;
    let est = read("estimates.json")?;
    let pick = if est["slope"].is_object() {
        &est["slope"]
    } else {
        &est["mean"]
    };
    Some(Bench {
        id: meta["full_id"].as_str()?.to_string(),
        elements: meta["throughput"]["Elements"].as_u64(),
        ns: pick["point_estimate"].as_f64()?,
        ns_low: pick["confidence_interval"]["lower_bound"]
            .as_f64()
            .unwrap_or(f64::NAN),
        ns_high: pick["confidence_interval"]["upper_bound"]
            .as_f64()
            .unwrap_or(f64::NAN),
    })
}

pub const BEGIN: &str = "<!-- BEGIN GENERATED by scripts/bench: do not edit by hand -->";
pub const END: &str = "<!-- END GENERATED -->";

/// Replaces the text between the markers of `doc` with `section`.
pub fn replace_generated(doc: &Path, section: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(doc).map_err(|e| format!("{}: {e}", doc.display()))?;
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        return Err(format!(
            "{}: the markers {BEGIN} / {END} are missing",
            doc.display()
        ));
    };
    if e < b {
        return Err(format!("{}: the markers are out of order", doc.display()));
    }
    let new = format!(
        "{}{BEGIN}\n\n{}\n{}",
        &text[..b],
        section.trim_end(),
        &text[e..]
    );
    std::fs::write(doc, new).map_err(|e| format!("{}: {e}", doc.display()))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn dur(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// Other processes' CPU use during a scenario (and the hypervisor's steal, when any).
fn other(r: &LoadResult) -> String {
    let mut s = format!("{:.0}%", r.other_cpu_pct);
    if r.steal_cpu_pct >= 1.0 {
        s.push_str(&format!(" (+{:.0}% stolen)", r.steal_cpu_pct));
    }
    s
}

impl Results {
    /// The scenario of `phase` for `server` at `n` events per request and
    /// `connections` (`None`: any).
    fn find(
        &self,
        phase: &str,
        server: &str,
        n: u64,
        connections: Option<usize>,
    ) -> Option<&Scenario> {
        let list = match phase {
            "load" => &self.load,
            "sweep" => &self.sweep,
            "open" => &self.open,
            _ => &self.push,
        };
        list.iter().find(|s| {
            s.server == server
                && s.events_per_request == n
                && connections.is_none_or(|c| s.connections == c)
                && !s.runs.is_empty()
        })
    }
    fn cold(&self, server: &str) -> Option<&ColdStart> {
        self.cold.iter().find(|c| c.server == server)
    }
    fn bench(&self, id: &str) -> Option<&Bench> {
        self.criterion.iter().find(|b| b.id == id)
    }
    fn binary(&self, name: &str) -> Option<&Binary> {
        self.binaries.iter().find(|b| b.name == name)
    }
}

/// The Node.js baseline the targets compare with: Google's official client.
const NODE: &str = "node-official";
const HERMES: &str = "hermes-ingest";
const BARE: &str = "bare-axum";

fn rps(r: &Run) -> f64 {
    r.result.requests_per_sec
}
fn eps(r: &Run) -> f64 {
    r.result.events_per_sec
}
fn cpu_event(r: &Run) -> f64 {
    r.result.server_cpu_us_per_event
}
fn p99(r: &Run) -> f64 {
    r.result.p99_ms
}
fn rss(r: &Run) -> f64 {
    r.peak_rss_kib as f64 / 1024.0
}

fn x(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}×")
    } else if v >= 1.0 {
        format!("{v:.1}×")
    } else {
        format!("{v:.2}×")
    }
}

fn ms(v: f64) -> String {
    format!("{v:.2} ms")
}
fn us(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} µs")
    } else {
        format!("{v:.2} µs")
    }
}

fn events(n: u64) -> String {
    format!("{n} event{}", if n == 1 { "" } else { "s" })
}

/// One row per target of the issue: `(target, Hermes, baseline, ratio, met)`.
/// Every comparison is within this run; "met" is judged on the medians.
fn targets(r: &Results) -> Vec<[String; 5]> {
    let mut rows = Vec::new();
    let none = || "—".to_string();
    let c = r.connections;
    if let (Some(h), Some(b)) = (
        r.find("load", HERMES, 10, Some(c)),
        r.find("load", BARE, 10, Some(c)),
    ) {
        let ratio = Spread::ratio(h.spread(rps), b.spread(rps));
        rows.push([
            format!("`hermes-ingest` ≥ 50% of bare axum's requests/s (10 events per request, sink at 0 ms, {c} connections)"),
            format!("{} req/s", h.spread(rps).show(int)),
            format!("bare axum {} req/s", b.spread(rps).show(int)),
            ratio.show(pct),
            yes(ratio.median >= 0.5).into(),
        ]);
    }
    for n in [1u64, 10, 100] {
        if let (Some(h), Some(nd)) = (
            r.find("load", HERMES, n, Some(c)),
            r.find("load", NODE, n, Some(c)),
        ) {
            let ratio = Spread::ratio(h.spread(eps), nd.spread(eps));
            rows.push([
                format!("≥ 10× the official-client Node baseline's events/s ({}, sink at 0 ms, {c} connections)", events(n)),
                format!("{} events/s", h.spread(eps).show(int)),
                format!("Node {} events/s", nd.spread(eps).show(int)),
                ratio.show(x),
                yes(ratio.median >= 10.0).into(),
            ]);
        }
    }
    let ms_sweep = r.sink_latency_ms;
    if let (Some(h), Some(nd)) = (
        r.find("sweep", HERMES, 10, Some(250)),
        r.find("sweep", NODE, 10, Some(250)),
    ) {
        let cpu = Spread::ratio(nd.spread(cpu_event), h.spread(cpu_event));
        let thr = Spread::ratio(h.spread(eps), nd.spread(eps));
        rows.push([
            format!("≥ 10× less server CPU per event than Node, and events/s no lower (10 events, sink at {ms_sweep} ms, 250 connections)"),
            format!(
                "{} per event, {} events/s",
                h.spread(cpu_event).show(us),
                h.spread(eps).show(int)
            ),
            format!(
                "Node {} per event, {} events/s",
                nd.spread(cpu_event).show(us),
                nd.spread(eps).show(int)
            ),
            format!("{} less CPU; {} the events/s", cpu.show(x), thr.show(x)),
            yes(cpu.median >= 10.0 && thr.median >= 1.0).into(),
        ]);
    }
    if let (Some(h), Some(nd)) = (
        r.open
            .iter()
            .find(|s| s.server == HERMES && !s.runs.is_empty()),
        r.open
            .iter()
            .find(|s| s.server == NODE && !s.runs.is_empty()),
    ) {
        let ratio = Spread::ratio(nd.spread(p99), h.spread(p99));
        rows.push([
            format!(
                "open-loop p99 no worse than Node's at the same rate ({} req/s of 10 events, sink at {ms_sweep} ms)",
                int(h.open_rate.unwrap_or(0.0))
            ),
            format!("p99 {}", h.spread(p99).show(ms)),
            format!("Node p99 {}", nd.spread(p99).show(ms)),
            format!("Node's p99 is {}", ratio.show(x)),
            yes(h.spread(p99).median <= nd.spread(p99).median).into(),
        ]);
    }
    if let Some(h) = r.find("load", HERMES, 100, Some(c)) {
        let v = h.spread(cpu_event);
        let node = r
            .find("load", NODE, 100, Some(c))
            .map(|n| format!("Node {}", n.spread(cpu_event).show(us)))
            .unwrap_or_else(none);
        rows.push([
            format!("server CPU per event ≤ 1.5 µs (100 events per request, sink at 0 ms, {c} connections)"),
            v.show(us),
            node,
            format!("{} the target", x(v.median / 1.5)),
            yes(v.median <= 1.5).into(),
        ]);
    }
    for n in [100u64, 10] {
        if let Some(b) = r.bench(&format!("request_path/{n}")) {
            let e = b.per_sec().unwrap_or(0.0);
            rows.push([
                format!("parse + check + encode ≥ 250,000 events/s on one core (criterion, {n} README events per request)"),
                format!("{} events/s", int(e)),
                none(),
                format!("{:.1}× the target", e / 250_000.0),
                yes(e >= 250_000.0).into(),
            ]);
        }
    }
    if let Some(b) = push_bare(r) {
        let jobs = [
            ("hermes-counters", Some("miss"), "a catalogue miss"),
            ("hermes-counters", Some("hit"), "a catalogue hit"),
            ("hermes-notify", None, "a webhook call"),
        ];
        for (server, catalog, what) in jobs {
            if let Some(p) = push_find(r, server, 2, catalog) {
                let ratio = Spread::ratio(p.spread(cpu_message), b.spread(cpu_message));
                rows.push([
                    format!("`{server}` CPU per push message ≤ 3× bare axum's on the same envelopes (two items, {what}, sinks at 0 ms, {c} connections)"),
                    format!("{} per message", p.spread(cpu_message).show(us)),
                    format!("bare axum {} per message", b.spread(cpu_message).show(us)),
                    ratio.show(x),
                    yes(ratio.median <= 3.0).into(),
                ]);
            }
        }
    }
    if let Some(h) = r.cold(HERMES) {
        let base: Vec<String> = [BARE, NODE, "node-fetch"]
            .iter()
            .filter_map(|n| r.cold(n).map(|c| format!("{n} {:.1} ms", c.median_ms)))
            .collect();
        let ratio = r
            .cold(NODE)
            .map(|n| {
                format!(
                    "{:.1}× faster than Node",
                    n.median_ms / h.median_ms.max(1e-9)
                )
            })
            .unwrap_or_else(none);
        rows.push([
            "cold start (exec → first 200) < 15 ms, median".into(),
            format!(
                "{:.1} ms (median of {}; {:.1}–{:.1} ms)",
                h.median_ms,
                h.samples_ms.len(),
                h.min_ms,
                h.max_ms
            ),
            base.join(", "),
            ratio,
            yes(h.median_ms < 15.0 && !h.samples_ms.is_empty()).into(),
        ]);
    }
    let widest = r
        .sweep
        .iter()
        .filter(|s| s.server == HERMES)
        .map(|s| s.connections)
        .max();
    if let Some(h) = widest.and_then(|w| r.find("sweep", HERMES, 10, Some(w))) {
        let v = h.spread(rss);
        let node = r
            .find("sweep", NODE, 10, Some(h.connections))
            .map(|n| n.spread(rss));
        rows.push([
            format!(
                "peak RSS < 32 MiB at {} connections (10 events, sink at {ms_sweep} ms; the highest run counts)",
                int(h.connections as f64)
            ),
            v.show(mibf),
            node.map(|n| format!("Node {}", n.show(mibf))).unwrap_or_else(none),
            node.map(|n| format!("{} less than Node", Spread::ratio(n, v).show(x)))
                .unwrap_or_else(none),
            yes(h.connections >= 1000 && v.max < 32.0).into(),
        ]);
    }
    if let Some(m) = r.one_mib.iter().find(|m| m.server == HERMES) {
        let u = &m.unlimited;
        let limited_ok = m.limited.as_ref().is_none_or(MibPhase::ok);
        let ok = limited_ok && u.ok() && (u.peak_rss_kib as f64 * 1024.0) < 128e6;
        let node = r.one_mib.iter().find(|m| m.server == NODE);
        let mut measured = format!(
            "peak RSS {} for one, {} with 4 more at once",
            mib(u.peak_rss_after_one_kib),
            mib(u.peak_rss_kib)
        );
        if let Some(l) = &m.limited {
            measured.push_str(&format!(
                "; one under a {} MiB address-space limit: HTTP {}",
                l.address_space_limit_mib.unwrap_or(0),
                l.statuses.first().copied().unwrap_or(0)
            ));
        }
        rows.push([
            "a 1 MiB body handled inside a 128 MB memory limit".into(),
            measured,
            node.map(|n| {
                format!(
                    "Node peak RSS {} / {}",
                    mib(n.unlimited.peak_rss_after_one_kib),
                    mib(n.unlimited.peak_rss_kib)
                )
            })
            .unwrap_or_else(none),
            format!(
                "{:.0}% of 128 MB",
                u.peak_rss_kib as f64 * 1024.0 / 128e6 * 100.0
            ),
            yes(ok).into(),
        ]);
    }
    if let Some(d) = &r.dashboard {
        rows.extend(crate::dashboard_report::target_rows(d));
    }
    rows
}

/// The targets, for the terminal.
pub fn targets_summary(r: &Results) -> String {
    let mut s = String::from("== targets (on the medians of this run)\n");
    for [t, m, b, ratio, met] in targets(r) {
        s.push_str(&format!(
            "  [{}] {t}: {m} (baseline: {b}; {ratio})\n",
            if met.contains("yes") {
                "met"
            } else if met.contains("**no**") {
                "MISSED"
            } else {
                "not judged"
            }
        ));
    }
    s
}

/// The worst other-process CPU and steal over a scenario's runs.
fn others(sc: &Scenario) -> String {
    let worst = sc
        .runs
        .iter()
        .max_by(|a, b| a.result.other_cpu_pct.total_cmp(&b.result.other_cpu_pct));
    worst.map(|w| other(&w.result)).unwrap_or_default()
}

/// The closed-loop tables (`load`, `sweep`): capacity, CPU per event, memory,
/// each with the ratio to bare axum and to the official-client Node baseline
/// of the same setting.
fn closed_table(s: &mut String, r: &Results, phase: &str, list: &[Scenario]) {
    let mut rows = Vec::new();
    for sc in list.iter().filter(|sc| !sc.runs.is_empty()) {
        let n = sc.events_per_request;
        // A scenario is not compared with itself.
        let same = |name: &str| {
            r.find(phase, name, n, Some(sc.connections))
                .filter(|other| other.server != sc.server)
        };
        let vs_bare = same(BARE)
            .map(|b| Spread::ratio(sc.spread(rps), b.spread(rps)).show(pct))
            .unwrap_or_default();
        let vs_node = same(NODE)
            .map(|nd| Spread::ratio(sc.spread(eps), nd.spread(eps)).show(x))
            .unwrap_or_default();
        let cpu_vs_node = same(NODE)
            .filter(|_| sc.server != BARE)
            .map(|nd| Spread::ratio(nd.spread(cpu_event), sc.spread(cpu_event)).show(x))
            .unwrap_or_default();
        rows.push(vec![
            if phase == "load" {
                n.to_string()
            } else {
                int(sc.connections as f64)
            },
            format!("`{}`", sc.server),
            sc.spread(rps).show(int),
            sc.spread(eps).show(int),
            sc.spread(cpu_event).show(us),
            sc.spread(|r| r.result.server_cpu_pct)
                .show(|v| format!("{v:.0}%")),
            sc.spread(rss).show(mibf),
            vs_bare,
            vs_node,
            cpu_vs_node,
            sc.failures().to_string(),
            sc.spread(|r| r.result.bench_cpu_pct)
                .show(|v| format!("{v:.0}%")),
            others(sc),
        ]);
    }
    table(
        s,
        &[
            if phase == "load" {
                "events/request"
            } else {
                "connections"
            },
            "server",
            "requests/s",
            "events/s",
            "server CPU per event",
            "server CPU use",
            "peak RSS",
            "vs bare axum (req/s)",
            "vs Node official (events/s)",
            "Node official's CPU per event ÷ this",
            "failures",
            "load generator CPU",
            "other processes' CPU (worst run)",
        ],
        &rows,
    );
}

fn open_table(s: &mut String, r: &Results) {
    let node = r
        .open
        .iter()
        .find(|s| s.server == NODE && !s.runs.is_empty());
    let rows: Vec<Vec<String>> = r
        .open
        .iter()
        .filter(|sc| !sc.runs.is_empty())
        .map(|sc| {
            let late: u64 = sc.runs.iter().map(|r| r.result.late_starts).sum();
            let scheduled: u64 = sc.runs.iter().map(|r| r.result.scheduled).sum();
            let lag = sc
                .runs
                .iter()
                .map(|r| r.result.max_start_lag_ms)
                .fold(0.0, f64::max);
            let capacity = r
                .sweep
                .iter()
                .filter(|c| c.server == sc.server && !c.runs.is_empty())
                .map(|c| c.median(rps))
                .max_by(f64::total_cmp);
            let rate = sc.open_rate.unwrap_or(0.0);
            vec![
                format!("`{}`", sc.server),
                int(rate),
                capacity
                    .map(|c| {
                        let over = if c < rate {
                            " (**below the rate**)"
                        } else {
                            ""
                        };
                        format!("{}{over}", int(c))
                    })
                    .unwrap_or_default(),
                sc.spread(rps).show(int),
                sc.spread(|r| r.result.p50_ms).show(ms),
                sc.spread(p99).show(ms),
                sc.spread(|r| r.result.p999_ms).show(ms),
                node.filter(|n| n.server != sc.server)
                    .map(|n| Spread::ratio(n.spread(p99), sc.spread(p99)).show(x))
                    .unwrap_or_default(),
                format!("{late} of {scheduled} (latest {lag:.1} ms)"),
                sc.spread(|r| r.result.connections_opened as f64).show(int),
                sc.spread(cpu_event).show(us),
                sc.spread(rss).show(mibf),
                sc.failures().to_string(),
                others(sc),
            ]
        })
        .collect();
    table(
        s,
        &[
            "server",
            "arrival rate (req/s)",
            "its best closed-loop req/s in the sweep",
            "answered (req/s)",
            "p50",
            "p99",
            "p99.9",
            "Node official's p99 ÷ this",
            "starts later than 2 ms",
            "connections opened",
            "server CPU per event",
            "peak RSS",
            "failures",
            "other processes' CPU (worst run)",
        ],
        &rows,
    );
}

fn cpu_message(r: &Run) -> f64 {
    r.result.server_cpu_us_per_request
}

/// The push phase's bare-axum scenario (the HTTP stack alone, same envelopes).
fn push_bare(r: &Results) -> Option<&Scenario> {
    r.push
        .iter()
        .find(|p| p.server == BARE && !p.runs.is_empty())
}

/// A push scenario: `server` at `documents`, with `catalog` (`hit` / `miss` / none).
fn push_find<'a>(
    r: &'a Results,
    server: &str,
    documents: u64,
    catalog: Option<&str>,
) -> Option<&'a Scenario> {
    r.push.iter().find(|p| {
        p.server == server
            && p.documents == Some(documents)
            && p.catalog.as_deref() == catalog
            && !p.runs.is_empty()
    })
}

fn push_table(s: &mut String, r: &Results) {
    let bare = push_bare(r);
    let rows: Vec<Vec<String>> = r
        .push
        .iter()
        .filter(|p| !p.runs.is_empty())
        .map(|p| {
            let items = p.events_per_request as f64;
            vec![
                format!("`{}`", p.server),
                p.catalog.clone().unwrap_or_else(|| "—".into()),
                p.documents.map(|d| int(d as f64)).unwrap_or_default(),
                p.spread(rps).show(int),
                p.spread(|r| r.result.requests_per_sec * items).show(int),
                p.spread(cpu_message).show(us),
                bare.filter(|b| b.server != p.server)
                    .map(|b| Spread::ratio(p.spread(cpu_message), b.spread(cpu_message)).show(x))
                    .unwrap_or_default(),
                p.spread(rss).show(mibf),
                if p.server == BARE {
                    "—".into()
                } else {
                    p.runs.iter().map(|r| r.sink_delta).sum::<u64>().to_string()
                },
                bare.filter(|b| b.server != p.server)
                    .map(|b| Spread::ratio(p.spread(rps), b.spread(rps)).show(pct))
                    .unwrap_or_default(),
                p.failures().to_string(),
                others(p),
            ]
        })
        .collect();
    table(
        s,
        &[
            "server",
            "catalogue",
            "documents the items fall on",
            "messages/s (CPU only)",
            "items/s (CPU only)",
            "server CPU per message",
            "CPU per message ÷ bare axum's",
            "peak RSS",
            "commits or webhook calls (all runs)",
            "messages/s vs bare axum",
            "failures",
            "other processes' CPU (worst run)",
        ],
        &rows,
    );
}

/// Cloud Run's published prices, Tier 1 regions, in US dollars, from
/// <https://cloud.google.com/run/pricing> as read on 2026-12-01.
pub mod price {
    /// Request-based billing (CPU allocated during requests only).
    pub const REQUEST_VCPU_S: f64 = 0.000_024;
    pub const REQUEST_GIB_S: f64 = 0.000_002_5;
    pub const PER_MILLION_REQUESTS: f64 = 0.40;
    /// Instance-based billing (CPU always allocated).
    pub const INSTANCE_VCPU_S: f64 = 0.000_018;
    pub const INSTANCE_GIB_S: f64 = 0.000_002;
    /// sGTM's recommended production minimum: 3 always-on instances of 1 vCPU
    /// and 512 MiB, for a 30-day month.
    pub const SGTM_INSTANCES: f64 = 3.0;
    pub const SGTM_GIB: f64 = 0.5;
    pub const MONTH_S: f64 = 30.0 * 86_400.0;
}

/// What a million events cost in CPU and memory, and in Cloud Run's prices,
/// assuming instances kept busy (billed for the CPU time measured, holding
/// their peak RSS meanwhile), beside sGTM's always-on floor.
fn cost_table(s: &mut String, r: &Results) {
    let mut rows = Vec::new();
    let mut hermes = None;
    for (phase, conns) in [("sweep", 250usize), ("load", r.connections)] {
        let base = r
            .find(phase, HERMES, 10, Some(conns))
            .map(|h| h.median(cpu_event));
        for name in [HERMES, NODE, "node-fetch"] {
            let Some(sc) = r.find(phase, name, 10, Some(conns)) else {
                continue;
            };
            // µs of CPU per event = vCPU-seconds per million events.
            let cpu_s = sc.median(cpu_event);
            let gib = sc.median(rss) / 1024.0;
            let gib_s = gib * cpu_s;
            let request_based = cpu_s * price::REQUEST_VCPU_S + gib_s * price::REQUEST_GIB_S;
            let requests = price::PER_MILLION_REQUESTS / sc.events_per_request as f64;
            let instance_based = cpu_s * price::INSTANCE_VCPU_S + gib_s * price::INSTANCE_GIB_S;
            if name == HERMES && phase == "sweep" {
                hermes = Some((instance_based, sc.median(eps)));
            }
            rows.push(vec![
                format!("`{name}`"),
                format!(
                    "sink at {} ms, {} connections",
                    sc.sink_latency_ms, sc.connections
                ),
                format!("{cpu_s:.1}"),
                base.map(|b| x(cpu_s / b.max(1e-9))).unwrap_or_default(),
                mibf(gib * 1024.0),
                format!("{gib_s:.2}"),
                format!("${request_based:.5} + ${requests:.3}"),
                format!("${instance_based:.5}"),
            ]);
        }
    }
    if rows.is_empty() {
        return;
    }
    s.push_str("### Cost per million events (Cloud Run, Tier 1 prices)\n\n10 events per request. CPU and memory as measured, assuming busy instances: billed for the CPU time measured here, holding their peak RSS meanwhile. That is a lower bound: Cloud Run bills whole instances (and the memory configured, not the memory used) while they serve, and scales out before 100% CPU.\n\n");
    table(
        s,
        &[
            "server",
            "setting",
            "vCPU-seconds per million events",
            "÷ hermes-ingest",
            "peak RSS",
            "GiB-seconds per million events",
            "request-based billing: CPU and memory + requests, $ per million events",
            "instance-based billing, $ per million events",
        ],
        &rows,
    );
    let floor = price::SGTM_INSTANCES
        * price::MONTH_S
        * (price::INSTANCE_VCPU_S + price::SGTM_GIB * price::INSTANCE_GIB_S);
    s.push_str(&format!(
        "Prices: [Cloud Run pricing](https://cloud.google.com/run/pricing), Tier 1 regions, read on 2026-12-01: request-based billing ${} per vCPU-second, ${} per GiB-second and ${:.2} per million requests; instance-based billing ${} per vCPU-second and ${} per GiB-second; free tiers left out.\n\n",
        price::REQUEST_VCPU_S,
        price::REQUEST_GIB_S,
        price::PER_MILLION_REQUESTS,
        price::INSTANCE_VCPU_S,
        price::INSTANCE_GIB_S
    ));
    s.push_str(&format!(
        "Beside it: sGTM's recommended production minimum of {} always-on instances ([Google's Cloud Run setup guide for server-side tagging](https://developers.google.com/tag-platform/tag-manager/server-side/cloud-run-setup-guide)), at 1 vCPU and {} MiB each under instance-based billing, costs ${floor:.0} a month before it handles a single event.",
        price::SGTM_INSTANCES,
        price::SGTM_GIB * 1024.0,
    ));
    if let Some((per_million, eps)) = hermes.filter(|(c, _)| *c > 0.0) {
        s.push_str(&format!(
            " One `hermes-ingest` instance (1 vCPU) at its rate above (sink at 20 ms, 250 connections) takes {:.0} billion events a month; the same ${floor:.0} pays its CPU and memory for about {:.0} billion.",
            eps * price::MONTH_S / 1e9,
            floor / per_million / 1e3
        ));
    }
    s.push_str("\n\n");
}

pub fn render(r: &Results) -> String {
    let mut s = String::new();
    let m = &r.machine;
    s.push_str(&format!(
        "Measured on {} by one run of `scripts/bench`{}: {}{:.0} s of load, cold-start and memory runs.\n\n",
        m.date,
        if r.smoke {
            " --smoke (**smoke run: tiny counts, the figures mean nothing**)"
        } else {
            ""
        },
        r.whole_seconds
            .map(|w| format!("{:.0} s in all (release build, criterion, then this), of which ", w))
            .unwrap_or_default(),
        r.total_seconds
    ));
    if r.busy_before_pct > 5.0 {
        s.push_str(&format!(
            "**The machine was {:.0}% busy before the run: other work skewed these figures.**\n\n",
            r.busy_before_pct
        ));
    }

    s.push_str("### Machine\n\n");
    for (k, v) in [
        ("CPU", format!("{} × {}", m.cpus, m.cpu)),
        ("memory", format!("{:.1} GiB", m.memory_gib)),
        ("OS / kernel", format!("{} / Linux {}", m.os, m.kernel)),
        ("Rust", m.rustc.clone()),
        ("Node.js", m.node.clone()),
        ("CPU pinning", r.pinning.clone()),
        (
            "runs",
            format!(
                "every scenario {} time{}, each on a fresh server process, the repeats interleaved; {} s warm-up then {} s measured; CPU read over the measured window only. Figures are the median (min–max) of the runs; a ratio is the ratio of the medians (its range: lowest over highest to highest over lowest)",
                r.repeats,
                if r.repeats == 1 { "" } else { "s" },
                r.warmup_s,
                r.duration_s
            ),
        ),
        (
            "before the run",
            format!("the machine was {:.0}% busy", r.busy_before_pct),
        ),
    ] {
        s.push_str(&format!("- **{k}**: {v}\n"));
    }
    s.push('\n');

    s.push_str("### Targets\n\n");
    let rows: Vec<Vec<String>> = targets(r).into_iter().map(|row| row.to_vec()).collect();
    table_with(
        &mut s,
        &[
            "target",
            "Hermes",
            "baseline",
            "ratio (range)",
            "met (medians)",
        ],
        &rows,
        true,
    );

    s.push_str("### In-process request path (criterion, one core, no network)\n\n");
    if r.criterion.is_empty() {
        s.push_str("No criterion results (smoke run, or `cargo bench` not run).\n\n");
    } else {
        let rows: Vec<Vec<String>> = r
            .criterion
            .iter()
            .map(|b| {
                vec![
                    format!("`{}`", b.id),
                    format!("{} [{} – {}]", dur(b.ns), dur(b.ns_low), dur(b.ns_high)),
                    b.elements.map(|e| e.to_string()).unwrap_or_default(),
                    b.per_sec()
                        .map(|p| format!("{} /s", int(p)))
                        .unwrap_or_default(),
                ]
            })
            .collect();
        table(
            &mut s,
            &[
                "benchmark",
                "time per iteration [95% CI]",
                "events (messages) per iteration",
                "per second",
            ],
            &rows,
        );
    }

    if !r.load.is_empty() {
        s.push_str(&format!(
            "### Capacity: `POST /`, closed loop, {} connections, sinks answering at once\n\nREADME events, the same bodies for every server. Each connection sends its next request as soon as it has the answer, so requests/s is the server's capacity at this concurrency; latency is left out (it only restates the throughput).\n\n",
            r.connections
        ));
        closed_table(&mut s, r, "load", &r.load);
    }
    if !r.sweep.is_empty() {
        s.push_str(&format!(
            "### Concurrency sweep: 10 events per request, sinks answering after {} ms, closed loop\n\nMany requests wait on Pub/Sub at once, as in production; `bare-axum` (which publishes nothing) is the ceiling of the machine at each concurrency.\n\n",
            r.sink_latency_ms
        ));
        closed_table(&mut s, r, "sweep", &r.sweep);
    }
    if !r.open.is_empty() {
        s.push_str(&format!(
            "### Open loop: latency at a fixed arrival rate, 10 events per request, sinks answering after {} ms\n\nRequests start on a schedule whatever the answers, each on an idle connection or a new one; latency runs from the scheduled start. The rate is below the capacity of `hermes-ingest` and `node-official`: by default half the official-client Node baseline's best closed-loop rate in the sweep above. A server whose best closed-loop rate is below it is overloaded at this rate (its latency grows with the queue).\n\n",
            r.sink_latency_ms
        ));
        open_table(&mut s, r);
    }
    if !r.push.is_empty() {
        s.push_str("### Push path, CPU only: `hermes-counters` and `hermes-notify` → local Firestore and webhook sinks\n\nThe sinks answer at once; real Firestore sustains about one write per second per document, so these rates are the CPU cost of a message, not a rate Firestore would take. Each message is the README's purchase (2 items) in a Pub/Sub push envelope; `bare-axum` answers the same envelopes (the HTTP stack alone). `hermes-counters` runs with items the catalogue does not have (miss), with items it has (hit: `cost` and `item_brand` enrich them), and with the missed item ids drawn from 1,000 documents. `hermes-notify` reads its marker (404), calls the webhook and writes the marker.\n\n");
        push_table(&mut s, r);
    }
    cost_table(&mut s, r);

    s.push_str("### Cold start: exec → first 200 answer to `POST /`\n\n");
    let rows: Vec<Vec<String>> = r
        .cold
        .iter()
        .map(|c| {
            let size = match c.server.as_str() {
                n if crate::servers::is_node(n) => "— (the `node` runtime)".into(),
                name => r
                    .binary(name)
                    .map(|b| {
                        format!(
                            "{:.2} MiB{}",
                            b.bytes as f64 / (1 << 20) as f64,
                            match b.stripped_bytes {
                                // `strip` finds (almost) nothing left to remove.
                                Some(x) if x as f64 >= b.bytes as f64 * 0.99 => {
                                    " (stripped)".to_string()
                                }
                                Some(x) => {
                                    format!(" ({:.2} MiB stripped)", x as f64 / (1 << 20) as f64)
                                }
                                None => String::new(),
                            }
                        )
                    })
                    .unwrap_or_default(),
            };
            vec![
                format!("`{}`", c.server),
                format!("{:.1} ms", c.median_ms),
                format!("{:.1} ms", c.min_ms),
                format!("{:.1} ms", c.max_ms),
                c.samples_ms.len().to_string(),
                size,
            ]
        })
        .collect();
    table(
        &mut s,
        &["server", "median", "min", "max", "starts", "binary size"],
        &rows,
    );

    s.push_str("### A 1 MiB body\n\n");
    let phase = |p: &MibPhase| -> Vec<String> {
        vec![
            p.limit_label(),
            format!("{:?}", p.statuses),
            format!("{:.1} ms", p.first_latency_ms),
            mib(p.rss_idle_kib),
            mib(p.peak_rss_after_one_kib),
            if p.statuses.len() > 1 {
                mib(p.peak_rss_kib)
            } else {
                "—".into()
            },
            format!("{:.0} MiB", p.peak_address_space_kib as f64 / 1024.0),
            p.note.clone().unwrap_or_default(),
        ]
    };
    let mut rows = Vec::new();
    for o in &r.one_mib {
        for p in o.limited.iter().chain(std::iter::once(&o.unlimited)) {
            let mut row = vec![
                format!("`{}`", o.server),
                format!(
                    "{} B, {} events",
                    int(o.body_bytes as f64),
                    int(o.events as f64)
                ),
            ];
            row.extend(phase(p));
            rows.push(row);
        }
    }
    table(
        &mut s,
        &[
            "server",
            "body",
            "address-space limit",
            "statuses (1, then 4 at once)",
            "first answer",
            "RSS idle",
            "peak RSS after 1",
            "peak RSS after 4 more",
            "peak address space",
            "note",
        ],
        &rows,
    );
    s
}
