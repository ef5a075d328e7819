//! What every phase uses: the options, the servers' CPUs, logs and sinks, a
//! fresh server per measurement, and the CPU accounting around a load.

use crate::load::{self, Load, LoadResult};
use crate::opts::Opts;
use crate::procs::{self, Logs, Server, Spec};
use crate::servers::Servers;
use crate::sinks::{Counts, Sink};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Harness {
    pub opts: Opts,
    pub server_cpus: Vec<usize>,
    pub logs: Arc<Logs>,
    pub sink: Sink,
    pub servers: Servers,
    /// False once anything failed: the exit status, after the report is written.
    pub ok: bool,
}

/// One load on a fresh server.
pub struct Measured {
    pub result: LoadResult,
    pub peak_rss_kib: u64,
    /// How much the chosen sink counter grew, warm-up included.
    pub sink_delta: u64,
}

impl Harness {
    /// Starts `spec` on a free port and waits until `/healthz` answers.
    pub async fn start(&self, spec: &Spec, address_space: Option<u64>) -> Result<Server, String> {
        let spec = spec.clone();
        let cpus = self.server_cpus.clone();
        let logs = Arc::clone(&self.logs);
        blocking(move || {
            let port = procs::free_port().map_err(|e| e.to_string())?;
            let mut server = spec
                .spawn(port, &cpus, address_space, &logs)
                .map_err(|e| format!("cannot start {}: {e}", spec.name))?;
            server.wait_ready(Duration::from_secs(15))?;
            Ok(server)
        })
        .await
    }

    /// Loads a fresh `spec` process (so that the peak RSS is this scenario's
    /// own), counting what the sinks got in `counter`.
    pub async fn load_fresh(
        &self,
        spec: &Spec,
        path: &'static str,
        events: u64,
        body: load::BodyFn,
        counter: fn(&Counts) -> &AtomicU64,
    ) -> Result<Measured, String> {
        let server = self.start(spec, None).await?;
        let before = Counts::get(counter(&self.sink.counts));
        let result = self.measure(&server, path, events, body).await;
        let sink_delta = Counts::get(counter(&self.sink.counts)) - before;
        let peak_rss_kib = server.peak_rss_kib().unwrap_or(0);
        server.stop();
        Ok(Measured {
            result,
            peak_rss_kib,
            sink_delta,
        })
    }

    /// Runs the load against `server`, with the CPU time both sides used.
    async fn measure(
        &self,
        server: &Server,
        path: &'static str,
        events: u64,
        body: load::BodyFn,
    ) -> LoadResult {
        let me = std::process::id();
        let (s0, b0, m0, t0) = (
            procs::cpu_seconds(server.pid()),
            procs::cpu_seconds(me),
            procs::machine_cpu_seconds(),
            Instant::now(),
        );
        let load = Load {
            addr: server.addr(),
            path,
            connections: self.opts.connections,
            warmup: Duration::from_secs_f64(self.opts.warmup),
            duration: Duration::from_secs_f64(self.opts.duration),
            events_per_request: events,
            body,
        };
        let mut r = load.run().await;
        let wall = t0.elapsed().as_secs_f64();
        if let (Some(s0), Some(s1)) = (s0, procs::cpu_seconds(server.pid())) {
            r.server_cpu_pct = 100.0 * (s1 - s0) / wall;
            r.server_cpu_us_per_request = 1e6 * (s1 - s0) / r.completed.max(1) as f64;
        }
        let b1 = procs::cpu_seconds(me);
        if let (Some(b0), Some(b1)) = (b0, b1) {
            r.bench_cpu_pct = 100.0 * (b1 - b0) / wall;
        }
        // What neither side used was used by someone else: the figures are disturbed.
        if let (Some((busy0, steal0)), Some((busy1, steal1))) = (m0, procs::machine_cpu_seconds()) {
            let ours = (r.server_cpu_pct + r.bench_cpu_pct) / 100.0 * wall;
            r.other_cpu_pct = (100.0 * ((busy1 - busy0) - ours) / wall).max(0.0);
            r.steal_cpu_pct = 100.0 * (steal1 - steal0) / wall;
        }
        if r.other_cpu_pct > 10.0 {
            eprintln!(
                "  warning: other processes used {:.0}% of a CPU during this scenario",
                r.other_cpu_pct
            );
        }
        r
    }

    /// A load with failures, or with nothing measured, fails the run.
    pub fn check(&mut self, what: &str, r: &LoadResult) {
        if r.failures > 0 || r.requests == 0 {
            self.fail(&format!(
                "{what}: {} failures, {} requests measured; first: {}",
                r.failures,
                r.requests,
                r.first_failure.as_deref().unwrap_or("-")
            ));
        }
    }

    /// Fails the run, saying why; the other measurements still go on.
    pub fn fail(&mut self, why: &str) {
        self.ok = false;
        eprintln!("  FAILED {why}");
    }
}

/// Runs `f` on tokio's blocking pool (process starts and `/proc` polling
/// sleep), passing its panics on.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
