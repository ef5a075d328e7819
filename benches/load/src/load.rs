//! The load generators, over keep-alive HTTP/1.1 connections:
//!
//! - [`Load`], closed loop: `connections` connections, each sending the next
//!   request as soon as the previous answer is read. It measures capacity
//!   (requests/s at that concurrency), and the CPU a request costs; its latency
//!   only restates the throughput (Little's law), so the report leaves it out.
//! - [`OpenLoad`], open loop: requests started on a fixed schedule, whether or
//!   not the earlier ones were answered, each on an idle connection or a new
//!   one. Its latency runs from the scheduled start (so a late start counts
//!   against the server, not for it), and the requests that could not be
//!   started on time are counted.
//!
//! Both run a warm-up, then a measured window `[measure_from, end)`: the
//! harness reads the servers' CPU time at the window's two ends.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Makes the body of request number `seq` (0-based, across all connections).
pub type BodyFn = Arc<dyn Fn(u64) -> Bytes + Send + Sync>;

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct LoadResult {
    /// Requests answered 2xx inside the measured window (closed loop: answered
    /// in it; open loop: scheduled in it).
    pub requests: u64,
    /// Requests answered 2xx in the whole run, warm-up included.
    pub completed: u64,
    pub seconds: f64,
    pub requests_per_sec: f64,
    pub events_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    #[serde(default)]
    pub p999_ms: f64,
    pub max_ms: f64,
    /// CPU time of the server process over the measured window per 2xx answer
    /// in it, µs (warm-up, start-up and V8's JIT excluded).
    pub server_cpu_us_per_request: f64,
    /// The same per event.
    #[serde(default)]
    pub server_cpu_us_per_event: f64,
    /// CPU use of the server process over the measured window, % of one CPU.
    pub server_cpu_pct: f64,
    /// Open loop: the arrival rate, requests/s.
    #[serde(default)]
    pub open_rate: Option<f64>,
    /// Open loop: requests scheduled in the measured window.
    #[serde(default)]
    pub scheduled: u64,
    /// Open loop: of those, the ones started more than [`LATE`] after their time.
    #[serde(default)]
    pub late_starts: u64,
    /// Open loop: the latest start, ms after its time.
    #[serde(default)]
    pub max_start_lag_ms: f64,
    /// Connections opened (open loop: as many as were needed).
    #[serde(default)]
    pub connections_opened: u64,
    /// CPU use of the load generator and sinks (this process), % of one CPU:
    /// near 100% with pinning means the load generator, not the server, was the limit.
    pub bench_cpu_pct: f64,
    /// CPU used by everything else on the machine over the run (other processes),
    /// % of one CPU: above a few % the figures are disturbed.
    pub other_cpu_pct: f64,
    /// CPU time the hypervisor stole over the run, % of one CPU.
    pub steal_cpu_pct: f64,
    /// Non-2xx answers and transport errors, whole run.
    pub failures: u64,
    pub first_failure: Option<String>,
}

pub struct Load {
    pub addr: SocketAddr,
    /// The request target: `/`, or `/?validate_only=true`.
    pub path: &'static str,
    pub connections: usize,
    pub measure_from: Instant,
    pub end: Instant,
    pub events_per_request: u64,
    pub body: BodyFn,
}

/// An open-loop start later than this after its scheduled time is late (tokio's
/// timer ticks every millisecond, so every start may be up to 1 ms late).
pub const LATE: Duration = Duration::from_millis(2);

pub struct OpenLoad {
    pub addr: SocketAddr,
    pub path: &'static str,
    /// Requests per second.
    pub rate: f64,
    /// Connections open at once at most; past it a request waits for one to be idle (late).
    pub max_connections: usize,
    pub start: Instant,
    pub measure_from: Instant,
    pub end: Instant,
    pub events_per_request: u64,
    pub body: BodyFn,
}

pub async fn connect(addr: SocketAddr) -> std::io::Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::time::timeout(REQUEST_TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::other("connect timed out"))??;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One `POST /` on an open connection: the status and the whole body.
pub async fn post(
    sender: &mut SendRequest<Full<Bytes>>,
    body: Bytes,
) -> Result<(u16, Bytes), String> {
    post_to(sender, "/", body).await
}

