//! What every phase uses: the options, the servers' CPUs, logs and sinks, a
//! fresh server per measurement, and the CPU accounting around a load.

use crate::load::{self, Load, LoadResult, OpenLoad};
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

/// How a scenario loads its server.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// `connections` connections in a closed loop.
    Closed { connections: usize },
    /// Requests started at `rate` per second (open loop).
    Open { rate: f64 },
}

/// What one scenario sends, and which sink counter must grow with it.
#[derive(Clone)]
pub struct Job {
    pub path: &'static str,
    pub events: u64,
    pub body: load::BodyFn,
    pub mode: Mode,
    /// The latency the sinks add to each call during this scenario, ms.
    pub sink_latency_ms: u64,
    pub counter: fn(&Counts) -> &AtomicU64,
}

/// One load on a fresh server.
pub struct Measured {
    pub result: LoadResult,
    pub peak_rss_kib: u64,
    /// How much the chosen sink counter grew, warm-up included.
    pub sink_delta: u64,
}

/// The CPU times read at one end of the measured window.
struct CpuSample {
    at: Instant,
    server: Option<f64>,
    bench: Option<f64>,
    machine: Option<(f64, f64)>,
}

impl CpuSample {
    fn now(server: u32) -> Self {
        Self {
            at: Instant::now(),
            server: procs::cpu_seconds(server),
            bench: procs::cpu_seconds(std::process::id()),
            machine: procs::machine_cpu_seconds(),
        }
    }
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

    /// Loads a fresh `spec` process (so that the peak RSS is this run's own),
    /// counting what the sinks got in `job.counter`.
    pub async fn load_fresh(&self, spec: &Spec, job: &Job) -> Result<Measured, String> {
        self.sink.set_latency_ms(job.sink_latency_ms);
        let server = self.start(spec, None).await?;
        let before = Counts::get((job.counter)(&self.sink.counts));
        let result = self.measure(&server, job).await;
        let sink_delta = Counts::get((job.counter)(&self.sink.counts)) - before;
        let peak_rss_kib = server.peak_rss_kib().unwrap_or(0);
        server.stop();
        self.sink.set_latency_ms(0);
        Ok(Measured {
            result,
            peak_rss_kib,
            sink_delta,
        })
    }

    /// Runs the load against `server`, with the CPU time both sides used over
    /// the measured window only: the server's start-up, the warm-up (V8's JIT
    /// for Node) and what is still in flight after the window are left out.
    async fn measure(&self, server: &Server, job: &Job) -> LoadResult {
        let start = Instant::now();
        let measure_from = start + Duration::from_secs_f64(self.opts.warmup);
        let end = measure_from + Duration::from_secs_f64(self.opts.duration);
        let pid = server.pid();
        let sampler = tokio::spawn(async move {
            tokio::time::sleep_until(measure_from.into()).await;
            let a = CpuSample::now(pid);
            tokio::time::sleep_until(end.into()).await;
            (a, CpuSample::now(pid))
        });
        let mut r = match job.mode {
            Mode::Closed { connections } => {
                Load {
                    addr: server.addr(),
                    path: job.path,
                    connections,
                    measure_from,
                    end,
                    events_per_request: job.events,
                    body: Arc::clone(&job.body),
                }
                .run()
                .await
            }
            Mode::Open { rate } => {
                OpenLoad {
                    addr: server.addr(),
                    path: job.path,
                    rate,
                    max_connections: crate::opts::MAX_CONNECTIONS,
                    start,
                    measure_from,
                    end,
                    events_per_request: job.events,
                    body: Arc::clone(&job.body),
                }
                .run()
                .await
            }
        };
        let Ok((a, b)) = sampler.await else {
            return r;
        };
        let wall = (b.at - a.at).as_secs_f64().max(1e-3);
        if let (Some(s0), Some(s1)) = (a.server, b.server) {
            let cpu = s1 - s0;
            r.server_cpu_pct = 100.0 * cpu / wall;
            // Per answer of the window: the throughput and the CPU share one window.
            r.server_cpu_us_per_request = 1e6 * cpu / r.requests.max(1) as f64;
            r.server_cpu_us_per_event = r.server_cpu_us_per_request / job.events.max(1) as f64;
        }
        if let (Some(b0), Some(b1)) = (a.bench, b.bench) {
            r.bench_cpu_pct = 100.0 * (b1 - b0) / wall;
        }
        // What neither side used was used by someone else: the figures are disturbed.
        if let (Some((busy0, steal0)), Some((busy1, steal1))) = (a.machine, b.machine) {
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
