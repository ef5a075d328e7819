//! The 1 MiB phase (`--only mib`): the largest body ingest accepts
//! (`max_body_bytes`), under an address-space limit and as deployed, with the
//! peak RSS after one request and after 4 more at once.

use crate::bodies;
use crate::harness::Harness;
use crate::load;
use crate::procs::{self, Spec};
use crate::report::{MibPhase, OneMib};
use bytes::Bytes;
use std::time::Instant;

const MIB: u64 = 1 << 20;

pub async fn run(harness: &mut Harness) -> Vec<OneMib> {
    let mut runs = Vec::new();
    if !harness.opts.part("mib") {
        return runs;
    }
    println!("== 1 MiB body (max_body_bytes) under a 128 MiB address-space limit");
    let (big, big_events) = bodies::body_up_to(1_048_576);
    for spec in harness.servers.ingest_like() {
        let r = one_mib(harness, &spec, &big, big_events).await;
        for p in r.limited.iter().chain(std::iter::once(&r.unlimited)) {
            println!(
                "  {:<16} address-space limit {:<8} statuses {:?}, first in {:>6.1} ms, peak RSS after one {:>6.1} MiB, after all {:>6.1} MiB{}",
                r.server,
                p.limit_label(),
                p.statuses,
                p.first_latency_ms,
                p.peak_rss_after_one_kib as f64 / 1024.0,
                p.peak_rss_kib as f64 / 1024.0,
                p.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default()
            );
            if !p.ok() {
                harness.fail(&format!("{}: 1 MiB body not handled", r.server));
            }
        }
        runs.push(r);
    }
    runs
}

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
async fn one_mib(harness: &Harness, spec: &Spec, body: &Bytes, events: usize) -> OneMib {
    let limit = (!crate::servers::is_node(spec.name) && harness.opts.mib_limit > 0)
        .then_some(harness.opts.mib_limit * MIB);
    OneMib {
        server: spec.name.to_string(),
        body_bytes: body.len(),
        events,
        limited: match limit {
            Some(l) => Some(mib_phase(harness, spec, body, events, Some(l), 4).await),
            None => None,
        },
        unlimited: mib_phase(harness, spec, body, events, None, 4).await,
    }
}

async fn mib_phase(
    harness: &Harness,
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
    let server = match harness.start(&spec, limit).await {
        Ok(s) => s,
        Err(e) => {
            r.ids_ok = false;
            r.note = Some(e);
            return r;
        }
    };
    r.rss_idle_kib = server.rss_kib().unwrap_or(0);
    // bare axum publishes nothing: its answer has no ids to check.
    let check = spec.name != "bare-axum";
    let send = |addr, body: Bytes| async move {
        let mut sender = load::connect(addr).await.map_err(|e| e.to_string())?;
        let t0 = Instant::now();
        let (status, answer) = load::post(&mut sender, body).await?;
        let ok = !check || bodies::check_ingest_answer(status, &answer, events).is_ok();
        Ok::<_, String>((status, ok, t0.elapsed().as_secs_f64() * 1000.0))
    };
    match send(server.addr(), body.clone()).await {
        Ok((status, ok, ms)) => {
            r.statuses.push(status);
            r.ids_ok &= ok;
            r.first_latency_ms = ms;
        }
        Err(e) => no_answer(&mut r, e),
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
            Ok(Err(e)) => no_answer(&mut r, e),
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

/// A request without an answer: status 0 in the list, and why.
fn no_answer(r: &mut MibPhase, why: String) {
    r.statuses.push(0);
    r.ids_ok = false;
    r.note = Some(why);
}
