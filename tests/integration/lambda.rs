//! One binary, two runtimes: `hermes-ingest` under the AWS Lambda runtime emulator
//! (`cargo lambda watch --only-lambda-apis`, function URL events) answers exactly as the same
//! binary serving plain HTTP on `$PORT` (status, headers, body), request by request.
//!
//! Pub/Sub is a recording wiremock stub that answers every publish with the deterministic ids
//! "1".."n", so the two runs produce byte-identical bodies. The thing under test is the Lambda
//! adapter (`hermes_runtime::run` through `lambda_http`), not Pub/Sub.
//!
//! API Gateway REST and Application Load Balancer events, which the emulator's function URL
//! cannot send, go raw through its Invoke API; those tests check the function's response object.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use flate2::write::GzEncoder;
use hermes_testkit::emulator::{binary, free_port, repo_root, tool, wait_http, Proc};
use hermes_testkit::publishers::PublishIds;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

const TOPIC_PATH: &str = "/v1/projects/hermes-test/topics/events:publish";
const TOKEN: &str = "lambda-test-token";
/// Small enough that the oversize case stays small.
const MAX_BODY_BYTES: usize = 4096;
const STARTUP: Duration = Duration::from_secs(60);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn config_toml() -> String {
    format!(
        "max_body_bytes = {MAX_BODY_BYTES}\n\
         [[destinations]]\n\
         name = \"events\"\n\
         topic = \"projects/hermes-test/topics/events\"\n"
    )
}

/// Forwards a child's output line by line to the test's stderr (shown on failure or with
/// `--nocapture`), and to `lines` when given.
fn forward(name: &str, out: impl Read + Send + 'static, lines: Option<mpsc::Sender<String>>) {
    let name = name.to_string();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            eprintln!("[{name}] {line}");
            if let Some(tx) = &lines {
                let _ = tx.send(line);
            }
        }
    });
}

/// Starts a child with its stdout and stderr forwarded; stdout lines also go to `lines`.
fn spawn_logged(name: &str, cmd: &mut Command, lines: Option<mpsc::Sender<String>>) -> Proc {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut proc = Proc::spawn(name, cmd);
    let stdout = proc.child.stdout.take().expect("piped stdout");
    let stderr = proc.child.stderr.take().expect("piped stderr");
    forward(name, stdout, lines);
    forward(name, stderr, None);
    proc
}

/// `hermes-ingest` with a clean environment: nothing of the developer's (credentials, a stray
/// `AWS_LAMBDA_RUNTIME_API` or `PORT`) leaks in.
fn ingest_command(bin: &PathBuf, pubsub: &str) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_BACKTRACE", "1")
        .env("HERMES_CONFIG_TOML", config_toml())
        .env("HERMES_BEARER_TOKEN", TOKEN)
        .env("PUBSUB_EMULATOR_HOST", pubsub);
    cmd
}

/// A `KEY=VALUE` for an `AWS_LAMBDA_*` variable in a line of cargo-lambda's log.
fn lambda_env_line(line: &str) -> Option<(String, String)> {
    let start = line.find("AWS_LAMBDA_")?;
    let token: String = line[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '\u{1b}')
        .collect();
    let (key, value) = token.split_once('=')?;
    (!value.is_empty()).then(|| (key.to_string(), value.to_string()))
}