/// No request of the benchmark may take longer than this (a 1 MiB body in a debug build takes
/// about a second).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One POST to `path` on an open connection: the status and the whole body,
/// within [`REQUEST_TIMEOUT`].
pub async fn post_to(
    sender: &mut SendRequest<Full<Bytes>>,
    path: &str,
    body: Bytes,
) -> Result<(u16, Bytes), String> {
    tokio::time::timeout(REQUEST_TIMEOUT, exchange(sender, path, body))
        .await
        .map_err(|_| format!("no answer within {REQUEST_TIMEOUT:?}"))?
}

async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    path: &str,
    body: Bytes,
) -> Result<(u16, Bytes), String> {
    let req = Request::post(path)
        .header(HOST, "127.0.0.1")
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    sender.ready().await.map_err(|e| e.to_string())?;
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

struct Worker {
    latencies_us: Vec<u32>,
    completed: u64,
    failures: u64,
    first_failure: Option<String>,
}

impl Load {
    pub async fn run(&self) -> LoadResult {
        let (measure_from, end) = (self.measure_from, self.end);
        let seq = Arc::new(AtomicU64::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..self.connections {
            let addr = self.addr;
            let path = self.path;
            let body = Arc::clone(&self.body);
            let seq = Arc::clone(&seq);
            tasks.spawn(async move {
                let mut w = Worker {
                    latencies_us: Vec::with_capacity(1 << 16),
                    completed: 0,
                    failures: 0,
                    first_failure: None,
                };
                let mut sender = None;
                while Instant::now() < end {
                    if sender.is_none() {
                        match connect(addr).await {
                            Ok(s) => sender = Some(s),
                            Err(e) => {
                                w.fail(format!("connect: {e}"));
                                tokio::time::sleep(Duration::from_millis(10)).await;
                                continue;
                            }
                        }
                    }
                    let Some(s) = sender.as_mut() else { continue };
                    let payload = body(seq.fetch_add(1, Ordering::Relaxed));
                    let t0 = Instant::now();
                    let result = post_to(s, path, payload).await;
                    let t1 = Instant::now();
                    match result {
                        Ok((status, _)) if (200..300).contains(&status) => {
                            w.completed += 1;
                            if t1 >= measure_from && t1 < end {
                                let us = (t1 - t0).as_micros().min(u32::MAX as u128) as u32;
                                w.latencies_us.push(us);
                            }
                        }
                        Ok((status, body)) => w.fail(format!(
                            "HTTP {status}: {}",
                            String::from_utf8_lossy(&body[..body.len().min(300)])
                        )),
                        Err(e) => {
                            w.fail(e);
                            sender = None;
                        }
                    }
                }
                w
            });
        }
        let mut latencies = Vec::new();
        let mut failures = 0;
        let mut completed = 0;
        let mut first_failure = None;
        while let Some(done) = tasks.join_next().await {
            if let Ok(w) = done {
                latencies.extend(w.latencies_us);
                completed += w.completed;
                failures += w.failures;
                if first_failure.is_none() {
                    first_failure = w.first_failure;
                }
            }
        }
        let mut r = summarise(
            latencies,
            (end - measure_from).as_secs_f64(),
            self.events_per_request,
        );
        r.completed = completed;
        r.failures = failures;
        r.first_failure = first_failure;
        r.connections_opened = self.connections as u64;
        r
    }
}

/// Throughput and percentiles of the measured window's 2xx latencies (µs).
fn summarise(mut latencies: Vec<u32>, seconds: f64, events_per_request: u64) -> LoadResult {
    latencies.sort_unstable();
    let requests = latencies.len() as u64;
    let rps = requests as f64 / seconds;
    LoadResult {
        requests,
        seconds,
        requests_per_sec: rps,
        events_per_sec: rps * events_per_request as f64,
        p50_ms: percentile_ms(&latencies, 0.50),
        p99_ms: percentile_ms(&latencies, 0.99),
        p999_ms: percentile_ms(&latencies, 0.999),
        max_ms: latencies.last().map_or(0.0, |&u| u as f64 / 1000.0),
        ..LoadResult::default()
    }
}

/// One open-loop request: when it was due, when it started, how it ended.
struct Sample {
    due: Instant,
    started: Instant,
    done: Instant,
    outcome: Result<(), String>,
}

/// The idle connections of an open loop, and how many are open.
struct Pool {
    idle: std::sync::Mutex<Vec<SendRequest<Full<Bytes>>>>,
    open: std::sync::atomic::AtomicUsize,
    opened: AtomicU64,
}

impl Pool {
    fn take(&self) -> Option<SendRequest<Full<Bytes>>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn give(&self, s: SendRequest<Full<Bytes>>) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(s);
    }

    /// An idle connection, a new one while fewer than `max` are open, or the
    /// first to become idle.
    async fn get(&self, addr: SocketAddr, max: usize) -> Result<SendRequest<Full<Bytes>>, String> {
        loop {
            if let Some(s) = self.take() {
                return Ok(s);
            }
            if self.open.fetch_add(1, Ordering::AcqRel) < max {
                self.opened.fetch_add(1, Ordering::Relaxed);
                return match connect(addr).await {
                    Ok(s) => Ok(s),
                    Err(e) => {
                        self.open.fetch_sub(1, Ordering::AcqRel);
                        Err(format!("connect: {e}"))
                    }
                };
            }
            self.open.fetch_sub(1, Ordering::AcqRel);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

impl OpenLoad {
    pub async fn run(&self) -> LoadResult {
        let interval = 1.0 / self.rate;
        let pool = Arc::new(Pool {
            idle: std::sync::Mutex::new(Vec::new()),
            open: Default::default(),
            opened: AtomicU64::new(0),
        });
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Sample>();
        let mut i: u64 = 0;
        loop {
            let due = self.start + Duration::from_secs_f64(i as f64 * interval);
            if due >= self.end {
                break;
            }
            if due > Instant::now() {
                tokio::time::sleep_until(due.into()).await;
                continue;
            }
            let (pool, tx, body) = (Arc::clone(&pool), tx.clone(), (self.body)(i));
            let (addr, path, max) = (self.addr, self.path, self.max_connections);
            tokio::spawn(async move {
                let outcome = pool.get(addr, max).await;
                let started = Instant::now();
                let outcome = match outcome {
                    Ok(mut s) => match post_to(&mut s, path, body).await {
                        Ok((status, _)) if (200..300).contains(&status) => {
                            pool.give(s);
                            Ok(())
                        }
                        Ok((status, body)) => {
                            pool.give(s);
                            Err(format!(
                                "HTTP {status}: {}",
                                String::from_utf8_lossy(&body[..body.len().min(300)])
                            ))
                        }
                        Err(e) => {
                            pool.open.fetch_sub(1, Ordering::AcqRel);
                            Err(e)
                        }
                    },
                    Err(e) => Err(e),
                };
                let _ = tx.send(Sample {
                    due,
                    started,
                    done: Instant::now(),
                    outcome,
                });
            });
            i += 1;
        }
        drop(tx);
        let mut latencies = Vec::new();
        let (mut completed, mut failures, mut first_failure) = (0, 0, None);
        let (mut scheduled, mut late, mut max_lag) = (0u64, 0u64, Duration::ZERO);
        while let Some(s) = rx.recv().await {
            let measured = s.due >= self.measure_from;
            match s.outcome {
                Ok(()) => {
                    completed += 1;
                    if measured {
                        let us = (s.done - s.due).as_micros().min(u32::MAX as u128) as u32;
                        latencies.push(us);
                    }
                }
                Err(e) => {
                    failures += 1;
                    first_failure.get_or_insert(e);
                }
            }
            if measured {
                scheduled += 1;
                let lag = s.started.saturating_duration_since(s.due);
                max_lag = max_lag.max(lag);
                if lag > LATE {
                    late += 1;
                }
            }
        }
        let mut r = summarise(
            latencies,
            (self.end - self.measure_from).as_secs_f64(),
            self.events_per_request,
        );
        r.completed = completed;
        r.failures = failures;
        r.first_failure = first_failure;
        r.open_rate = Some(self.rate);
        r.scheduled = scheduled;
        r.late_starts = late;
        r.max_start_lag_ms = max_lag.as_secs_f64() * 1000.0;
        r.connections_opened = pool.opened.load(Ordering::Relaxed);
        r
    }
}

impl Worker {
    fn fail(&mut self, why: String) {
        self.failures += 1;
        if self.first_failure.is_none() {
            self.first_failure = Some(why);
        }
    }
}

/// Nearest-rank percentile of sorted microseconds, in milliseconds.
pub fn percentile_ms(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    sorted_us[rank - 1] as f64 / 1000.0
}
