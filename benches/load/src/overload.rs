//! The overload phase (`--only overload`): `hermes-ingest` under a memory
//! limit, hit by 200 concurrent worst-case 1 MiB bodies, and by 500 half-open
//! (slowloris) connections, while a prober sends small requests one after the
//! other. Its figures: the process survives, every answer is 2xx/4xx/503, the
//! share of 503s, the peak RSS, and the prober's p99 as a ratio to its p99 on
//! the idle server measured just before, in the same run.
//!
//! The memory limit is an address-space limit (`RLIMIT_AS`, with
//! `MALLOC_ARENA_MAX=1`): stricter than a cgroup's `memory.max`, which counts
//! resident pages only, and available without a cgroup v2 hierarchy of our own.

use crate::harness::Harness;
use crate::load::{self, percentile_ms};
use crate::procs::{self, Server, Spec};
use crate::report::{Overload, OverloadRound};
use bytes::Bytes;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

const MIB: u64 = 1 << 20;

/// The figures of the phase, by option: (rounds, big clients, seconds, half-open connections).
fn plan(smoke: bool) -> (usize, usize, f64, usize) {
    if smoke {
        (1, 8, 0.5, 20)
    } else {
        (3, 200, 5.0, 500)
    }
}

pub async fn run(harness: &mut Harness) -> Option<Overload> {
    if !harness.opts.part("overload") {
        return None;
    }
    let (rounds, clients, seconds, half_open) = plan(harness.opts.smoke);
    let limit_mib = harness.opts.overload_limit;
    println!(
        "== overload: {clients} concurrent 1 MiB bodies under a {limit_mib} MiB address-space limit; {half_open} half-open connections"
    );
    let mut spec = harness.servers.hermes.clone();
    spec.env.push(("MALLOC_ARENA_MAX".into(), "1".into()));
    let (wrong, wrong_events) = wrong_events_body(1_048_576);
    let (valid, _) = crate::bodies::body_up_to(1_048_576);
    let mut result = Overload {
        address_space_limit_mib: limit_mib,
        clients,
        seconds,
        half_open,
        wrong_body_events: wrong_events,
        ..Overload::default()
    };
    for round in 0..rounds {
        match flood_round(
            harness,
            &spec,
            limit_mib * MIB,
            clients,
            seconds,
            &wrong,
            &valid,
        )
        .await
        {
            Ok(r) => {
                println!(
                    "  round {}: statuses {:?}, 503 share {:.1}%, peak RSS {:.1} MiB, small p99 {:.2} ms idle → {:.2} ms under load (×{:.1}), survived: {}",
                    round + 1,
                    r.statuses,
                    r.share_503 * 100.0,
                    r.peak_rss_kib as f64 / 1024.0,
                    r.small_idle_p99_ms,
                    r.small_loaded_p99_ms,
                    r.ratio(),
                    r.survived
                );
                if !r.survived || !r.statuses_ok() {
                    harness.fail("overload: the server died or answered outside 2xx/4xx/503");
                }
                result.flood.push(r);
            }
            Err(e) => {
                harness.fail(&format!("overload: {e}"));
                result.note = Some(e);
            }
        }
        match slowloris_round(harness, &spec, half_open).await {
            Ok(r) => {
                println!(
                    "  slowloris round {}: small p99 {:.2} ms idle → {:.2} ms with {half_open} half-open (×{:.1}), {} of {} answered",
                    round + 1,
                    r.small_idle_p99_ms,
                    r.small_loaded_p99_ms,
                    r.ratio(),
                    r.small_answered,
                    r.small_sent
                );
                if r.small_answered < r.small_sent {
                    harness.fail("slowloris: small requests went unanswered");
                }
                result.slowloris.push(r);
            }
            Err(e) => {
                harness.fail(&format!("slowloris: {e}"));
                result.note = Some(e);
            }
        }
    }
    Some(result)
}

/// The worst body within the limits: as many events as fit in `max` bytes
/// (under `max_events`), each with every Common Event Data string of the wrong
/// type: the most errors to find and the largest answer.
pub fn wrong_events_body(max: usize) -> (Bytes, usize) {
    let mut event = serde_json::Map::new();
    for f in
        std::iter::once("event_name").chain(hermes_core::schema::DEFAULT_STRINGS.iter().copied())
    {
        event.insert(f.into(), json!(1));
    }
    let one = Value::Object(event).to_string();
    let n = ((max - 2) / (one.len() + 1)).min(10_000);
    (
        Bytes::from(format!("[{}]", vec![one.as_str(); n].join(","))),
        n,
    )
}

