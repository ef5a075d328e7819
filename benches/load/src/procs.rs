//! Starting the servers under test: a clean environment, CPU pinning, an
//! optional address-space limit, readiness, peak RSS, and stopping them.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Pins the calling thread (and the threads it starts later) to `cpus`
/// (CPU indices; empty: leave the affinity alone).
pub fn pin_self(cpus: &[usize]) -> std::io::Result<()> {
    set_affinity(0, cpus)
}

fn set_affinity(pid: libc::pid_t, cpus: &[usize]) -> std::io::Result<()> {
    if cpus.is_empty() {
        return Ok(());
    }
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET only writes inside it;
    // sched_setaffinity reads `size_of::<cpu_set_t>()` bytes of it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        if libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Raises this process's open-file limit (inherited by the servers it starts)
/// so that `connections` client sockets, as many server sockets and the
/// servers' own connections to the sinks fit, with room to spare.
pub fn raise_fd_limit(connections: usize) -> Result<(), String> {
    let want = (connections as u64) * 4 + 1024;
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return Err(format!(
                "getrlimit(RLIMIT_NOFILE): {}",
                std::io::Error::last_os_error()
            ));
        }
        if rl.rlim_cur >= want {
            return Ok(());
        }
        if rl.rlim_max < want {
            return Err(format!(
                "the open-file limit is {} (hard): {want} are needed for {connections} connections; raise it (ulimit -Hn) or pass smaller --sweep",
                rl.rlim_max
            ));
        }
        rl.rlim_cur = want;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
            return Err(format!(
                "setrlimit(RLIMIT_NOFILE, {want}): {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

/// The number of CPUs of the machine (not of this process's affinity).
pub fn online_cpus() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n > 0 {
        n as usize
    } else {
        1
    }
}

/// A free loopback port (bound, then released: the server binds it right after).
pub fn free_port() -> std::io::Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(l.local_addr()?.port())
}

/// How to start one server under test.
#[derive(Clone, Debug)]
pub struct Spec {
    pub name: &'static str,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The only environment the server gets (plus `PATH` and `PORT`).
    pub env: Vec<(String, String)>,
}

pub struct Server {
    pub name: &'static str,
    pub port: u16,
    child: Child,
}

/// Where the servers' stderr goes.
pub struct Logs {
    pub dir: PathBuf,
}

impl Spec {
    /// Starts the server on `port` pinned to `cpus`, with `RLIMIT_AS` = `address_space`
    /// bytes when given. Returns at once: see [`Server::wait_ready`].
    pub fn spawn(
        &self,
        port: u16,
        cpus: &[usize],
        address_space: Option<u64>,
        logs: &Logs,
    ) -> std::io::Result<Server> {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PORT", port.to_string())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            // The request log lines are written, as in production, and thrown away.
            .stdout(Stdio::null())
            .stderr(stderr_file(&logs.dir, self.name)?);
        let cpus = cpus.to_vec();
        // SAFETY: only async-signal-safe system calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                set_affinity(0, &cpus)?;
                if let Some(limit) = address_space {
                    let rl = libc::rlimit {
                        rlim_cur: limit,
                        rlim_max: limit,
                    };
                    if libc::setrlimit(libc::RLIMIT_AS, &rl) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        Ok(Server {
            name: self.name,
            port,
            child,
        })
    }
}

fn stderr_file(dir: &Path, name: &str) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{name}.stderr.log")))
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Whether the process has exited (and how).
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    /// Polls `GET /healthz` until it answers 200.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Err(format!("{} exited during start-up ({status})", self.name));
            }
            if let Ok((200, _)) = http_blocking(self.addr(), "GET", "/healthz", b"") {
                return Ok(());
            }
            if Instant::now() > end {
                return Err(format!("{} not ready after {timeout:?}", self.name));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Peak resident set size so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        status_field(self.pid(), "VmHWM:")
    }

    /// Resident set size now (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        status_field(self.pid(), "VmRSS:")
    }

    /// SIGKILL and reap (the benchmark needs no graceful shutdown).
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// CPU time (user + system, all threads) the process `pid` has used, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces): state is field 3,
    // utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some((utime + stime) / hz)
}

/// CPU time the whole machine has spent in processes (user, nice, system) and
/// the time the hypervisor stole, in seconds since boot.
pub fn machine_cpu_seconds() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let busy = v.first()? + v.get(1)? + v.get(2)?;
    Some((busy / hz, v.get(7).copied().unwrap_or(0.0) / hz))
}

/// The fraction of the machine's CPU time that was busy over `window`.
pub fn machine_busy(window: Duration) -> Option<f64> {
    fn sample() -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu = stat.lines().next()?;
        let v: Vec<u64> = cpu
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal
        let idle = v.get(3)? + v.get(4).unwrap_or(&0);
        let total: u64 = v.iter().take(8).sum();
        Some((idle, total))
    }
    let (i0, t0) = sample()?;
    std::thread::sleep(window);
    let (i1, t1) = sample()?;
    let total = t1.checked_sub(t0)?.max(1) as f64;
    Some(1.0 - (i1.saturating_sub(i0)) as f64 / total)
}

pub fn status_field(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// One HTTP/1.1 request on a new connection (`Connection: close`), blocking:
/// the status and the body. For readiness and cold-start probes only.
pub fn http_blocking(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr)?;
    request_on(&mut stream, method, path, body)
}

/// Sends one request on `stream` and reads the answer to EOF.
pub fn request_on(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no HTTP status line"))?;
    let body = match answer.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => answer[i + 4..].to_vec(),
        None => Vec::new(),
    };
    Ok((status, body))
}
