//! The peers of the end-to-end tests: Google's Pub/Sub and Firestore emulators, the
//! tools `scripts/install-test-tools` installs, and the workspace's own binaries started
//! on free loopback ports.
//!
//! When `PUBSUB_EMULATOR_HOST` / `FIRESTORE_EMULATOR_HOST` are set, those emulators
//! are used. Otherwise each [`Emulator`] starts its own from the Google Cloud SDK
//! (components `pubsub-emulator` and `cloud-firestore-emulator`, Java 17+): the jar
//! with `java` when it is found in the SDK, else through `gcloud`, on a free loopback
//! port, in a process group of its own that is killed on drop. Not installed: the test
//! is skipped ([`crate::ci::skip`]; `Emulator::start…` returns `None`), which fails
//! under CI. Tests keep to their own project ids, so an external emulator shared
//! between tests and runs never mixes their topics and documents.
//!
//! Hosts are `host:port`, as Google's clients take them.

use crate::ci::skip;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use crate::paths::{repo_root, target_dir, tools_dir};

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

/// A loopback port free now, and never handed out before in this process: two
/// servers started at once (the two emulators, say) never race for the same one.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("no free loopback port");
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if given.insert(port) {
            return port;
        }
    }
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
        .args(["build", "--locked", "--quiet", "-p", name, "--bin", name])
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
    "HERMES_NOTIFY_WEBHOOK_URL",
    "HERMES_PUBSUB_ENDPOINT",
    "HERMES_FIRESTORE_ENDPOINT",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
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
        // One file per start: a process restarted on the same port must not
        // share (and, on the first one's drop, lose) its predecessor's log.
        static STARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let start = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log =
            std::env::temp_dir().join(format!("{name}-{}-{port}-{start}.log", std::process::id()));
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

