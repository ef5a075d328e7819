//! The cold-start phase (`--only cold`): from exec to the first 200 answer to
//! `POST /`, `--starts` times per server, each a new process.

use crate::bodies;
use crate::harness::{blocking, Harness};
use crate::procs::{self, Logs, Spec};
use crate::report::ColdStart;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub async fn run(harness: &mut Harness) -> Vec<ColdStart> {
    let mut colds = Vec::new();
    if !harness.opts.part("cold") {
        return colds;
    }
    println!(
        "== cold start: exec → first 200 to POST /, {} starts each",
        harness.opts.starts
    );
    let mut specs = harness.servers.ingest_like();
    specs.push(harness.servers.counters.clone());
    for spec in specs {
        let mut samples = Vec::new();
        for i in 0..harness.opts.starts {
            // Message ids apart from the push phase's.
            let body = if spec.name == "hermes-counters" {
                bodies::push_envelope(1_000_000_000 + i as u64)
            } else {
                bodies::body_of(1)
            };
            let one = spec.clone();
            let cpus = harness.server_cpus.clone();
            let logs = Arc::clone(&harness.logs);
            match blocking(move || cold_start(&one, &cpus, &logs, &body)).await {
                Ok(ms) => samples.push(ms),
                Err(e) => harness.fail(&format!("cold start of {}: {e}", spec.name)),
            }
        }
        let c = ColdStart::from_samples(spec.name, samples);
        println!(
            "  {:<16} median {:>6.1} ms  min {:>6.1} ms  max {:>6.1} ms",
            c.server, c.median_ms, c.min_ms, c.max_ms
        );
        colds.push(c);
    }
    colds
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
