//! The peers of the end-to-end tests: the Pub/Sub + Firestore emulator, the tools
//! `scripts/install-test-tools` installs, and the workspace's own binaries started
//! on free loopback ports.
//!
//! When `PUBSUB_EMULATOR_HOST` / `FIRESTORE_EMULATOR_HOST` are set (Google's own
//! emulators, say), those are used. Otherwise cloudbox (PyPI, installed into
//! `.tools/venv` by `scripts/install-test-tools`) is started through
//! `scripts/cloudbox/run-cloudbox` on free loopback ports and killed on drop.
//! No venv: the test is skipped ([`crate::ci::skip`]; `Emulator::start…` returns
//! `None`), which fails under CI.
//!
//! Hosts are `host:port`, as Google's clients take them. For cloudbox,
//! `pubsub_host()` is its Pub/Sub REST server (not its gRPC one) and
//! `firestore_host()` is `scripts/cloudbox/firestore_proxy.py` in front of its
//! Firestore: real paths (`…/documents:commit`) and atomic `exists` preconditions
//! answered as real Firestore does (409 ALREADY_EXISTS / 404 NOT_FOUND).
//! `firestore_raw_host()` is cloudbox's Firestore itself.

use crate::ci::skip;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---- the workspace ------------------------------------------------------------------

/// The workspace root: the kit lives one level below it, whichever package's test runs.
pub fn repo_root() -> PathBuf {
    let kit = Path::new(env!("CARGO_MANIFEST_DIR"));
    kit.parent().unwrap_or(kit).to_path_buf()
}

/// The workspace's target directory (`CARGO_TARGET_DIR`, relative to the root, or `target/`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(|t| repo_root().join(t))
        .unwrap_or_else(|| repo_root().join("target"))
}

