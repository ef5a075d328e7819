//! Shared helpers of the end-to-end tests: locating the tools `scripts/install-test-tools`
//! installs, building and starting the function binaries, free ports, cleanup.
#![allow(dead_code)]

pub mod oidc;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where `scripts/install-test-tools` puts the test peers (`HERMES_TOOLS` overrides).
pub fn tools_dir() -> PathBuf {
    std::env::var_os("HERMES_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".tools"))
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A tool under `.tools/`. Missing: a failure in CI, a loud skip elsewhere.
pub fn tool(relative: &str) -> Option<PathBuf> {
    let path = tools_dir().join(relative);
    if path.exists() {
        return Some(path);
    }
    let msg = format!(
        "{} is missing: run scripts/install-test-tools (scripts/test does it for you)",
        path.display()
    );
    if in_ci() {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// Builds (if needed) and returns the path of a workspace binary in the test profile.
pub fn binary(name: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        // Every binary lives in the package of the same name.
        .args(["build", "--quiet", "-p", name, "--bin", name])
        .current_dir(repo_root())
        .status()
        .expect("cargo build failed to start");
    assert!(status.success(), "cargo build --bin {name} failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|t| repo_root().join(t))
        .unwrap_or_else(|| repo_root().join("target"));
    target.join("debug").join(name)
}

/// A child process killed (and reaped) on drop.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command) -> Self {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self {
            child,
            name: name.to_string(),
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `url` answers any HTTP status (the server is up).
pub async fn wait_http(url: &str, timeout: Duration) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + timeout;
    loop {
        if client.get(url).send().await.is_ok() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not come up within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes `text` to a fresh temporary file and returns its path.
pub fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hermes-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("temp file");
    path
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}

/// Variables a function reads; cleared before a test sets its own, so the
/// developer's environment cannot leak into a test.
const FUNCTION_ENV: &[&str] = &[
    "HERMES_CONFIG",
    "HERMES_CONFIG_TOML",
    "HERMES_BEARER_TOKEN",
    "HERMES_PREVIEW_BEARER_TOKEN",
    "PUBSUB_EMULATOR_HOST",
    "FIRESTORE_EMULATOR_HOST",
    "GOOGLE_CLOUD_PROJECT",
    "AWS_LAMBDA_RUNTIME_API",
];

/// A running function binary on a free port; its output goes to a log file,
/// printed when the test fails.
pub struct Function {
    pub proc: Proc,
    pub base: String,
    pub log: PathBuf,
}

impl Function {
    pub async fn start(name: &str, env: &[(&str, &str)]) -> Self {
        Self::start_on(name, &[], free_port(), env).await
    }

    /// Starts `name ARGS…` with `PORT=port`.
    pub async fn start_on(name: &str, args: &[&str], port: u16, env: &[(&str, &str)]) -> Self {
        let bin = binary(name);
        let log = std::env::temp_dir().join(format!("{name}-{}-{port}.log", std::process::id()));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let err = out.try_clone().expect("log file");
        let mut cmd = Command::new(bin);
        cmd.args(args);
        for var in FUNCTION_ENV {
            cmd.env_remove(var);
        }
        cmd.env("PORT", port.to_string())
            .envs(env.iter().copied())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let function = Self {
            proc: Proc::spawn(name, &mut cmd),
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        wait_http(
            &format!("{}/healthz", function.base),
            Duration::from_secs(30),
        )
        .await;
        function
    }

    /// `POST {base}{path}` with a JSON body; the answer must be JSON.
    pub async fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let mut req = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("POST");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("answer");
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} answered non-JSON ({e}): {text}", self.proc.name));
        (status, value)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The JSON log lines with this `severity`.
    pub fn log_lines(&self, severity: &str) -> Vec<serde_json::Value> {
        self.log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["severity"] == severity)
            .collect()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- {} log ----\n{}", self.proc.name, self.log_text());
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
