//! The results of one run, the criterion figures, and their Markdown: the
//! generated section of `docs/PERFORMANCE.md`.

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
    pub load: Vec<Scenario>,
    pub push: Vec<Push>,
    pub cold: Vec<ColdStart>,
    pub one_mib: Vec<OneMib>,
    #[serde(default)]
    pub overload: Option<Overload>,
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

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Scenario {
    pub server: String,
    pub events_per_request: u64,
    pub result: LoadResult,
    pub peak_rss_kib: u64,
    /// Messages the Pub/Sub sink received during the scenario (warm-up included).
    pub sink_messages: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Push {
    pub server: String,
    pub items_per_message: u64,
    pub result: LoadResult,
    pub peak_rss_kib: u64,
    pub commits: u64,
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

fn int(x: f64) -> String {
    let s = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
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

fn yes(ok: bool) -> &'static str {
    if ok {
        "**yes**"
    } else {
        "**no**"
    }
}

impl Results {
    fn scenario(&self, server: &str, n: u64) -> Option<&Scenario> {
        self.load
            .iter()
            .find(|s| s.server == server && s.events_per_request == n)
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

/// One row per target of the issue: `(target, measured, baseline, ratio, met)`.
fn targets(r: &Results) -> Vec<[String; 5]> {
    let mut rows = Vec::new();
    let none = || "—".to_string();
    if let (Some(h), Some(b)) = (r.scenario("hermes-ingest", 10), r.scenario("bare-axum", 10)) {
        let ratio = h.result.requests_per_sec / b.result.requests_per_sec.max(1e-9);
        rows.push([
            "`hermes-ingest` ≥ 70% of bare axum's requests/s at 10 events per request".into(),
            format!("{} req/s", int(h.result.requests_per_sec)),
            format!("bare axum {} req/s", int(b.result.requests_per_sec)),
            format!("{:.0}%", ratio * 100.0),
            yes(ratio >= 0.70).into(),
        ]);
    }
    for n in [1u64, 10, 100] {
        if let (Some(h), Some(nd)) = (
            r.scenario("hermes-ingest", n),
            r.scenario("node-baseline", n),
        ) {
            let ratio = h.result.events_per_sec / nd.result.events_per_sec.max(1e-9);
            let p99_ok = h.result.p99_ms <= nd.result.p99_ms;
            rows.push([
                format!(
                    "≥ 10× the Node.js function's events/s, p99 no worse ({n} event{} per request)",
                    if n == 1 { "" } else { "s" }
                ),
                format!(
                    "{} events/s, p99 {:.2} ms",
                    int(h.result.events_per_sec),
                    h.result.p99_ms
                ),
                format!(
                    "Node {} events/s, p99 {:.2} ms",
                    int(nd.result.events_per_sec),
                    nd.result.p99_ms
                ),
                format!(
                    "{ratio:.1}× events/s; p99 {:.2}×",
                    nd.result.p99_ms / h.result.p99_ms.max(1e-9)
                ),
                yes(ratio >= 10.0 && p99_ok).into(),
            ]);
        }
    }
    for n in [100u64, 10] {
        if let Some(b) = r.bench(&format!("request_path/{n}")) {
            let eps = b.per_sec().unwrap_or(0.0);
            rows.push([
                format!("parse + check + encode ≥ 250,000 events/s on one core (README events, {n} per request)"),
                format!("{} events/s", int(eps)),
                none(),
                format!("{:.1}× the target", eps / 250_000.0),
                yes(eps >= 250_000.0).into(),
            ]);
        }
    }
    if let Some(h) = r.cold("hermes-ingest") {
        let base: Vec<String> = ["bare-axum", "node-baseline"]
            .iter()
            .filter_map(|n| r.cold(n).map(|c| format!("{n} {:.1} ms", c.median_ms)))
            .collect();
        let ratio = r
            .cold("node-baseline")
            .map(|n| {
                format!(
                    "{:.1}× faster than Node",
                    n.median_ms / h.median_ms.max(1e-9)
                )
            })
            .unwrap_or_else(none);
        rows.push([
            "cold start (exec → first 200) < 50 ms, median".into(),
            format!("{:.1} ms (median of {})", h.median_ms, h.samples_ms.len()),
            base.join(", "),
            ratio,
            yes(h.median_ms < 50.0 && !h.samples_ms.is_empty()).into(),
        ]);
    }
    let peak = r
        .load
        .iter()
        .filter(|s| s.server == "hermes-ingest")
        .map(|s| s.peak_rss_kib)
        .max();
    if let Some(peak) = peak {
        let node = r
            .load
            .iter()
            .filter(|s| s.server == "node-baseline")
            .map(|s| s.peak_rss_kib)
            .max();
        rows.push([
            "peak RSS < 50 MB under load".into(),
            format!("{} ({:.1} MB)", mib(peak), peak as f64 * 1024.0 / 1e6),
            node.map(|n| format!("Node {}", mib(n)))
                .unwrap_or_else(none),
            node.map(|n| format!("{:.1}× less than Node", n as f64 / peak.max(1) as f64))
                .unwrap_or_else(none),
            yes(peak as f64 * 1024.0 < 50e6).into(),
        ]);
    }
    if let Some(m) = r.one_mib.iter().find(|m| m.server == "hermes-ingest") {
        let u = &m.unlimited;
        let limited_ok = m.limited.as_ref().is_none_or(MibPhase::ok);
        let ok = limited_ok && u.ok() && (u.peak_rss_kib as f64 * 1024.0) < 128e6;
        let node = r.one_mib.iter().find(|m| m.server == "node-baseline");
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
    rows
}

/// The targets, for the terminal.
pub fn targets_summary(r: &Results) -> String {
    let mut s = String::from("== targets\n");
    for [t, m, b, ratio, met] in targets(r) {
        s.push_str(&format!(
            "  [{}] {t}: {m} (baseline: {b}; {ratio})\n",
            if met.contains("yes") { "met" } else { "MISSED" }
        ));
    }
    s
}

/// A Markdown table: the first column left-aligned, the others right-aligned
/// (figures), unless `text` (every column left-aligned).
fn table_with(out: &mut String, head: &[&str], rows: &[Vec<String>], text: bool) {
    out.push_str(&format!("| {} |\n", head.join(" | ")));
    out.push_str(&format!(
        "|{}\n",
        head.iter()
            .enumerate()
            .map(|(i, _)| if i == 0 || text { "---|" } else { "---:|" })
            .collect::<String>()
    ));
    for row in rows {
        out.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    out.push('\n');
}

fn table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    table_with(out, head, rows, false)
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
            "load",
            format!(
                "{} keep-alive HTTP/1.1 connections, closed loop, {} s warm-up then {} s measured per scenario, a fresh server process per scenario",
                r.connections, r.warmup_s, r.duration_s
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
        &["target", "Hermes", "baseline", "ratio", "met"],
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

    s.push_str("### Load: `POST /` over loopback, README events, same bodies for every server\n\n");
    let mut rows = Vec::new();
    for sc in &r.load {
        let base = r.scenario("bare-axum", sc.events_per_request);
        let node = r.scenario("node-baseline", sc.events_per_request);
        let vs_bare = base
            .map(|b| {
                format!(
                    "{:.0}%",
                    100.0 * sc.result.requests_per_sec / b.result.requests_per_sec.max(1e-9)
                )
            })
            .unwrap_or_default();
        let vs_node = node
            .map(|n| {
                format!(
                    "{:.1}×",
                    sc.result.events_per_sec / n.result.events_per_sec.max(1e-9)
                )
            })
            .unwrap_or_default();
        rows.push(vec![
            sc.events_per_request.to_string(),
            format!("`{}`", sc.server),
            int(sc.result.requests_per_sec),
            int(sc.result.events_per_sec),
            format!("{:.2} ms", sc.result.p50_ms),
            format!("{:.2} ms", sc.result.p99_ms),
            mib(sc.peak_rss_kib),
            format!("{:.1} µs", sc.result.server_cpu_us_per_request),
            vs_bare,
            vs_node,
            sc.result.failures.to_string(),
            format!("{:.0}%", sc.result.bench_cpu_pct),
            other(&sc.result),
        ]);
    }
    table(
        &mut s,
        &[
            "events/request",
            "server",
            "requests/s",
            "events/s",
            "p50",
            "p99",
            "peak RSS",
            "server CPU per request",
            "vs bare axum (req/s)",
            "vs Node (events/s)",
            "failures",
            "load generator CPU",
            "other processes' CPU",
        ],
        &rows,
    );

    s.push_str("### Push path: `hermes-counters` → local Firestore sink\n\n");
    let bare_push = r.push.iter().find(|p| p.server == "bare-axum");
    let rows: Vec<Vec<String>> = r
        .push
        .iter()
        .map(|p| {
            vec![
                format!("`{}`", p.server),
                int(p.result.requests_per_sec),
                int(p.result.requests_per_sec * p.items_per_message as f64),
                format!("{:.2} ms", p.result.p50_ms),
                format!("{:.2} ms", p.result.p99_ms),
                mib(p.peak_rss_kib),
                format!("{:.1} µs", p.result.server_cpu_us_per_request),
                if p.server == "bare-axum" {
                    "—".into()
                } else {
                    p.commits.to_string()
                },
                bare_push
                    .map(|b| {
                        format!(
                            "{:.0}%",
                            100.0 * p.result.requests_per_sec / b.result.requests_per_sec.max(1e-9)
                        )
                    })
                    .unwrap_or_default(),
                p.result.failures.to_string(),
                other(&p.result),
            ]
        })
        .collect();
    table(
        &mut s,
        &[
            "server",
            "messages/s",
            "items/s",
            "p50",
            "p99",
            "peak RSS",
            "server CPU per message",
            "commits",
            "vs bare axum",
            "failures",
            "other processes' CPU",
        ],
        &rows,
    );

    s.push_str("### Cold start: exec → first 200 answer to `POST /`\n\n");
    let rows: Vec<Vec<String>> = r
        .cold
        .iter()
        .map(|c| {
            let size = match c.server.as_str() {
                "node-baseline" => "— (the `node` runtime)".into(),
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
