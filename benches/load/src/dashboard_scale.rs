//! The dashboard at shop scale (#24): a release `hermes-dashboard` with one
//! page (an SSE client) open, in two parts.
//!
//! - Firestore documents read per minute at 10,000 items, with 0 and with 10
//!   item changes per second, by the incremental poller and by a poller that
//!   re-reads everything every poll (`incremental_reads = false`, the
//!   baseline), in the same run, against Google's Firestore emulator behind a
//!   forwarder that counts the documents each answer carries ("billed" adds
//!   the one read Firestore bills for a query that finds nothing). Without
//!   the emulator this part is skipped with a warning (an error in CI).
//! - The dashboard's peak RSS with 200,000 items and with none (the
//!   baseline), and its largest answer (`?limit=1000`) and page event, against
//!   a local stand-in ([`crate::standin`]) that serves synthetic item
//!   documents: the emulator lists a page of `items` in time that grows with
//!   the collection (about 1.5 s a page of 300 at 200,000 items, a quarter of
//!   an hour for one full read). `HERMES_BENCH_RSS_ITEMS` sets another count.
//!
//! Results: printed, and `dashboard` in `results.json`.

use crate::opts::Opts;
use crate::procs::{self, Logs, Spec};
use crate::standin::{self, StandIn};
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

const PROJECT: &str = "hermes-bench";

fn database() -> String {
    format!("projects/{PROJECT}/databases/(default)")
}

/// Documents read through the forwarder, and what Firestore would bill.
#[derive(Default)]
struct Reads {
    documents: AtomicU64,
    billed: AtomicU64,
    calls: AtomicU64,
}

struct Proxy {
    upstream: SocketAddr,
    reads: Reads,
}

/// The emulator, killed on drop.
struct Emulator {
    child: Option<Child>,
    addr: SocketAddr,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            // Its own process group (java and anything it started).
            unsafe {
                libc::kill(-(child.id() as i32), libc::SIGKILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn emulator_jar() -> Option<PathBuf> {
    let gcloud = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("gcloud"))
            .find(|p| p.is_file())
    })?;
    let root = std::fs::canonicalize(gcloud).ok()?;
    let sdk = root.parent()?.parent()?;
    let jar = sdk.join("platform/cloud-firestore-emulator/cloud-firestore-emulator.jar");
    jar.is_file().then_some(jar)
}