/// `hermes dev` on a new SQLite file in a fresh data directory named after
/// `test` (removed first), with `env`; the directory is returned to clean up.
pub async fn start_dev(test: &str, env: &[(&str, &str)]) -> (Function, PathBuf) {
    let dir = std::env::temp_dir().join(format!("hermes-dev-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = dir.join("hermes.db").to_string_lossy().into_owned();
    let dev = Function::start_on("hermes", &["dev", "--db", &db], free_port(), env).await;
    (dev, dir)
}

/// `GET url`, its body as JSON (panics otherwise).
pub async fn get_json(url: &str) -> Value {
    reqwest::get(url)
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON")
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

// ---- the emulators ------------------------------------------------------------------

pub const ENV_PUBSUB: &str = "PUBSUB_EMULATOR_HOST";
pub const ENV_FIRESTORE: &str = "FIRESTORE_EMULATOR_HOST";
/// Firestore emulators take this bearer token as "the owner": rules don't apply.
pub const FIRESTORE_OWNER: &str = "Bearer owner";

/// From start to `GET /` answering `Ok` is 1–3 s on an idle machine; the bound leaves
/// room for a loaded one.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// A port taken between choosing and binding it makes the emulator exit: try new ones.
const START_ATTEMPTS: usize = 3;
/// Tests want a quick start, not peak throughput (C1 only, serial GC); Pub/Sub's heap
/// grows with its backlog, so both are capped.
const JVM_OPTIONS: [&str; 3] = ["-Xmx512m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"];
/// Where the emulators are warmed up: no test uses this project.
const WARM_UP_PROJECT: &str = "hermes-warm-up";
/// How a missing emulator is installed, for the skip message.
const HOW_TO_INSTALL: &str = "scripts/install-test-tools says how to install Google's emulators";

/// Google's Pub/Sub and Firestore emulators (or the ones the environment names). Each
/// `start…` starts its own emulators on free loopback ports, and dropping it kills them.
pub struct Emulator {
    pubsub: Option<String>,
    firestore: Option<String>,
    started: Vec<Running>,
    http: reqwest::Client,
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

    /// The emulators asked for: those the environment names, the others started here
    /// (both at once). One that is not installed skips the calling test.
    pub async fn start_with(pubsub: bool, firestore: bool) -> Option<Self> {
        let ext_pubsub = env_host(ENV_PUBSUB).filter(|_| pubsub);
        let ext_firestore = env_host(ENV_FIRESTORE).filter(|_| firestore);
        let launch = |kind: Kind, wanted: bool| async move {
            if wanted {
                Some(Running::start(kind).await)
            } else {
                None
            }
        };
        let (own_pubsub, own_firestore) = tokio::join!(
            launch(Kind::PubSub, pubsub && ext_pubsub.is_none()),
            launch(Kind::Firestore, firestore && ext_firestore.is_none()),
        );
        let mut emu = Emulator {
            pubsub: ext_pubsub,
            firestore: ext_firestore,
            started: Vec::new(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("reqwest client"),
        };
        let mut missing = Vec::new();
        for started in [own_pubsub, own_firestore].into_iter().flatten() {
            match started {
                Ok(running) => {
                    let host = Some(running.host());
                    match running.kind {
                        Kind::PubSub => emu.pubsub = host,
                        Kind::Firestore => emu.firestore = host,
                    }
                    emu.started.push(running);
                }
                Err(why) => missing.push(why),
            }
        }
        if !missing.is_empty() {
            // One skip per test, however many emulators are missing.
            skip(format!("{} ({HOW_TO_INSTALL})", missing.join("; ")));
            return None;
        }
        Some(emu)
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

    /// `host:port` of Firestore REST: the value for `FIRESTORE_EMULATOR_HOST`.
    pub fn firestore_host(&self) -> &str {
        self.firestore
            .as_deref()
            .expect("emulator started without Firestore")
    }

    pub fn firestore_base(&self) -> String {
        base_of(self.firestore_host())
    }

    /// The last lines of the log of each emulator started here (empty for external ones).
    pub fn log_tail(&self, lines: usize) -> String {
        self.started
            .iter()
            .map(|r| format!("---- {} ----\n{}", r.kind.name(), tail(&r.log, lines)))
            .collect::<Vec<_>>()
            .join("\n")
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

    /// `PUT v1/{subscription}`: a pull subscription of `topic`.
    pub async fn create_pull_subscription(&self, subscription: &str, topic: &str) {
        let url = format!("{}/v1/{subscription}", self.pubsub_base());
        let body = json!({ "topic": topic, "ackDeadlineSeconds": 60 });
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

    /// `:modifyAckDeadline` to 0: the messages are handed back, to be pulled again.
    pub async fn nack(&self, subscription: &str, ack_ids: &[String]) {
        if ack_ids.is_empty() {
            return;
        }
        let url = format!("{}/v1/{subscription}:modifyAckDeadline", self.pubsub_base());
        let body = json!({ "ackIds": ack_ids, "ackDeadlineSeconds": 0 });
        let (status, body) = self.call(reqwest::Method::POST, &url, Some(&body)).await;
        assert_eq!(status, 200, "modifyAckDeadline on {subscription}: {body}");
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

    // ---- Firestore ----------------------------------------------------------------------

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
        if std::thread::panicking() && !self.started.is_empty() {
            eprintln!("{}", self.log_tail(60));
        }
        // Each `Running` kills its process group as it drops.
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

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ---- starting Google's emulators ----------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    PubSub,
    Firestore,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::PubSub => "Pub/Sub emulator",
            Kind::Firestore => "Firestore emulator",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Kind::PubSub => "pubsub",
            Kind::Firestore => "firestore",
        }
    }

    /// The emulator's jar in the Google Cloud SDK, where gcloud itself finds it.
    fn jar(self, sdk: &Path) -> Option<PathBuf> {
        match self {
            Kind::PubSub => {
                // The file name carries the version: the newest, should there be several.
                let lib = sdk.join("platform/pubsub-emulator/lib");
                std::fs::read_dir(lib)
                    .ok()?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                            n.starts_with("cloud-pubsub-emulator-") && n.ends_with("-all.jar")
                        })
                    })
                    .max()
            }
            Kind::Firestore => {
                Some(sdk.join("platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"))
                    .filter(|p| p.is_file())
            }
        }
    }

    /// `java …` as gcloud runs it.
    fn java_args(self, jar: &Path, port: u16) -> Vec<String> {
        let jar = jar.to_string_lossy().into_owned();
        let mut args: Vec<String> = JVM_OPTIONS.iter().map(|s| s.to_string()).collect();
        match self {
            Kind::PubSub => args.extend(["-jar".into(), jar]),
            Kind::Firestore => args.extend([
                // The emulator's own launcher sets it: its messages are English only.
                "-Duser.language=en".into(),
                "-cp".into(),
                jar,
                "com.google.cloud.datastore.emulator.firestore.CloudFirestore".into(),
                "start".into(),
            ]),
        }
        args.extend(["--host=127.0.0.1".into(), format!("--port={port}")]);
        if self == Kind::Firestore {
            args.push("--database-mode=firestore-native".into());
        }
        args
    }

    fn gcloud_args(self, port: u16) -> Vec<String> {
        let host_port = format!("--host-port=127.0.0.1:{port}");
        let mut args: Vec<String> = match self {
            Kind::PubSub => ["beta", "emulators", "pubsub", "start"]
                .map(String::from)
                .into(),
            Kind::Firestore => ["emulators", "firestore", "start"].map(String::from).into(),
        };
        args.push(host_port);
        if self == Kind::PubSub {
            args.push(format!("--project={WARM_UP_PROJECT}"));
        }
        // A missing component fails instead of asking whether to install it.
        args.push("--quiet".into());
        args
    }

    /// The first API calls of a fresh JVM are slow (~1 s): made here, they do not
    /// count against a test's own timing.
    async fn warm_up(self, http: &reqwest::Client, base: &str) -> Result<(), String> {
        let calls: Vec<(reqwest::Method, String, Value)> = match self {
            Kind::PubSub => {
                let topic = format!("projects/{WARM_UP_PROJECT}/topics/warm-up");
                vec![
                    (
                        reqwest::Method::PUT,
                        format!("{base}/v1/{topic}"),
                        json!({}),
                    ),
                    (
                        reqwest::Method::POST,
                        format!("{base}/v1/{topic}:publish"),
                        json!({ "messages": [{ "data": "e30=" }] }),
                    ),
                ]
            }
            Kind::Firestore => {
                let db = format!("projects/{WARM_UP_PROJECT}/databases/(default)");
                let commit = json!({ "writes": [{
                    "update": { "name": format!("{db}/documents/warm-up/doc"), "fields": {} },
                    "updateTransforms": [{ "fieldPath": "n", "increment": { "integerValue": "1" } }]
                }] });
                vec![
                    (
                        reqwest::Method::POST,
                        format!("{base}/v1/{db}/documents:commit"),
                        commit,
                    ),
                    (
                        reqwest::Method::GET,
                        format!("{base}/v1/{db}/documents/warm-up/doc"),
                        Value::Null,
                    ),
                ]
            }
        };
        for (method, url, body) in calls {
            let mut req = http
                .request(method.clone(), &url)
                .header(reqwest::header::AUTHORIZATION, FIRESTORE_OWNER);
            if !body.is_null() {
                req = req.json(&body);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| format!("warm-up {method} {url}: {e}"))?;
            let status = resp.status();
            if !status.is_success() && status.as_u16() != 409 {
                let text = resp.text().await.unwrap_or_default();
                return Err(format!("warm-up {method} {url}: HTTP {status} {text}"));
            }
        }
        Ok(())
    }
}

/// How to start an emulator: its jar with `java` (quicker), or through gcloud.
#[derive(Debug, Clone)]
enum Launch {
    Java { java: PathBuf, jar: PathBuf },
    Gcloud { gcloud: PathBuf },
}

impl Launch {
    /// The emulator leads a process group of its own. gcloud moves itself to a group
    /// named after its pid, which is then this one, so the JVM it starts stays in it
    /// and killing the group stops both.
    fn command(&self, kind: Kind, port: u16) -> Command {
        let mut cmd = match self {
            Launch::Java { java, jar } => {
                let mut cmd = Command::new(java);
                cmd.args(kind.java_args(jar, port));
                cmd
            }
            Launch::Gcloud { gcloud } => {
                let mut cmd = Command::new(gcloud);
                cmd.args(kind.gcloud_args(port))
                    .env("JAVA_TOOL_OPTIONS", JVM_OPTIONS.join(" "))
                    .env("CLOUDSDK_CORE_DISABLE_PROMPTS", "1");
                cmd
            }
        };
        cmd.process_group(0);
        cmd
    }

    fn describe(&self) -> String {
        match self {
            Launch::Java { java, jar } => format!("{} with {}", java.display(), jar.display()),
            Launch::Gcloud { gcloud } => format!("{} (gcloud)", gcloud.display()),
        }
    }
}

/// An executable `name` on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The Google Cloud SDK's root, found once per test binary: `<root>/bin/gcloud` is
/// what `gcloud` on `PATH` is or links to; if not, gcloud says where it is.
fn sdk_root() -> Option<&'static Path> {
    static ROOT: OnceLock<Option<PathBuf>> = OnceLock::new();
    ROOT.get_or_init(|| {
        let gcloud = on_path("gcloud")?;
        let by_layout = std::fs::canonicalize(&gcloud)
            .ok()
            .and_then(|p| Some(p.parent()?.parent()?.to_path_buf()))
            .filter(|root| root.join("platform").is_dir());
        if by_layout.is_some() {
            return by_layout;
        }
        let out = Command::new(&gcloud)
            .args(["info", "--format=value(installation.sdk_root)"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let root = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !root.is_empty()).then(|| PathBuf::from(root))
    })
    .as_deref()
}

/// The ways to start `kind`, best first; `Err` says what is missing.
fn launches(kind: Kind) -> Result<Vec<Launch>, String> {
    let gcloud = on_path("gcloud").ok_or("gcloud (the Google Cloud CLI) is not on PATH")?;
    let java = on_path("java").ok_or("java (17 or newer) is not on PATH")?;
    let jar = sdk_root().and_then(|root| kind.jar(root));
    let mut plan = Vec::new();
    if let Some(jar) = jar {
        plan.push(Launch::Java { java, jar });
    }
    plan.push(Launch::Gcloud { gcloud });
    Ok(plan)
}

/// An emulator started here, in its own process group, killed as a group on drop.
struct Running {
    kind: Kind,
    port: u16,
    child: Child,
    /// See [`watchdog`].
    watchdog: Option<Child>,
    log: PathBuf,
}

impl Running {
    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts `kind` and waits until it serves. `Err` when it is not installed (the
    /// test is skipped); a panic, with its log, when it is but does not come up.
    async fn start(kind: Kind) -> Result<Self, String> {
        let plan = launches(kind).map_err(|e| format!("no {}: {e}", kind.name()))?;
        let found_jar = matches!(plan[0], Launch::Java { .. });
        let mut failures = Vec::new();
        for attempt in 0..START_ATTEMPTS {
            // The jar first; gcloud after it failed, in case it knows better.
            let launch = &plan[attempt.min(plan.len() - 1)];
            let mut running = Self::spawn(kind, launch, attempt);
            match running.wait_ready().await {
                Ok(()) => return Ok(running),
                Err(why) => failures.push(format!(
                    "attempt {} ({}) on port {}: {why}\n{}",
                    attempt + 1,
                    launch.describe(),
                    running.port,
                    tail(&running.log, 30)
                )),
            }
            // `running` drops here: group killed, log removed.
        }
        let report = failures.join("\n\n");
        if !found_jar {
            // Only gcloud was left to try, and it could not start the emulator: most
            // likely its component is not installed.
            return Err(format!(
                "the {} is not installed in the Google Cloud SDK (gcloud failed to start it):\n{report}",
                kind.name()
            ));
        }
        panic!("the {} did not start:\n{report}", kind.name());
    }

    fn spawn(kind: Kind, launch: &Launch, attempt: usize) -> Self {
        let port = free_port();
        let log = std::env::temp_dir().join(format!(
            "hermes-{}-emulator-{}-{port}-{attempt}.log",
            kind.slug(),
            std::process::id()
        ));
        let out = std::fs::File::create(&log).expect("emulator log file");
        let err = out.try_clone().expect("emulator log file");
        let child = launch
            .command(kind, port)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {}: {e}", kind.name()));
        let watchdog = watchdog(child.id());
        Self {
            kind,
            port,
            child,
            watchdog,
            log,
        }
    }

    /// `GET /` answers `Ok` once the emulator serves; then it is warmed up.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("reqwest client");
        let base = format!("http://{}", self.host());
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited before it was ready ({status})"));
            }
            if let Ok(resp) = client.get(format!("{base}/")).send().await {
                if resp.status().is_success() && resp.text().await.is_ok_and(|t| t.trim() == "Ok") {
                    break;
                }
            }
            if Instant::now() > deadline {
                return Err(format!("not ready within {START_TIMEOUT:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let warm_up = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("reqwest client");
        self.kind.warm_up(&warm_up, &base).await?;
        // Still ours: not another process's server that answered on a reused port.
        if let Ok(Some(status)) = self.child.try_wait() {
            return Err(format!("exited while warming up ({status})"));
        }
        Ok(())
    }
}

/// A `sh` in the emulator's process group that kills the group when the test process
/// goes away, even killed: its stdin, a pipe from this process, then reaches end of
/// file. Being in that group, out of the terminal's, Ctrl-C of `cargo test` does not
/// end it first; and while it waits, the group's id cannot be reused. `None` if the
/// emulator already exited (its group is gone).
fn watchdog(group: u32) -> Option<Child> {
    Command::new("sh")
        .args(["-c", "read -r line; kill -KILL \"-$1\"", "watchdog"])
        .arg(group.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(group as i32)
        .spawn()
        .ok()
}

impl Drop for Running {
    fn drop(&mut self) {
        // The watchdog is in the group: this kill ends it too.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