const SMALL: &str = r#"[{"event_name":"probe"}]"#;

/// Small requests one after another on a keep-alive connection (a new one
/// when the server closed it) until `stop`, each timed.
async fn probe(addr: SocketAddr, stop: Arc<AtomicBool>, max: usize) -> (Vec<u32>, usize, usize) {
    let mut latencies = Vec::new();
    let (mut sent, mut answered) = (0, 0);
    let mut sender = None;
    while !stop.load(Ordering::Relaxed) && sent < max {
        if sender.is_none() {
            sender = load::connect(addr).await.ok();
        }
        let Some(s) = sender.as_mut() else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        sent += 1;
        let t0 = Instant::now();
        match load::post(s, Bytes::from_static(SMALL.as_bytes())).await {
            Ok((200, _)) => {
                answered += 1;
                latencies.push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
            }
            Ok((_, _)) => {
                answered += 1;
                sender = None;
            }
            Err(_) => sender = None,
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    latencies.sort_unstable();
    (latencies, sent, answered)
}

async fn idle_p99(addr: SocketAddr, n: usize) -> f64 {
    let (lat, _, _) = probe(addr, Arc::new(AtomicBool::new(false)), n).await;
    percentile_ms(&lat, 0.99)
}

async fn start(harness: &Harness, spec: &Spec, limit: Option<u64>) -> Result<Server, String> {
    harness.start(spec, limit).await
}

async fn flood_round(
    harness: &Harness,
    spec: &Spec,
    limit: u64,
    clients: usize,
    seconds: f64,
    wrong: &Bytes,
    valid: &Bytes,
) -> Result<OverloadRound, String> {
    let mut server = start(harness, spec, Some(limit)).await?;
    let addr = server.addr();
    let mut r = OverloadRound {
        small_idle_p99_ms: idle_p99(addr, if harness.opts.smoke { 20 } else { 300 }).await,
        ..OverloadRound::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let prober = tokio::spawn(probe(addr, Arc::clone(&stop), usize::MAX));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..clients {
        // Half the clients send the wrong events, half a valid 1 MiB that is published.
        let body = if i % 2 == 0 {
            wrong.clone()
        } else {
            valid.clone()
        };
        let stop = Arc::clone(&stop);
        tasks.spawn(async move {
            let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
            while !stop.load(Ordering::Relaxed) {
                let status = match load::connect(addr).await {
                    Ok(mut s) => load::post(&mut s, body.clone())
                        .await
                        .map(|(st, _)| st)
                        .unwrap_or(0),
                    Err(_) => 0,
                };
                *statuses.entry(status).or_default() += 1;
            }
            statuses
        });
    }
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    while let Some(done) = tasks.join_next().await {
        if let Ok(s) = done {
            for (k, v) in s {
                *r.statuses.entry(k).or_default() += v;
            }
        }
    }
    let (lat, sent, answered) = prober.await.map_err(|e| e.to_string())?;
    r.small_loaded_p99_ms = percentile_ms(&lat, 0.99);
    r.small_sent = sent;
    r.small_answered = answered;
    let total: u64 = r.statuses.values().sum();
    r.share_503 = r.statuses.get(&503).copied().unwrap_or(0) as f64 / total.max(1) as f64;
    r.peak_rss_kib = server.peak_rss_kib().unwrap_or(0);
    r.peak_address_space_kib = procs::status_field(server.pid(), "VmPeak:").unwrap_or(0);
    r.survived = server.exited().is_none();
    server.stop();
    Ok(r)
}

async fn slowloris_round(
    harness: &Harness,
    spec: &Spec,
    half_open: usize,
) -> Result<OverloadRound, String> {
    let server = start(harness, spec, None).await?;
    let addr = server.addr();
    let n = if harness.opts.smoke { 20 } else { 300 };
    let mut r = OverloadRound {
        small_idle_p99_ms: idle_p99(addr, n).await,
        survived: true,
        ..OverloadRound::default()
    };
    let mut held = Vec::with_capacity(half_open);
    for _ in 0..half_open {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("half-open connection: {e}"))?;
        s.write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: appl")
            .await
            .map_err(|e| e.to_string())?;
        held.push(s);
    }
    let (lat, sent, answered) = probe(addr, Arc::new(AtomicBool::new(false)), n).await;
    r.small_loaded_p99_ms = percentile_ms(&lat, 0.99);
    r.small_sent = sent;
    r.small_answered = answered;
    r.peak_rss_kib = server.peak_rss_kib().unwrap_or(0);
    drop(held);
    server.stop();
    Ok(r)
}
