//! The load generator: `connections` keep-alive HTTP/1.1 connections, each
//! sending the next request as soon as the previous answer is read (closed
//! loop), for a warm-up and then a measured window. Latency is from writing
//! the request to having read the whole answer.

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
    /// Requests answered 2xx inside the measured window.
    pub requests: u64,
    /// Requests answered 2xx in the whole run, warm-up included.
    pub completed: u64,
    pub seconds: f64,
    pub requests_per_sec: f64,
    pub events_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// CPU time of the server process per 2xx answer (warm-up included), µs.
    pub server_cpu_us_per_request: f64,
    /// CPU use of the server process over the run, % of one CPU.
    pub server_cpu_pct: f64,
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
    pub warmup: Duration,
    pub duration: Duration,
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
        let start = Instant::now();
        let measure_from = start + self.warmup;
        let end = measure_from + self.duration;
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
                            if t0 >= measure_from && t1 <= end {
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
        latencies.sort_unstable();
        let seconds = self.duration.as_secs_f64();
        let requests = latencies.len() as u64;
        let rps = requests as f64 / seconds;
        LoadResult {
            requests,
            completed,
            seconds,
            requests_per_sec: rps,
            events_per_sec: rps * self.events_per_request as f64,
            p50_ms: percentile_ms(&latencies, 0.50),
            p99_ms: percentile_ms(&latencies, 0.99),
            max_ms: latencies.last().map_or(0.0, |&u| u as f64 / 1000.0),
            failures,
            first_failure,
            ..LoadResult::default()
        }
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
