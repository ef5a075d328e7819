//! The dashboard at scale (`--only dashboard`), on its own: Google's Firestore
//! emulator (not the sinks: the dashboard queries), a forwarder in front of it
//! that counts the documents each answer carries, and a release
//! `hermes-dashboard` with one page (an SSE client) open.
//!
//! - Firestore documents read per minute at 10,000 items, with 0 and with 10
//!   item changes per second, by the incremental poller and by a poller that
//!   re-reads everything every poll (`incremental_reads = false`, the
//!   baseline), in the same run; "billed" adds the one read Firestore bills
//!   for a query that finds nothing;
//! - the dashboard's peak RSS with 200,000 items (and the seeding time), and
//!   the size of the largest answer (`?limit=1000`).
//!
//! Results: printed, and `dashboard_scale.json` in `--out`.

use crate::opts::Opts;
use crate::procs::{self, Logs, Spec};
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
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

/// A page: `GET /api/items/stream` read to the end, counting events.
fn open_page(addr: SocketAddr, events: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
    tokio::spawn(async move {
        let Ok(mut s) = TcpStream::connect(addr).await else {
            return;
        };
        let req = "GET /api/items/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
        if s.write_all(req.as_bytes()).await.is_err() {
            return;
        }
        let mut buf = vec![0u8; 1 << 16];
        let mut tail = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(n)) => {
                    tail.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&tail).to_string();
                    // Items documents only (not `error` events).
                    const DOC: &str = "{\"items\":";
                    let found = text.matches(DOC).count() as u64;
                    if found > 0 {
                        events.fetch_add(found, Ordering::Relaxed);
                        let keep = text.rfind(DOC).map_or(0, |i| i + DOC.len());
                        tail = text.as_bytes()[keep..].to_vec();
                    }
                }
                Err(_) => {}
            }
        }
    });
}

struct Dashboard {
    server: procs::Server,
    events: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Dashboard {
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
        let events = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        open_page(server.addr(), events.clone(), stop.clone());
        let end = Instant::now() + Duration::from_secs(300);
        while events.load(Ordering::Relaxed) == 0 {
            if Instant::now() > end {
                return Err("the page got no document within 300 s".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Self {
            server,
            events,
            stop,
        })
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

pub async fn run(opts: &Opts) -> Result<bool, String> {
    let out = &opts.out;
    std::fs::create_dir_all(out.join("logs")).map_err(|e| e.to_string())?;
    let logs = Logs {
        dir: out.join("logs"),
    };
    let (items, big, window) = if opts.smoke {
        (300, 2_000, Duration::from_secs(3))
    } else {
        (10_000, 200_000, Duration::from_secs(30))
    };
    // The emulator lists a page of `items` in time that grows with all the
    // items (about 1.5 s a page of 300 at 200,000: 17 minutes for one full
    // read): HERMES_BENCH_RSS_ITEMS takes fewer for the RSS part.
    let big = std::env::var("HERMES_BENCH_RSS_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(big)
        .max(items);
    println!("== dashboard at scale: Firestore emulator behind a read-counting forwarder, release hermes-dashboard with one page open");
    let emu = start_emulator(&logs).await?;
    let (proxy, proxy_addr) = start_proxy(emu.addr).await?;
    let seeded = seed(emu.addr, 0, items).await?;
    println!("seeded {items} items in {:.1} s", seeded.as_secs_f64());

    let mut rows = Vec::new();
    for (poller, config) in [
        ("incremental", "[dashboard]\npoll_interval_ms = 1000\n"),
        (
            "re-read everything (baseline)",
            "[dashboard]\npoll_interval_ms = 1000\nincremental_reads = false\n",
        ),
    ] {
        let d0 = proxy.reads.documents.load(Ordering::Relaxed);
        let dashboard = Dashboard::start(opts, &logs, proxy_addr, config).await?;
        // The seeding was a burst of `items` changes: the polls whose window
        // (5 s of overlap) holds it read them all again. Measured apart, and
        // waited out (no document read for 3 s, or 3 minutes).
        let started = Instant::now();
        if poller == "incremental" {
            let mut quiet = 0;
            let mut last = proxy.reads.documents.load(Ordering::Relaxed);
            while quiet < 3 && started.elapsed() < Duration::from_secs(180) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = proxy.reads.documents.load(Ordering::Relaxed);
                quiet = if now == last { quiet + 1 } else { 0 };
                last = now;
            }
        } else {
            tokio::time::sleep(Duration::from_secs(7)).await;
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
            rows.push(json!({
                "start_documents": burst,
                "poller": poller, "items": items, "changes_per_s": rate,
                "documents_per_min": docs, "billed_per_min": billed, "changes": changes,
                "window_s": window.as_secs_f64(),
            }));
        }
        let events = dashboard.events.load(Ordering::Relaxed);
        dashboard.stop();
        println!("{poller:<30} page events: {events}");
    }
    let per = |poller: &str, rate: u64, key: &str| {
        rows.iter()
            .find(|r| {
                r["poller"].as_str().unwrap_or("").starts_with(poller) && r["changes_per_s"] == rate
            })
            .and_then(|r| r[key].as_f64())
            .unwrap_or(f64::NAN)
    };
    for rate in [0, 10] {
        for key in ["documents_per_min", "billed_per_min"] {
            let inc = per("incremental", rate, key);
            let base = per("re-read", rate, key);
            println!(
                "{rate:>2} changes/s, {key}: incremental / baseline = {:.5} ({inc:.0} / {base:.0})",
                inc / base
            );
        }
    }

    // Peak RSS at `big` items.
    let more = seed(emu.addr, items, big).await?;
    println!(
        "seeded {} more items ({big} in all) in {:.1} s",
        big - items,
        more.as_secs_f64()
    );
    let started = Instant::now();
    // One deadline bounds a whole read, every page of it: 200,000 documents
    // through the forwarder take longer than the default 10 s.
    let config = "[dashboard]\npoll_interval_ms = 1000\nread_deadline_ms = 300000\n";
    let dashboard = Dashboard::start(opts, &logs, proxy_addr, config).await?;
    let first = started.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let addr = dashboard.server.addr();
    let (status, answer) = call(addr, "GET", "/api/items?limit=1000", Vec::new()).await?;
    let largest = answer.len();
    let peak_kib = dashboard.server.peak_rss_kib().unwrap_or(0);
    let now_kib = dashboard.server.rss_kib().unwrap_or(0);
    dashboard.stop();
    println!(
        "{big} items: first document after {:.1} s, peak RSS {:.1} MiB (now {:.1} MiB), GET ?limit=1000 HTTP {status}: {largest} bytes",
        first.as_secs_f64(),
        peak_kib as f64 / 1024.0,
        now_kib as f64 / 1024.0
    );
    let results = json!({
        "reads": rows,
        "seed_s": { "items": items, "seconds": seeded.as_secs_f64(), "more_items": big - items, "more_seconds": more.as_secs_f64() },
        "rss": { "items": big, "peak_kib": peak_kib, "now_kib": now_kib, "first_document_s": first.as_secs_f64(), "largest_answer_bytes": largest },
    });
    std::fs::write(
        out.join("dashboard_scale.json"),
        serde_json::to_string_pretty(&results).unwrap_or_default(),
    )
    .map_err(|e| e.to_string())?;
    Ok(status == 200)
}