/// Starts `cargo lambda watch --only-lambda-apis` on `port` and returns it with the environment
/// it says the function must run with (`AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME`, …).
fn start_emulator(cargo_lambda: &PathBuf, port: u16) -> (Proc, BTreeMap<String, String>) {
    let mut cmd = Command::new(cargo_lambda);
    cmd.args(["lambda", "watch", "--only-lambda-apis", "--offline"])
        .args(["--invoke-address", "127.0.0.1"])
        .args(["--invoke-port", &port.to_string()])
        .arg("--manifest-path")
        .arg(repo_root().join("Cargo.toml"))
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .env_remove("AWS_LAMBDA_RUNTIME_API");
    // It runs `cargo metadata` (nothing is compiled): through $CARGO, as cargo runs this test.
    if let Some(cargo) = std::env::var_os("CARGO") {
        cmd.env("CARGO", cargo);
    }
    let (tx, rx) = mpsc::channel();
    let mut proc = spawn_logged("cargo-lambda", &mut cmd, Some(tx));
    let mut env = BTreeMap::new();
    let deadline = std::time::Instant::now() + STARTUP;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some((k, v)) = lambda_env_line(&line) {
                    env.insert(k, v);
                }
                if line.contains("starting Runtime server") {
                    break;
                }
            }
            Err(e) => {
                let status = proc.child.try_wait().ok().flatten();
                panic!(
                    "cargo lambda watch did not start within {STARTUP:?} ({e}); exit: {status:?}"
                );
            }
        }
    }
    assert!(
        env.contains_key("AWS_LAMBDA_RUNTIME_API"),
        "cargo lambda watch did not print AWS_LAMBDA_RUNTIME_API; it printed {env:?}"
    );
    (proc, env)
}

/// What the comparison looks at: status, the function's own headers, the body.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

/// Headers the transport adds, not the function: the emulator's CORS layer, the date.
fn transport_header(name: &str) -> bool {
    name == "date" || name == "vary" || name.starts_with("access-control-")
}