async fn start_emulator(logs: &Logs) -> Result<Emulator, String> {
    if let Ok(host) = std::env::var("FIRESTORE_EMULATOR_HOST") {
        let addr = host
            .parse()
            .map_err(|_| format!("FIRESTORE_EMULATOR_HOST={host}: not host:port"))?;
        return Ok(Emulator { child: None, addr });
    }
    let jar = emulator_jar().ok_or(
        "the Firestore emulator (gcloud's cloud-firestore-emulator component) is not installed",
    )?;
    let port = procs::free_port().map_err(|e| e.to_string())?;
    let log = std::fs::File::create(logs.dir.join("firestore-emulator.log"))
        .map_err(|e| e.to_string())?;
    let mut cmd = Command::new("java");
    cmd.args(["-Xmx2g", "-XX:+UseSerialGC", "-Duser.language=en", "-cp"])
        .arg(&jar)
        .args([
            "com.google.cloud.datastore.emulator.firestore.CloudFirestore",
            "start",
            "--host=127.0.0.1",
            &format!("--port={port}"),
            "--database-mode=firestore-native",
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd.spawn().map_err(|e| format!("java: {e}"))?;
    let emu = Emulator {
        child: Some(child),
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    };
    let end = Instant::now() + Duration::from_secs(60);
    while !matches!(
        tokio::time::timeout(
            Duration::from_secs(2),
            call(emu.addr, "GET", "/", Vec::new())
        )
        .await,
        Ok(Ok(_))
    ) {
        if Instant::now() > end {
            return Err("the Firestore emulator did not start within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(emu)
}

/// One request on a new connection; the status and the decoded body.
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<(u16, Bytes), String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("authorization", "Bearer owner")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}

async fn forward(
    State(proxy): State<Arc<Proxy>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let Ok((status, answer)) = call(proxy.upstream, method.as_str(), &path, body.to_vec()).await
    else {
        return axum::http::StatusCode::BAD_GATEWAY.into_response();
    };
    if (200..300).contains(&status) {
        count(&proxy.reads, method.as_str(), uri.path(), &answer);
    }
    let status =
        axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_GATEWAY);
    (status, [("content-type", "application/json")], answer).into_response()
}

/// Documents in a read's answer; Firestore bills a query that finds nothing
/// as one read, and a `batchGet`'s missing documents too.
fn count(reads: &Reads, method: &str, path: &str, body: &[u8]) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let (docs, billed) = if path.ends_with(":runQuery") {
        let n = v.as_array().map_or(0, |l| {
            l.iter().filter(|r| r.get("document").is_some()).count()
        });
        (n, n.max(1))
    } else if path.ends_with(":batchGet") {
        let l = v.as_array().cloned().unwrap_or_default();
        let found = l.iter().filter(|r| r.get("found").is_some()).count();
        (found, l.len())
    } else if method == "GET" && path.contains("/documents/") {
        let n = v
            .get("documents")
            .and_then(Value::as_array)
            .map_or(usize::from(v.get("fields").is_some()), Vec::len);
        (n, n.max(1))
    } else {
        return;
    };
    reads.calls.fetch_add(1, Ordering::Relaxed);
    reads.documents.fetch_add(docs as u64, Ordering::Relaxed);
    reads.billed.fetch_add(billed as u64, Ordering::Relaxed);
}

async fn start_proxy(upstream: SocketAddr) -> Result<(Arc<Proxy>, SocketAddr), String> {
    let proxy = Arc::new(Proxy {
        upstream,
        reads: Reads::default(),
    });
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(proxy.clone());
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((proxy, addr))
}

fn item_write(id: &str, counter: u64) -> Value {
    json!({
        "update": {
            "name": format!("{}/documents/items/{id}", database()),
            "fields": {
                "counter": { "integerValue": counter.to_string() },
                "item_name": { "stringValue": format!("Product {id}, navy") },
                "item_category": { "stringValue": "Apparel" },
                "revenue": { "mapValue": { "fields": { "DKK": { "doubleValue": counter as f64 * 149.0 } } } },
                "profit": { "mapValue": { "fields": { "DKK": { "doubleValue": counter as f64 * 70.0 } } } },
            },
        },
        "updateTransforms": [{ "fieldPath": "last_event_at", "setToServerValue": "REQUEST_TIME" }],
    })
}

fn increment(id: &str) -> Value {
    json!({
        "update": { "name": format!("{}/documents/items/{id}", database()), "fields": {} },
        "updateMask": { "fieldPaths": [] },
        "updateTransforms": [
            { "fieldPath": "counter", "increment": { "integerValue": "1" } },
            { "fieldPath": "last_event_at", "setToServerValue": "REQUEST_TIME" },
        ],
    })
}

async fn commit(emu: SocketAddr, writes: &[Value]) -> Result<(), String> {
    let body = serde_json::to_vec(&json!({ "writes": writes })).map_err(|e| e.to_string())?;
    let path = format!("/v1/{}/documents:commit", database());
    let (status, answer) = call(emu, "POST", &path, body).await?;
    if status != 200 {
        return Err(format!(
            "commit: HTTP {status} {}",
            String::from_utf8_lossy(&answer)
        ));
    }
    Ok(())
}

/// Items `from..to` (ids `item-000123`), 500 writes a commit, 4 commits at once.
async fn seed(emu: SocketAddr, from: usize, to: usize) -> Result<Duration, String> {
    let started = Instant::now();
    let ids: Vec<usize> = (from..to).collect();
    let chunks: Vec<Vec<usize>> = ids.chunks(500).map(<[usize]>::to_vec).collect();
    for group in chunks.chunks(4) {
        let mut tasks = Vec::new();
        for chunk in group {
            let writes: Vec<Value> = chunk
                .iter()
                .map(|i| item_write(&format!("item-{i:06}"), (*i % 997) as u64 + 1))
                .collect();
            tasks.push(tokio::spawn(async move { commit(emu, &writes).await }));
        }
        for t in tasks {
            t.await.map_err(|e| e.to_string())??;
        }
    }
    Ok(started.elapsed())
}

/// What one open page saw: the items documents it got, and the largest event.
#[derive(Default)]
struct PageSeen {
    documents: AtomicU64,
    largest_event_bytes: AtomicU64,
}

/// A page: `GET /api/items/stream` read to the end, counting the items
/// documents (not `error` events) and keeping the largest event's size.
fn open_page(addr: SocketAddr, seen: Arc<PageSeen>, stop: Arc<AtomicBool>) {
    tokio::spawn(async move {
        let Ok(mut s) = TcpStream::connect(addr).await else {
            return;
        };
        let req = "GET /api/items/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
        if s.write_all(req.as_bytes()).await.is_err() {
            return;
        }
        let mut buf = vec![0u8; 1 << 16];
        let mut pending: Vec<u8> = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(n)) => {
                    pending.extend_from_slice(&buf[..n]);
                    // Complete events end with an empty line (the HTTP head
                    // and chunk sizes pass through as events without data).
                    while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
                        let event: Vec<u8> = pending.drain(..end + 2).collect();
                        let text = String::from_utf8_lossy(&event);
                        let data: usize = text
                            .lines()
                            .filter_map(|l| l.strip_prefix("data:"))
                            .map(|d| d.trim_start().len())
                            .sum();
                        seen.largest_event_bytes
                            .fetch_max(data as u64, Ordering::Relaxed);
                        if text.contains("{\"items\":") {
                            seen.documents.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Err(_) => {}
            }
        }
    });
}

struct Dashboard {
    server: procs::Server,
    seen: Arc<PageSeen>,
    stop: Arc<AtomicBool>,
}

impl Dashboard {
    /// A release `hermes-dashboard` reading `firestore`, with one page open,
    /// once the page got its first items document (after the first full read).
    async fn start(
        opts: &Opts,
        logs: &Logs,
        firestore: SocketAddr,
        config: &str,
    ) -> Result<Self, String> {
        let spec = Spec {
            name: "hermes-dashboard",
            program: opts.bin_dir.join("hermes-dashboard"),
            args: Vec::new(),
            env: vec![
                ("GOOGLE_CLOUD_PROJECT".into(), PROJECT.into()),
                ("FIRESTORE_EMULATOR_HOST".into(), firestore.to_string()),
                ("HERMES_CONFIG_TOML".into(), config.into()),
            ],
        };
        let port = procs::free_port().map_err(|e| e.to_string())?;
        let mut server = spec
            .spawn(port, &[], None, logs)
            .map_err(|e| format!("hermes-dashboard: {e}"))?;
        server.wait_ready(Duration::from_secs(20))?;
        let seen = Arc::new(PageSeen::default());
        let stop = Arc::new(AtomicBool::new(false));
        open_page(server.addr(), seen.clone(), stop.clone());
        let end = Instant::now() + Duration::from_secs(300);
        while seen.documents.load(Ordering::Relaxed) == 0 {
            if Instant::now() > end {
                return Err("the page got no items document within 300 s".into());
            }
            if let Some(why) = server.exited() {
                return Err(format!("hermes-dashboard exited: {why}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Self { server, seen, stop })
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.server.stop();
    }
}

/// Documents (and billed reads) per minute over `window`, with `rate` item
/// changes per second committed meanwhile (directly to the emulator).
async fn measure(
    proxy: &Proxy,
    emu: SocketAddr,
    items: usize,
    rate: u32,
    window: Duration,
) -> Result<(f64, f64, u64), String> {
    let (d0, b0) = (
        proxy.reads.documents.load(Ordering::Relaxed),
        proxy.reads.billed.load(Ordering::Relaxed),
    );
    let started = Instant::now();
    let mut changes = 0u64;
    if rate == 0 {
        tokio::time::sleep(window).await;
    } else {
        let every = Duration::from_secs_f64(1.0 / f64::from(rate));
        let mut next = started;
        let mut n = 0usize;
        while started.elapsed() < window {
            n = (n + 7919) % items;
            commit(emu, &[increment(&format!("item-{n:06}"))]).await?;
            changes += 1;
            next += every;
            tokio::time::sleep_until(next.into()).await;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let docs = proxy.reads.documents.load(Ordering::Relaxed) - d0;
    let billed = proxy.reads.billed.load(Ordering::Relaxed) - b0;
    Ok((
        docs as f64 * 60.0 / secs,
        billed as f64 * 60.0 / secs,
        changes,
    ))
}

/// The dashboard phase's figures (in `results.json` as `dashboard`).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct DashboardScale {
    /// Items of the documents-read part.
    pub items: usize,
    /// The incremental poller's `full_read_secs` (its full reads are
    /// amortised over it) and both pollers' `poll_interval_ms`.
    pub full_read_secs: u64,
    pub poll_interval_ms: u64,
    /// Why the documents-read part did not run (no Firestore emulator).
    pub reads_skipped: Option<String>,
    /// Seconds to seed `items` into the emulator.
    pub seed_seconds: f64,
    pub reads: Vec<ReadsRow>,
    /// Items of the memory part (the stand-in's).
    pub rss_items: usize,
    /// The same runs with no item: what the process costs without any.
    pub rss_baseline: Vec<RssRun>,
    pub rss: Vec<RssRun>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct ReadsRow {
    pub poller: String,
    pub incremental: bool,
    pub changes_per_s: u32,
    /// Changes committed in the window.
    pub changes: u64,
    pub window_s: f64,
    /// Documents read per minute over the window (the polls only).
    pub documents_per_min: f64,
    /// What Firestore would bill: a query that finds nothing counts one.
    pub billed_per_min: f64,
    /// Documents read from the start to the window (the first full read).
    pub start_documents: u64,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct RssRun {
    pub items: usize,
    /// Full reads of every item the run went through before the figures.
    pub full_reads: u64,
    /// From the start to the page's first items document (the first full read).
    pub first_document_s: f64,
    /// VmHWM after the full reads, with the page open.
    pub peak_after_reads_kib: u64,
    /// VmHWM after `GET /api/items?limit=1000` too: the peak.
    pub peak_kib: u64,
    /// VmRSS at the end.
    pub now_kib: u64,
    pub status: u16,
    /// The `?limit=1000` answer's bytes.
    pub largest_answer_bytes: u64,
    /// The page's largest event's data bytes.
    pub largest_event_bytes: u64,
}

impl ReadsRow {
    /// Documents per minute with the full read every `full_read_secs`
    /// amortised in (the window holds none; the re-read poller's every poll is one).
    pub fn amortised_per_min(&self, d: &DashboardScale) -> f64 {
        if self.incremental {
            self.documents_per_min + d.items as f64 * 60.0 / d.full_read_secs.max(1) as f64
        } else {
            self.documents_per_min
        }
    }
}

impl DashboardScale {
    pub fn row(&self, incremental: bool, rate: u32) -> Option<&ReadsRow> {
        self.reads
            .iter()
            .find(|r| r.incremental == incremental && r.changes_per_s == rate)
    }
    /// (peak − baseline) / items, bytes, on the medians of the runs.
    pub fn bytes_per_item(&self) -> Option<f64> {
        let median = |l: &[RssRun]| {
            let mut v: Vec<f64> = l.iter().map(|r| r.peak_kib as f64).collect();
            v.sort_by(f64::total_cmp);
            (!v.is_empty()).then(|| crate::format::median(&v))
        };
        let (peak, base) = (median(&self.rss)?, median(&self.rss_baseline)?);
        (self.rss_items > 0).then(|| (peak - base) * 1024.0 / self.rss_items as f64)
    }
}

/// The incremental poller's `full_read_secs` (the default).
const FULL_READ_SECS: u64 = 600;
const POLL_INTERVAL_MS: u64 = 1000;

/// The dashboard at scale: documents read per minute on the emulator
/// (skipped, with a warning, when it is not installed, except in CI), then
/// peak RSS on the stand-in. `Ok((figures, whether every answer was right))`.
pub async fn run(opts: &Opts) -> Result<(DashboardScale, bool), String> {
    let logs = Logs {
        dir: opts.out.join("logs"),
    };
    std::fs::create_dir_all(&logs.dir).map_err(|e| e.to_string())?;
    let (items, big, window, repeats) = if opts.smoke {
        (300, 2_000, Duration::from_secs(2), 1)
    } else {
        (10_000, 200_000, Duration::from_secs(30), 3)
    };
    let big = std::env::var("HERMES_BENCH_RSS_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(big);
    let mut d = DashboardScale {
        items,
        full_read_secs: FULL_READ_SECS,
        poll_interval_ms: POLL_INTERVAL_MS,
        rss_items: big,
        ..DashboardScale::default()
    };
    println!("== dashboard at scale: documents read (Firestore emulator behind a read-counting forwarder), memory (a local stand-in serving {big} items), release hermes-dashboard with one page open");
    match start_emulator(&logs).await {
        Ok(emu) => reads(opts, &logs, &emu, window, &mut d).await?,
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            return Err(format!("dashboard: {why}"))
        }
        Err(why) => {
            eprintln!("warning: {why}: skipping the dashboard's documents-read part");
            d.reads_skipped = Some(why);
        }
    }
    let mut ok = true;
    for _ in 0..repeats {
        for n in [0, big] {
            let run = rss_run(opts, &logs, n).await?;
            println!(
                "{n:>7} items: {} full reads, first document after {:.1} s, peak RSS {:.1} MiB after the reads, {:.1} MiB after GET ?limit=1000 (HTTP {}: {} bytes; largest page event {} bytes), now {:.1} MiB",
                run.full_reads,
                run.first_document_s,
                run.peak_after_reads_kib as f64 / 1024.0,
                run.peak_kib as f64 / 1024.0,
                run.status,
                run.largest_answer_bytes,
                run.largest_event_bytes,
                run.now_kib as f64 / 1024.0
            );
            ok &= run.status == 200;
            if n == 0 {
                d.rss_baseline.push(run);
            } else {
                d.rss.push(run);
            }
        }
    }
    if let Some(b) = d.bytes_per_item() {
        println!("dashboard: {b:.0} bytes of peak RSS per held item (median peak − median baseline) / {big}");
    }
    Ok((d, ok))
}

/// The documents-read part: `items` seeded, then each poller with 0 and 10
/// changes per second.
async fn reads(
    opts: &Opts,
    logs: &Logs,
    emu: &Emulator,
    window: Duration,
    d: &mut DashboardScale,
) -> Result<(), String> {
    let items = d.items;
    let (proxy, proxy_addr) = start_proxy(emu.addr).await?;
    let seeded = seed(emu.addr, 0, items)
        .await
        .map_err(|e| format!("seeding the Firestore emulator at {}: {e}", emu.addr))?;
    d.seed_seconds = seeded.as_secs_f64();
    println!("seeded {items} items in {:.1} s", seeded.as_secs_f64());
    let quiet_secs = if opts.smoke { 2 } else { 3 };
    for incremental in [true, false] {
        let poller = if incremental {
            "incremental"
        } else {
            "re-read everything (baseline)"
        };
        let config = format!(
            "[dashboard]\npoll_interval_ms = {POLL_INTERVAL_MS}\nfull_read_secs = {FULL_READ_SECS}\nincremental_reads = {incremental}\n"
        );
        let d0 = proxy.reads.documents.load(Ordering::Relaxed);
        let started = Instant::now();
        let dashboard = Dashboard::start(opts, logs, proxy_addr, &config).await?;
        // The seeding was a burst of `items` changes: the polls whose window
        // (5 s of overlap) holds it read them all again. Measured apart, and
        // waited out (no document read for a few seconds, or 3 minutes).
        if incremental {
            let mut quiet = 0;
            let mut last = proxy.reads.documents.load(Ordering::Relaxed);
            while quiet < quiet_secs && started.elapsed() < Duration::from_secs(180) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = proxy.reads.documents.load(Ordering::Relaxed);
                quiet = if now == last { quiet + 1 } else { 0 };
                last = now;
            }
        } else {
            tokio::time::sleep(Duration::from_secs(quiet_secs + 1)).await;
        }
        let burst = proxy.reads.documents.load(Ordering::Relaxed) - d0;
        println!(
            "{poller:<30} start: {burst} documents read (the first full read, and the seeding's burst within the overlap) in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        for rate in [0u32, 10] {
            let (docs, billed, changes) = measure(&proxy, emu.addr, items, rate, window).await?;
            println!(
                "{poller:<30} {rate:>2} changes/s: {docs:>10.0} documents/min ({billed:.0} billed), {changes} changes"
            );
            d.reads.push(ReadsRow {
                poller: poller.into(),
                incremental,
                changes_per_s: rate,
                changes,
                window_s: window.as_secs_f64(),
                documents_per_min: docs,
                billed_per_min: billed,
                start_documents: burst,
            });
        }
        let events = dashboard.seen.documents.load(Ordering::Relaxed);
        dashboard.stop();
        println!("{poller:<30} page events: {events}");
    }
    for rate in [0, 10] {
        if let (Some(i), Some(b)) = (d.row(true, rate), d.row(false, rate)) {
            println!(
                "{rate:>2} changes/s: incremental {:.0} documents/min ({:.0} with the full read every {} s amortised) / re-read {:.0} = {:.5}",
                i.documents_per_min,
                i.amortised_per_min(d),
                d.full_read_secs,
                b.documents_per_min,
                i.amortised_per_min(d) / b.documents_per_min
            );
        }
    }
    Ok(())
}

/// One `hermes-dashboard` on a fresh stand-in of `items` items: its peak RSS
/// after two full reads (the second replaces what the first read) with a
/// page open, then after `GET /api/items?limit=1000`.
async fn rss_run(opts: &Opts, logs: &Logs, items: usize) -> Result<RssRun, String> {
    let standin = Arc::new(StandIn::new(items, PROJECT));
    let addr = standin::start(standin.clone()).await?;
    // A short full_read_secs so that a second full read comes soon: its peak counts too.
    let full_read_secs = if opts.smoke { 1 } else { 5 };
    let config = format!(
        "[dashboard]\npoll_interval_ms = {POLL_INTERVAL_MS}\nfull_read_secs = {full_read_secs}\nread_deadline_ms = 300000\n"
    );
    let started = Instant::now();
    let dashboard = Dashboard::start(opts, logs, addr, &config).await?;
    let first = started.elapsed();
    let end = Instant::now() + Duration::from_secs(300);
    while standin.served.full_listings.load(Ordering::Relaxed) < 2 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The second read's end (its last page served, then held and swapped in).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let full_reads = standin.served.full_listings.load(Ordering::Relaxed);
    let peak_after_reads_kib = dashboard.server.peak_rss_kib().unwrap_or(0);
    let (status, answer) = call(
        dashboard.server.addr(),
        "GET",
        "/api/items?limit=1000",
        Vec::new(),
    )
    .await?;
    let run = RssRun {
        items,
        full_reads,
        first_document_s: first.as_secs_f64(),
        peak_after_reads_kib,
        peak_kib: dashboard.server.peak_rss_kib().unwrap_or(0),
        now_kib: dashboard.server.rss_kib().unwrap_or(0),
        status,
        largest_answer_bytes: answer.len() as u64,
        largest_event_bytes: dashboard.seen.largest_event_bytes.load(Ordering::Relaxed),
    };
    dashboard.stop();
    if status != 200 {
        eprintln!(
            "  FAILED: hermes-dashboard GET /api/items?limit=1000: HTTP {status} {}",
            String::from_utf8_lossy(&answer)
        );
    }
    Ok(run)
}