/// Where `scripts/install-test-tools` puts the test peers (`HERMES_TOOLS` overrides).
pub fn tools_dir() -> PathBuf {
    std::env::var_os("HERMES_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".tools"))
}

/// A tool under `.tools/`. Missing: the calling test is skipped (a failure under CI).
pub fn tool(relative: &str) -> Option<PathBuf> {
    let path = tools_dir().join(relative);
    if path.exists() {
        return Some(path);
    }
    skip(format!(
        "{} is missing: run scripts/install-test-tools (scripts/test does it for you)",
        path.display()
    ));
    None
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// A name unique to this test run (lowercase, digits and hyphens), for project ids and
/// subscriptions: tests sharing one emulator, or an external emulator kept running
/// between runs, never see each other's topics and documents.
pub fn unique_id(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{test}-{}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
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
    target_dir().join("debug").join(name)
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

// ---- the emulator -------------------------------------------------------------------

pub const ENV_PUBSUB: &str = "PUBSUB_EMULATOR_HOST";
pub const ENV_FIRESTORE: &str = "FIRESTORE_EMULATOR_HOST";
/// Firestore emulators take this bearer token as "the owner": rules don't apply.
pub const FIRESTORE_OWNER: &str = "Bearer owner";

/// Every port variable cloudbox 0.2.3 reads (cloudbox/config.py): it starts every service.
const CLOUDBOX_PORT_VARS: [&str; 11] = [
    "CLOUDBOX_PUBSUB_REST_PORT",
    "CLOUDBOX_FIRESTORE_PORT",
    "CLOUDBOX_PUBSUB_PORT",
    "CLOUDBOX_GCS_PORT",
    "CLOUDBOX_SECRETMANAGER_PORT",
    "CLOUDBOX_TASKS_PORT",
    "CLOUDBOX_BIGQUERY_PORT",
    "CLOUDBOX_SCHEDULER_PORT",
    "CLOUDBOX_ADMIN_PORT",
    "CLOUDBOX_SPANNER_PORT",
    "CLOUDBOX_LOGGING_PORT",
];
const PROXY_PORT_VAR: &str = "CLOUDBOX_FIRESTORE_PROXY_PORT";
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running emulator (or the ones the environment names).
pub struct Emulator {
    pubsub: Option<String>,
    firestore: Option<String>,
    firestore_raw: Option<String>,
    cloudbox: Option<Cloudbox>,
    http: reqwest::Client,
}

struct Cloudbox {
    proc: Proc,
    log: PathBuf,
}

/// One message received by a pull subscription.
#[derive(Debug, Clone)]
pub struct Received {
    pub ack_id: String,
    pub message_id: String,
    /// `data`, base64-decoded.
    pub data: Vec<u8>,
    pub attributes: BTreeMap<String, String>,
    pub publish_time: String,
    pub ordering_key: String,
    pub delivery_attempt: Option<i64>,
}

impl Received {
    /// `data` parsed as JSON (panics if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.data).unwrap_or_else(|e| {
            panic!(
                "message {} data is not JSON ({e}): {:?}",
                self.message_id,
                String::from_utf8_lossy(&self.data)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.data.clone()).expect("message data is not UTF-8")
    }
}

fn env_host(var: &str) -> Option<String> {
    std::env::var(var)
        .ok()
        .map(|h| h.trim().trim_end_matches('/').to_string())
        .filter(|h| !h.is_empty())
}

fn base_of(host: &str) -> String {
    if host.starts_with("http://") || host.starts_with("https://") {
        host.to_string()
    } else {
        format!("http://{host}")
    }
}

impl Emulator {
    /// Pub/Sub and Firestore.
    pub async fn start() -> Option<Self> {
        Self::start_with(true, true).await
    }

    /// Pub/Sub only: an external `PUBSUB_EMULATOR_HOST` is enough.
    pub async fn start_pubsub() -> Option<Self> {
        Self::start_with(true, false).await
    }

    /// Firestore only: an external `FIRESTORE_EMULATOR_HOST` is enough.
    pub async fn start_firestore() -> Option<Self> {
        Self::start_with(false, true).await
    }

    pub async fn start_with(pubsub: bool, firestore: bool) -> Option<Self> {
        let ext_pubsub = env_host(ENV_PUBSUB).filter(|_| pubsub);
        let ext_firestore = env_host(ENV_FIRESTORE).filter(|_| firestore);
        let need_cloudbox =
            (pubsub && ext_pubsub.is_none()) || (firestore && ext_firestore.is_none());
        let mut emu = Emulator {
            pubsub: ext_pubsub,
            firestore: ext_firestore.clone(),
            firestore_raw: ext_firestore,
            cloudbox: None,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("reqwest client"),
        };
        if need_cloudbox {
            let venv = cloudbox_venv()?;
            let (cloudbox, ports) = start_cloudbox(&venv).await;
            emu.cloudbox = Some(cloudbox);
            if pubsub && emu.pubsub.is_none() {
                emu.pubsub = Some(format!("127.0.0.1:{}", ports.pubsub_rest));
            }
            if firestore && emu.firestore.is_none() {
                emu.firestore = Some(format!("127.0.0.1:{}", ports.firestore_proxy));
                emu.firestore_raw = Some(format!("127.0.0.1:{}", ports.firestore));
            }
        }
        Some(emu)
    }

    /// True when this emulator is a cloudbox the harness started.
    pub fn is_cloudbox(&self) -> bool {
        self.cloudbox.is_some()
    }

    /// `host:port` of Pub/Sub REST: the value for `PUBSUB_EMULATOR_HOST`.
    pub fn pubsub_host(&self) -> &str {
        self.pubsub
            .as_deref()
            .expect("emulator started without Pub/Sub")
    }

    pub fn pubsub_base(&self) -> String {
        base_of(self.pubsub_host())
    }

    /// `host:port` of Firestore REST with the real paths: the value for `FIRESTORE_EMULATOR_HOST`.
    pub fn firestore_host(&self) -> &str {
        self.firestore
            .as_deref()
            .expect("emulator started without Firestore")
    }

    pub fn firestore_base(&self) -> String {
        base_of(self.firestore_host())
    }

    /// cloudbox's own Firestore (its paths and its non-atomic commit); the external one otherwise.
    pub fn firestore_raw_host(&self) -> &str {
        self.firestore_raw
            .as_deref()
            .expect("emulator started without Firestore")
    }

    /// The last lines cloudbox wrote (empty for an external emulator).
    pub fn log_tail(&self, lines: usize) -> String {
        self.cloudbox
            .as_ref()
            .map(|c| tail(&c.log, lines))
            .unwrap_or_default()
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    async fn call(&self, method: reqwest::Method, url: &str, body: Option<&Value>) -> (u16, Value) {
        let mut req = self.http.request(method.clone(), url);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}\n{}", self.log_tail(30)));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    // ---- Pub/Sub ------------------------------------------------------------------------

    /// `PUT v1/{topic}` (`projects/{p}/topics/{t}`); an existing topic is fine.
    pub async fn create_topic(&self, topic: &str) {
        let url = format!("{}/v1/{topic}", self.pubsub_base());
        let (status, body) = self
            .call(reqwest::Method::PUT, &url, Some(&json!({})))
            .await;
        assert!(
            status == 200 || status == 409,
            "create topic {topic}: HTTP {status} {body}"
        );
    }

    /// `PUT v1/{subscription}`: a pull subscription of `topic`. cloudbox wants `name`
    /// in the body as well as in the URL (the real API takes it from the URL).
    pub async fn create_pull_subscription(&self, subscription: &str, topic: &str) {
        let url = format!("{}/v1/{subscription}", self.pubsub_base());
        let body = json!({ "name": subscription, "topic": topic, "ackDeadlineSeconds": 60 });
        let (status, body) = self.call(reqwest::Method::PUT, &url, Some(&body)).await;
        assert!(
            status == 200 || status == 409,
            "create subscription {subscription}: HTTP {status} {body}"
        );
    }

    /// One `:pull` (returns immediately); the messages are not acknowledged.
    pub async fn pull(&self, subscription: &str, max: u32) -> Vec<Received> {
        let url = format!("{}/v1/{subscription}:pull", self.pubsub_base());
        let req = json!({ "maxMessages": max, "returnImmediately": true });
        let (status, body) = self.call(reqwest::Method::POST, &url, Some(&req)).await;
        assert_eq!(status, 200, "pull {subscription}: {body}");
        body.get("receivedMessages")
            .and_then(Value::as_array)
            .map(|list| list.iter().map(parse_received).collect())
            .unwrap_or_default()
    }

    /// `:acknowledge`.
    pub async fn ack(&self, subscription: &str, ack_ids: &[String]) {
        if ack_ids.is_empty() {
            return;
        }
        let url = format!("{}/v1/{subscription}:acknowledge", self.pubsub_base());
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &url,
                Some(&json!({ "ackIds": ack_ids })),
            )
            .await;
        assert_eq!(status, 200, "acknowledge on {subscription}: {body}");
    }

    /// Pulls and acknowledges until `n` messages arrived (or `timeout` passed: then
    /// returns what came). Messages come in any order.
    pub async fn pull_n(&self, subscription: &str, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        while got.len() < n && Instant::now() < deadline {
            let batch = self.pull(subscription, 100).await;
            if batch.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let ids: Vec<String> = batch.iter().map(|m| m.ack_id.clone()).collect();
            self.ack(subscription, &ids).await;
            got.extend(batch);
        }
        got
    }

    /// Pulls and acknowledges whatever is there now, until a pull comes back empty.
    pub async fn drain(&self, subscription: &str) -> Vec<Received> {
        let mut got = Vec::new();
        loop {
            let batch = self.pull(subscription, 100).await;
            if batch.is_empty() {
                return got;
            }
            let ids: Vec<String> = batch.iter().map(|m| m.ack_id.clone()).collect();
            self.ack(subscription, &ids).await;
            got.extend(batch);
        }
    }

    // ---- Firestore (through the real paths) ---------------------------------------------

    /// `GET v1/{name}` of a document (`projects/{p}/databases/{d}/documents/{path}`).
    pub async fn firestore_get(&self, name: &str) -> Option<Value> {
        let url = format!("{}/v1/{name}", self.firestore_base());
        let resp = self
            .http
            .get(&url)
            .header(reqwest::header::AUTHORIZATION, FIRESTORE_OWNER)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        match resp.status().as_u16() {
            404 => None,
            200 => Some(resp.json().await.expect("document JSON")),
            s => panic!(
                "GET {url}: HTTP {s} {}",
                resp.text().await.unwrap_or_default()
            ),
        }
    }

    /// `POST v1/{database}/documents:commit`; returns the status and the JSON answer.
    pub async fn firestore_commit(&self, database: &str, body: &Value) -> (u16, Value) {
        let url = format!("{}/v1/{database}/documents:commit", self.firestore_base());
        let resp = self
            .http
            .post(&url)
            .header(reqwest::header::AUTHORIZATION, FIRESTORE_OWNER)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(c) = self.cloudbox.take() {
            if std::thread::panicking() {
                eprintln!(
                    "---- cloudbox log ({}) ----\n{}",
                    c.log.display(),
                    tail(&c.log, 60)
                );
            }
            drop(c.proc);
            if !std::thread::panicking() {
                let _ = std::fs::remove_file(&c.log);
            }
        }
    }
}

fn parse_received(v: &Value) -> Received {
    let msg = &v["message"];
    let s = |x: &Value| x.as_str().unwrap_or_default().to_string();
    let data = msg["data"].as_str().unwrap_or_default();
    let data = base64::engine::general_purpose::STANDARD
        .decode(data)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(data))
        .unwrap_or_else(|e| panic!("message data is not base64 ({e}): {data:?}"));
    let attributes = msg["attributes"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    Received {
        ack_id: s(&v["ackId"]),
        message_id: s(&msg["messageId"]),
        data,
        attributes,
        publish_time: s(&msg["publishTime"]),
        ordering_key: s(&msg["orderingKey"]),
        delivery_attempt: v["deliveryAttempt"].as_i64(),
    }
}

/// `.tools/venv` (or `$HERMES_TOOLS/venv`) with cloudbox installed.
fn cloudbox_venv() -> Option<PathBuf> {
    let bin = tool("venv/bin/cloudbox")?;
    bin.parent().and_then(Path::parent).map(Path::to_path_buf)
}

struct Ports {
    pubsub_rest: u16,
    firestore: u16,
    firestore_proxy: u16,
}

/// Distinct free loopback ports.
fn distinct_ports(n: usize) -> Vec<u16> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let p = free_port();
        if seen.insert(p) {
            out.push(p);
        }
    }
    out
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Starts cloudbox and waits until the services we use answer. A port taken between
/// choosing it and binding it makes cloudbox exit: then it is tried again on new ports.
async fn start_cloudbox(venv: &Path) -> (Cloudbox, Ports) {
    let launcher = repo_root().join("scripts/cloudbox/run-cloudbox");
    let mut last_log = String::new();
    for attempt in 1..=3 {
        let all = distinct_ports(CLOUDBOX_PORT_VARS.len() + 1);
        let ports = Ports {
            pubsub_rest: all[0],
            firestore: all[1],
            firestore_proxy: all[CLOUDBOX_PORT_VARS.len()],
        };
        let log = std::env::temp_dir().join(format!(
            "hermes-cloudbox-{}-{}-{attempt}.log",
            std::process::id(),
            ports.pubsub_rest
        ));
        let out = std::fs::File::create(&log).expect("cloudbox log file");
        let err = out.try_clone().expect("cloudbox log file");
        let mut cmd = Command::new(&launcher);
        cmd.env("CLOUDBOX_VENV", venv)
            .env("CLOUDBOX_HOST", "127.0.0.1")
            .env(PROXY_PORT_VAR, ports.firestore_proxy.to_string())
            .env_remove("CLOUDBOX_DATA_DIR") // in memory: every test starts empty
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        for (var, port) in CLOUDBOX_PORT_VARS.iter().zip(&all) {
            cmd.env(var, port.to_string());
        }
        let proc = Proc::spawn("cloudbox", &mut cmd);
        let mut cloudbox = Cloudbox { proc, log };
        match wait_ready(&mut cloudbox, &ports).await {
            Ok(()) => return (cloudbox, ports),
            Err(why) => {
                last_log = format!("{why}\n{}", tail(&cloudbox.log, 40));
                let _ = std::fs::remove_file(&cloudbox.log);
            }
        }
    }
    panic!("cloudbox did not start ({launcher:?}):\n{last_log}");
}

async fn wait_ready(cloudbox: &mut Cloudbox, ports: &Ports) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("reqwest client");
    let probes = [
        format!(
            "http://127.0.0.1:{}/v1/projects/ready/topics",
            ports.pubsub_rest
        ),
        format!(
            "http://127.0.0.1:{}/v1/projects/ready/databases/(default)/documents/ready/probe",
            ports.firestore
        ),
        format!(
            "http://127.0.0.1:{}/v1/projects/ready/databases/(default)/documents/ready/probe",
            ports.firestore_proxy
        ),
    ];
    let deadline = Instant::now() + START_TIMEOUT;
    for url in &probes {
        loop {
            if let Ok(Some(status)) = cloudbox.proc.child.try_wait() {
                return Err(format!("cloudbox exited early ({status})"));
            }
            // Any HTTP answer from the service itself (the proxy answers 502 until
            // its upstream is up, but that one is probed first).
            if let Ok(r) = client.get(url).send().await {
                if r.status().as_u16() != 502 {
                    break;
                }
            }
            if Instant::now() > deadline {
                return Err(format!("{url} did not answer within {START_TIMEOUT:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}