struct Case {
    name: &'static str,
    method: &'static str,
    /// Path and query, relative to the function's root.
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

fn json_type() -> (&'static str, String) {
    ("content-type", "application/json".into())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

fn cases() -> Vec<Case> {
    let purchase = br#"[{"event_name":"purchase"}]"#.to_vec();
    let mut oversize = b"[".to_vec();
    while oversize.len() < MAX_BODY_BYTES + 100 {
        oversize.extend_from_slice(br#"{"event_name":"page_view"},"#);
    }
    oversize.extend_from_slice(br#"{"event_name":"page_view"}]"#);
    vec![
        Case {
            name: "health check",
            method: "GET",
            path: "/healthz",
            headers: vec![],
            body: vec![],
            status: 200,
        },
        Case {
            name: "one valid event",
            method: "POST",
            path: "/",
            headers: vec![bearer(TOKEN), json_type()],
            body: purchase.clone(),
            status: 200,
        },
        Case {
            name: "two valid events",
            method: "POST",
            path: "/",
            headers: vec![bearer(TOKEN), json_type()],
            body: br#"[{"event_name":"purchase","value":12.5},{"event_name":"page_view"}]"#
                .to_vec(),
            status: 200,
        },
        Case {
            name: "not an array",
            method: "POST",
            path: "/",
            headers: vec![bearer(TOKEN), json_type()],
            body: b"{}".to_vec(),
            status: 422,
        },
        Case {
            name: "invalid JSON",
            method: "POST",
            path: "/",
            headers: vec![bearer(TOKEN), json_type()],
            body: b"[{\"event_name\":".to_vec(),
            status: 400,
        },
        Case {
            name: "wrong bearer token",
            method: "POST",
            path: "/",
            headers: vec![bearer("not-the-token"), json_type()],
            body: purchase.clone(),
            status: 401,
        },
        Case {
            name: "no authorization",
            method: "POST",
            path: "/",
            headers: vec![json_type()],
            body: purchase.clone(),
            status: 401,
        },
        Case {
            name: "non-ASCII text",
            method: "POST",
            path: "/",
            headers: vec![bearer(TOKEN), json_type()],
            body: r#"[{"event_name":"purchase","city":"Zürich — 東京"}]"#
                .as_bytes()
                .to_vec(),
            status: 200,
        },
        // Binary: base64 in the Lambda event (`isBase64Encoded`), decoded by lambda_http. The
        // emulator decides text vs binary by content-type alone and answers 500 itself, before
        // the function sees anything, for a non-UTF-8 body labelled `application/json` (such as
        // gzip with `content-type: application/json`), so this case says octet-stream.
        Case {
            name: "gzip body (binary through the Lambda event)",
            method: "POST",
            path: "/",
            headers: vec![
                bearer(TOKEN),
                ("content-type", "application/octet-stream".into()),
                ("content-encoding", "gzip".into()),
            ],
            body: gzip(&purchase),
            status: 200,
        },
        Case {
            name: "validate_only in the query string, one bad event",
            method: "POST",
            path: "/?validate_only=true&other=a%20b",
            headers: vec![bearer(TOKEN), json_type()],
            body: br#"[{"event_name":"purchase"},5]"#.to_vec(),
            status: 206,
        },
        Case {
            name: "body over max_body_bytes",
            method: "POST",
            path: "/",
            headers: vec![bearer(TOKEN), json_type()],
            body: oversize,
            status: 413,
        },
        Case {
            name: "unknown route",
            method: "GET",
            path: "/nope",
            headers: vec![],
            body: vec![],
            status: 404,
        },
    ]
}

async fn send(client: &reqwest::Client, base: &str, case: &Case) -> Answer {
    let method = reqwest::Method::from_bytes(case.method.as_bytes()).expect("method");
    let mut req = client.request(method, format!("{base}{}", case.path));
    for (k, v) in &case.headers {
        req = req.header(*k, v);
    }
    if !case.body.is_empty() {
        req = req.body(case.body.clone());
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{}: {base}{}: {e}", case.name, case.path));
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .filter(|(k, _)| !transport_header(k.as_str()))
        .map(|(k, v)| {
            let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (k.as_str().to_string(), v)
        })
        .collect();
    let body = resp.text().await.expect("response body");
    Answer {
        status,
        headers,
        body,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lambda_function_url_answers_like_http() {
    let Some(cargo_lambda) = tool("venv/bin/cargo-lambda") else {
        return;
    };
    let bin = binary("hermes-ingest");

    let pubsub = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOPIC_PATH))
        // `{"messageIds": ["1", …, "n"]}`, n = the number of messages sent.
        .respond_with(PublishIds::new("", 1))
        .mount(&pubsub)
        .await;
    let pubsub_host = pubsub.address().to_string();

    // Plain HTTP: the Cloud Run contract.
    let http_port = free_port();
    let _http = spawn_logged(
        "ingest-http",
        ingest_command(&bin, &pubsub_host).env("PORT", http_port.to_string()),
        None,
    );
    let http_base = format!("http://127.0.0.1:{http_port}");
    wait_http(&format!("{http_base}/healthz"), STARTUP).await;

    // Lambda: the runtime API emulator, and the same binary polling it.
    let lambda_port = free_port();
    let (_emulator, lambda_env) = start_emulator(&cargo_lambda, lambda_port);
    eprintln!("cargo lambda watch asks for: {lambda_env:?}");
    let mut cmd = ingest_command(&bin, &pubsub_host);
    cmd.envs(&lambda_env);
    let mut lambda = spawn_logged("ingest-lambda", &mut cmd, None);
    let lambda_base = format!("http://127.0.0.1:{lambda_port}/lambda-url/_");

    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("client");
    // The first invocation waits in the emulator until the function polls for it.
    let mut publishing_cases = 0;
    let mut lambda_answers = BTreeMap::new();
    for case in cases() {
        let over_http = send(&client, &http_base, &case).await;
        let over_lambda = send(&client, &lambda_base, &case).await;
        eprintln!(
            "{}: HTTP {} / Lambda {}: {}",
            case.name, over_http.status, over_lambda.status, over_lambda.body
        );
        assert_eq!(
            over_http.status, case.status,
            "{}: unexpected status over HTTP: {over_http:?}",
            case.name
        );
        assert_eq!(
            over_lambda, over_http,
            "{}: the Lambda function URL answers differently from HTTP",
            case.name
        );
        if case.status == 200 && case.method == "POST" {
            publishing_cases += 1;
        }
        lambda_answers.insert(case.name, over_lambda);
    }
    assert!(
        lambda.child.try_wait().expect("try_wait").is_none(),
        "the Lambda function exited while serving"
    );

    // Specific expectations, beyond "the same on both".
    for name in ["wrong bearer token", "no authorization"] {
        let a = &lambda_answers[name];
        assert_eq!(
            a.headers.get("www-authenticate").map(String::as_str),
            Some("Bearer"),
            "{name}: {a:?}"
        );
    }
    let a = &lambda_answers["one valid event"];
    let body: Value = serde_json::from_str(&a.body).expect("JSON body");
    assert_eq!(body["status"], 200, "{a:?}");
    assert_eq!(body["messageIds"], json!([{ "events": "1" }]), "{a:?}");
    assert_eq!(
        a.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    assert_eq!(lambda_answers["health check"].body, "ok");

    // Both runtimes really published, the same messages: one publish call per publishing case
    // and runtime, HTTP's then Lambda's.
    let published = pubsub.received_requests().await.unwrap_or_default();
    assert_eq!(
        published.len(),
        2 * publishing_cases,
        "publish calls seen by the stub"
    );
    // Each run gave its events new identities (no `event_id`, no `Idempotency-Key`).
    let without_identity = |body: &[u8]| -> Value {
        let mut v: Value = serde_json::from_slice(body).expect("a JSON publish body");
        for m in v["messages"].as_array_mut().into_iter().flatten() {
            let id = m["attributes"]
                .as_object_mut()
                .and_then(|a| a.remove("hermes_event_id"));
            assert!(id.is_some(), "no hermes_event_id: {m}");
        }
        v
    };
    for pair in published.chunks(2) {
        assert_eq!(
            without_identity(&pair[1].body),
            without_identity(&pair[0].body),
            "the Lambda run published other messages than the HTTP run"
        );
    }
}

// API Gateway REST (v1) and Application Load Balancer events. The function URL only sends
// API Gateway v2 events, so these are posted raw to the emulator's Invoke API (as `cargo lambda
// invoke --data-file` does); the answer is the function's response object, which API Gateway or
// the load balancer turns into the HTTP answer.

const PURCHASE: &str = r#"[{"event_name":"purchase"}]"#;
const APIGW_HOST: &str = "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com";
const ALB_HOST: &str = "hermes-ingest-123456789.eu-west-1.elb.amazonaws.com";

/// A request as a client sends it; each test wraps it in its service's event.
struct RawCase {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    /// Lower-case names; the API Gateway events write them as clients do (`Content-Type`).
    headers: Vec<(&'static str, String)>,
    body: Option<&'static str>,
    status: u16,
}

fn raw_cases() -> Vec<RawCase> {
    vec![
        RawCase {
            name: "health check",
            method: "GET",
            path: "/healthz",
            headers: vec![],
            body: None,
            status: 200,
        },
        RawCase {
            name: "one valid event",
            method: "POST",
            path: "/",
            headers: vec![bearer(TOKEN), json_type()],
            body: Some(PURCHASE),
            status: 200,
        },
        RawCase {
            name: "wrong bearer token",
            method: "POST",
            path: "/",
            headers: vec![bearer("not-the-token"), json_type()],
            body: Some(PURCHASE),
            status: 401,
        },
        RawCase {
            name: "invalid JSON",
            method: "POST",
            path: "/",
            headers: vec![bearer(TOKEN), json_type()],
            body: Some("[{\"event_name\":"),
            status: 400,
        },
    ]
}

/// `content-type` → `Content-Type`: API Gateway passes header names as the client wrote them.
fn title_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// An API Gateway REST API proxy-integration event on the stage `prod`, in the shape AWS documents
/// ("Input format of a Lambda function for proxy integration"): the root resource `/` for
/// `POST /`, the greedy `/{proxy+}` for the rest; headers both single- and multi-valued.
fn apigw_rest_event(case: &RawCase) -> Value {
    let (resource, path_parameters) = match case.path {
        "/" => ("/", Value::Null),
        p => ("/{proxy+}", json!({ "proxy": p.trim_start_matches('/') })),
    };
    let mut headers = serde_json::Map::new();
    let mut multi = serde_json::Map::new();
    let sent = [
        ("host", APIGW_HOST.to_string()),
        ("user-agent", "curl/8.5.0".into()),
        (
            "x-amzn-trace-id",
            "Root=1-67f0e3a1-0123456789abcdef01234567".into(),
        ),
        ("x-forwarded-for", "203.0.113.7".into()),
        ("x-forwarded-port", "443".into()),
        ("x-forwarded-proto", "https".into()),
    ];
    for (name, value) in sent.into_iter().chain(case.headers.iter().cloned()) {
        headers.insert(title_case(name), json!(value));
        multi.insert(title_case(name), json!([value]));
    }
    json!({
        "resource": resource,
        "path": case.path,
        "httpMethod": case.method,
        "headers": headers,
        "multiValueHeaders": multi,
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": path_parameters,
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3d4e5",
            "domainName": APIGW_HOST,
            "domainPrefix": "a1b2c3d4e5",
            "extendedRequestId": "JtTmqGQTDoEFg7w=",
            "httpMethod": case.method,
            "identity": {
                "accessKey": null,
                "accountId": null,
                "caller": null,
                "cognitoAuthenticationProvider": null,
                "cognitoAuthenticationType": null,
                "cognitoIdentityId": null,
                "cognitoIdentityPoolId": null,
                "principalOrgId": null,
                "sourceIp": "203.0.113.7",
                "user": null,
                "userAgent": "curl/8.5.0",
                "userArn": null
            },
            "path": format!("/prod{}", case.path),
            "protocol": "HTTP/1.1",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "requestTime": "05/Apr/2025:08:15:30 +0000",
            "requestTimeEpoch": 1_743_840_930_000_i64,
            "resourceId": "x1y2z3",
            "resourcePath": resource,
            "stage": "prod"
        },
        "body": case.body,
        "isBase64Encoded": false
    })
}

/// An Application Load Balancer target-group event, in the shape AWS documents ("Lambda
/// functions as targets"), multi-value headers off: lower-case header names, an empty body as "".
fn alb_event(case: &RawCase) -> Value {
    let mut headers = serde_json::Map::new();
    let sent = [
        ("host", ALB_HOST.to_string()),
        ("user-agent", "curl/8.5.0".into()),
        (
            "x-amzn-trace-id",
            "Root=1-67f0e3a1-0123456789abcdef01234567".into(),
        ),
        ("x-forwarded-for", "203.0.113.7".into()),
        ("x-forwarded-port", "443".into()),
        ("x-forwarded-proto", "https".into()),
    ];
    for (name, value) in sent.into_iter().chain(case.headers.iter().cloned()) {
        headers.insert(name.to_string(), json!(value));
    }
    json!({
        "requestContext": {
            "elb": {
                "targetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/hermes-ingest/6d0ecf831eec9f09"
            }
        },
        "httpMethod": case.method,
        "path": case.path,
        "queryStringParameters": {},
        "headers": headers,
        "body": case.body.unwrap_or(""),
        "isBase64Encoded": false
    })
}

/// The Pub/Sub stub: every publish answered with the ids "1".."n".
async fn pubsub_stub() -> MockServer {
    let pubsub = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOPIC_PATH))
        .respond_with(PublishIds::new("", 1))
        .mount(&pubsub)
        .await;
    pubsub
}

/// `hermes-ingest` polling its own `cargo lambda watch`, invoked with raw events.
struct RawLambda {
    _emulator: Proc,
    function: Proc,
    invoke_url: String,
    client: reqwest::Client,
}

impl RawLambda {
    /// None when cargo-lambda is missing (the skip is recorded, or under CI a failure).
    fn start(pubsub: &MockServer, extra_env: &[(&str, &str)]) -> Option<Self> {
        let cargo_lambda = tool("venv/bin/cargo-lambda")?;
        let bin = binary("hermes-ingest");
        let port = free_port();
        let (emulator, env) = start_emulator(&cargo_lambda, port);
        eprintln!("cargo lambda watch asks for: {env:?}");
        // The Invoke API addresses the function by the name the emulator gave it.
        let name = env
            .get("AWS_LAMBDA_FUNCTION_NAME")
            .unwrap_or_else(|| panic!("no AWS_LAMBDA_FUNCTION_NAME in {env:?}"));
        let invoke_url = format!("http://127.0.0.1:{port}/2015-03-31/functions/{name}/invocations");
        let mut cmd = ingest_command(&bin, &pubsub.address().to_string());
        cmd.envs(&env).envs(extra_env.iter().copied());
        let function = spawn_logged("ingest-lambda", &mut cmd, None);
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("client");
        Some(Self {
            _emulator: emulator,
            function,
            invoke_url,
            client,
        })
    }

    /// The function's response object. The emulator answers 200 with it, or 500 with the
    /// runtime's error (an event lambda_http cannot read is such an error).
    async fn invoke(&self, name: &str, event: &Value) -> Value {
        // The first invocation waits in the emulator until the function polls for it.
        let resp = self
            .client
            .post(&self.invoke_url)
            .json(event)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {}: {e}", self.invoke_url));
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("invoke response body");
        eprintln!("{name}: invoke {status}: {text}");
        assert_eq!(status, 200, "{name}: the invocation failed: {text}");
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{name}: the response is not JSON ({e}): {text}"))
    }

    fn assert_alive(&mut self) {
        assert!(
            self.function.child.try_wait().expect("try_wait").is_none(),
            "the Lambda function exited while serving"
        );
    }
}

/// The response object's top-level fields, sorted.
fn fields(resp: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = resp
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    keys
}

/// Every value of header `name` as the service reads it: API Gateway merges `headers` and
/// `multiValueHeaders`, so a header in both would be sent twice.
fn merged_header(resp: &Value, name: &str) -> Vec<String> {
    let mut values = Vec::new();
    for (k, v) in resp["headers"].as_object().into_iter().flatten() {
        if k.eq_ignore_ascii_case(name) {
            values.push(v.as_str().expect("a header value is a string").to_string());
        }
    }
    for (k, vs) in resp["multiValueHeaders"].as_object().into_iter().flatten() {
        if k.eq_ignore_ascii_case(name) {
            for v in vs.as_array().expect("multi-value headers are arrays") {
                values.push(v.as_str().expect("a header value is a string").to_string());
            }
        }
    }
    values
}

/// What every source carries alike: the status, the body as text, ingest's JSON answer.
fn assert_ingest_answer(case: &RawCase, resp: &Value, content_type: &[String]) {
    let name = case.name;
    assert_eq!(resp["statusCode"], case.status, "{name}: {resp}");
    assert_eq!(resp["isBase64Encoded"], false, "{name}: {resp}");
    let body = resp["body"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: body: {resp}"));
    if case.method == "GET" {
        assert_eq!(body, "ok", "{name}");
        return;
    }
    assert_eq!(content_type, ["application/json"], "{name}: {resp}");
    let answer: Value = serde_json::from_str(body).expect("ingest answers JSON");
    assert_eq!(answer["status"], case.status, "{name}: {answer}");
    if case.status == 200 {
        assert_eq!(answer["messageIds"], json!([{ "events": "1" }]), "{name}");
    }
}

/// The one publish the stub saw: the purchase.
async fn assert_published_once(pubsub: &MockServer) {
    use base64::Engine;
    let published = pubsub.received_requests().await.unwrap_or_default();
    assert_eq!(published.len(), 1, "publish calls seen by the stub");
    let call: Value = serde_json::from_slice(&published[0].body).expect("a JSON publish body");
    let messages = call["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 1, "{call}");
    assert_eq!(
        messages[0]["attributes"]["event_name"], "purchase",
        "{call}"
    );
    let data = base64::engine::general_purpose::STANDARD
        .decode(messages[0]["data"].as_str().expect("data"))
        .expect("base64 data");
    let event: Value = serde_json::from_slice(&data).expect("a JSON event");
    assert_eq!(event["event_name"], "purchase", "{event}");
}

#[tokio::test(flavor = "multi_thread")]
async fn lambda_api_gateway_rest_events() {
    let pubsub = pubsub_stub().await;
    // A REST event's `path` lacks the stage (`/`), its `requestContext.stage` names it (`prod`),
    // and lambda_http puts the stage back in front (`/prod/`): hermes-runtime takes it off
    // again before routing, with no setting needed.
    let Some(mut lambda) = RawLambda::start(&pubsub, &[]) else {
        return;
    };
    for case in raw_cases() {
        let resp = lambda.invoke(case.name, &apigw_rest_event(&case)).await;
        // API Gateway's proxy response, nothing else: `statusDescription` is the load
        // balancer's.
        assert_eq!(
            fields(&resp),
            [
                "body",
                "headers",
                "isBase64Encoded",
                "multiValueHeaders",
                "statusCode"
            ],
            "{}: {resp}",
            case.name
        );
        assert_ingest_answer(&case, &resp, &merged_header(&resp, "content-type"));
        if case.status == 401 {
            assert_eq!(
                merged_header(&resp, "www-authenticate"),
                ["Bearer"],
                "{resp}"
            );
        }
    }
    lambda.assert_alive();
    assert_published_once(&pubsub).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lambda_application_load_balancer_events() {
    let pubsub = pubsub_stub().await;
    let Some(mut lambda) = RawLambda::start(&pubsub, &[]) else {
        return;
    };
    for case in raw_cases() {
        let resp = lambda.invoke(case.name, &alb_event(&case)).await;
        assert_eq!(
            fields(&resp),
            [
                "body",
                "headers",
                "isBase64Encoded",
                "multiValueHeaders",
                "statusCode",
                "statusDescription"
            ],
            "{}: {resp}",
            case.name
        );
        // The load balancer sends "<code> <reason>" as the HTTP status line.
        let reason = match case.status {
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            other => panic!("no reason phrase listed for {other}"),
        };
        assert_eq!(
            resp["statusDescription"],
            format!("{} {reason}", case.status),
            "{}",
            case.name
        );
        // The target group reads `headers` or `multiValueHeaders` as it is configured: both
        // must say the same.
        let single = resp["headers"].as_object().expect("headers");
        let multi = resp["multiValueHeaders"]
            .as_object()
            .expect("multiValueHeaders");
        assert_eq!(
            single.keys().collect::<Vec<_>>(),
            multi.keys().collect::<Vec<_>>(),
            "{}: {resp}",
            case.name
        );
        for (k, v) in single {
            assert_eq!(multi[k], json!([v]), "{}: header {k}: {resp}", case.name);
        }
        let content_type: Vec<String> = single
            .get("content-type")
            .and_then(Value::as_str)
            .map(String::from)
            .into_iter()
            .collect();
        assert_ingest_answer(&case, &resp, &content_type);
        if case.status == 401 {
            assert_eq!(
                single.get("www-authenticate"),
                Some(&json!("Bearer")),
                "{resp}"
            );
        }
    }
    lambda.assert_alive();
    assert_published_once(&pubsub).await;
}
