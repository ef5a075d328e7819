//! Slow and half-open clients over real TCP sockets on loopback, against the
//! server every function runs on (hermes_runtime): 408 for a header or a
//! body that does not finish in time, idle connections closed, the connection
//! cap, and SIGTERM of the real binaries (README, "Limits and overload"):
//! `hermes-ingest`, `hermes-counters` and `hermes-notify` with half-open
//! connections and a slow request in flight, `hermes-dashboard` with an open
//! event stream, and ingest's publish drain that ends 9 s after the signal.
//! Bounds are on statuses and counts; times only where the time is the promise.

use hermes_core::config::Config;
use hermes_runtime::{serve_until, Protection};
use hermes_testkit::emulator::{binary, free_port, wait_http, Function, Proc};
use hermes_testkit::publishers::{PublishIds, Recorder};
use hermes_testkit::samples::{config, push_envelope, PROJECT};
use hermes_testkit::sse::Events;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DESTINATION: &str = r#"
[[destinations]]
name = "all"
topic = "events"
"#;

/// An ingest server on a loopback port with `limits`, stopped when the guard drops.
struct Server {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn server(limits: &str) -> Server {
    let config: Config = config(&format!(
        "container_id = \"GTM-T\"\n[limits]\n{limits}\n{DESTINATION}"
    ));
    let protection = Protection::from_config(&config);
    let ingest = hermes_ingest::Ingest::new(
        config,
        hermes_core::auth::Tokens::default(),
        Arc::new(Recorder::default()),
    )
    .unwrap();
    let router = protection.guard(hermes_ingest::router(Arc::new(ingest)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = serve_until(listener, router, &protection, async {
            let _ = stopped.await;
        })
        .await;
    });
    Server {
        addr,
        stop: Some(stop),
    }
}

fn connect(addr: std::net::SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// Everything the server sends until it closes the connection.
fn read_to_close(mut s: TcpStream) -> String {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn status_of(answer: &str) -> Option<u16> {
    answer.split_whitespace().nth(1)?.parse().ok()
}

fn json_body(answer: &str) -> Value {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body).unwrap_or(Value::Null)
}

/// One complete request on its own connection.
fn request(addr: std::net::SocketAddr, raw: &str) -> String {
    let mut s = connect(addr);
    s.write_all(raw.as_bytes()).unwrap();
    read_to_close(s)
}

/// Five connections that never finish their request: half a header, or a
/// whole header and part of a body. A server that stops must not wait on them
/// past its bound.
fn half_open(addr: std::net::SocketAddr) -> Vec<TcpStream> {
    (0..5)
        .map(|i| {
            let mut s = connect(addr);
            let part: &[u8] = if i % 2 == 0 {
                b"POST / HTTP/1.1\r\nhost: x\r\n"
            } else {
                b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 50\r\n\r\n[{"
            };
            s.write_all(part).unwrap();
            s
        })
        .collect()
}

const HEALTHZ: &str = "GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_header_gets_408_and_the_connection_is_closed() {
    let srv = server("header_timeout_ms = 300").await;
    let addr = srv.addr;
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = connect(addr);
        s.write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-ty")
            .unwrap();
        read_to_close(s)
    })
    .await
    .unwrap();
    assert_eq!(status_of(&answer), Some(408), "{answer}");
    let body = json_body(&answer);
    assert_eq!(body["status"], json!(408), "{answer}");
    assert!(
        body["error"].as_str().unwrap().starts_with("[GTM-T]"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_body_gets_408() {
    let srv = server("body_timeout_ms = 300").await;
    let addr = srv.addr;
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = connect(addr);
        s.write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n[{\"event_")
            .unwrap();
        read_to_close(s)
    })
    .await
    .unwrap();
    assert_eq!(status_of(&answer), Some(408), "{answer}");
    assert_eq!(json_body(&answer)["status"], json!(408), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_without_an_answer() {
    let srv = server("header_timeout_ms = 300").await;
    let addr = srv.addr;
    let (fresh, kept_alive) = tokio::task::spawn_blocking(move || {
        // A connection that never sends anything.
        let fresh = read_to_close(connect(addr));
        // A keep-alive connection after one answered request.
        let mut s = connect(addr);
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .unwrap();
        (fresh, read_to_close(s))
    })
    .await
    .unwrap();
    assert_eq!(fresh, "");
    // One 200, then the close: no 408 for a connection that started nothing.
    assert_eq!(status_of(&kept_alive), Some(200), "{kept_alive}");
    assert_eq!(kept_alive.matches("HTTP/1.1").count(), 1, "{kept_alive}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_get_503_and_small_requests_pass_meanwhile() {
    let srv = server("max_connections = 5\nheader_timeout_ms = 60000").await;
    let addr = srv.addr;
    let answers = tokio::task::spawn_blocking(move || {
        // Three half-open connections hold three of the five places (a
        // connection just answered may still hold one while it closes).
        let holders: Vec<TcpStream> = (0..3)
            .map(|_| {
                let mut s = connect(addr);
                s.write_all(b"POST / HTTP/1.1\r\nhost: x\r\n").unwrap();
                s
            })
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        // The other places still serve requests, one connection at a time.
        // (A 503 is retried: the connection answered just before may not
        // have finished closing.)
        let healthy: Vec<String> = (0..5)
            .map(|_| {
                let mut answer = request(addr, HEALTHZ);
                for _ in 0..20 {
                    if status_of(&answer) != Some(503) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                    answer = request(addr, HEALTHZ);
                }
                answer
            })
            .collect();
        // With two more holders, the next connection is refused. A holder
        // that arrives while a just-answered connection is still closing is
        // itself refused (its 503 comes at once): it connects again.
        let more: Vec<TcpStream> = (0..2)
            .map(|_| {
                for _ in 0..50 {
                    let mut s = connect(addr);
                    s.write_all(b"POST / HTTP/1.1\r\n").unwrap();
                    s.set_read_timeout(Some(Duration::from_millis(200)))
                        .unwrap();
                    let mut byte = [0u8; 1];
                    match s.read(&mut byte) {
                        // Nothing to read within the wait: the place is held.
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) =>
                        {
                            return s
                        }
                        _ => std::thread::sleep(Duration::from_millis(50)),
                    }
                }
                panic!("no place was free for a holder");
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let refused = request(addr, HEALTHZ);
        drop(more);
        drop(holders);
        // Places free again once the holders are gone.
        let mut again = String::new();
        for _ in 0..50 {
            again = request(addr, HEALTHZ);
            if status_of(&again) == Some(200) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        (healthy, refused, again)
    })
    .await
    .unwrap();
    let (healthy, refused, again) = answers;
    for h in &healthy {
        assert_eq!(status_of(h), Some(200), "{h}");
    }
    assert_eq!(status_of(&refused), Some(503), "{refused}");
    assert!(
        refused.to_ascii_lowercase().contains("retry-after: 1"),
        "{refused}"
    );
    assert_eq!(json_body(&refused)["status"], json!(503), "{refused}");
    assert_eq!(status_of(&again), Some(200), "{again}");
}

/// SIGTERM with five half-open connections and one request whose body had
/// fully arrived, slow because its publish takes 2 s: the request is answered
/// 200 and the process exits 0, within 10 s of the signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_half_open_connections_answers_the_slow_request_and_exits() {
    let pubsub = MockServer::start().await;
    let ids = PublishIds::new("slow-", 1);
    Mock::given(method("POST"))
        .respond_with(move |req: &wiremock::Request| {
            wiremock::Respond::respond(&ids, req).set_delay(Duration::from_secs(2))
        })
        .mount(&pubsub)
        .await;
    let port = free_port();
    let mut cmd = Command::new(binary("hermes-ingest"));
    cmd.env("PORT", port.to_string())
        .env("GOOGLE_CLOUD_PROJECT", "hermes-test")
        .env(
            "PUBSUB_EMULATOR_HOST",
            pubsub.uri().trim_start_matches("http://"),
        )
        .env("HERMES_CONFIG_TOML", DESTINATION)
        .env_remove("HERMES_CONFIG")
        .env_remove("HERMES_BEARER_TOKEN")
        .env_remove("HERMES_PREVIEW_BEARER_TOKEN")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .stdout(Stdio::null());
    let mut ingest = Proc::spawn("hermes-ingest", &mut cmd);
    let base = format!("http://127.0.0.1:{port}");
    wait_http(&format!("{base}/healthz"), Duration::from_secs(60)).await;
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    let half_open = half_open(addr);
    let slow = tokio::spawn(
        reqwest::Client::new()
            .post(format!("{base}/"))
            .body(json!([{"event_name": "slow"}]).to_string())
            .send(),
    );
    // The request is in flight once its publish reached Pub/Sub.
    let t0 = Instant::now();
    while pubsub
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty()
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the publish never came"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = tokio::task::spawn_blocking(move || ingest.terminate(Duration::from_secs(10)))
        .await
        .unwrap();
    let status = status.expect("hermes-ingest still running 10 s after SIGTERM");
    assert!(status.success(), "{status:?}");
    let answer = slow.await.unwrap().expect("the slow request was answered");
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["messageIds"], json!([{"all": "slow-1"}]), "{body}");
    drop(half_open);
}

// ---- SIGTERM of the other functions, and ingest's bounds -----------------------------

/// Firestore's documents in the tests' project, as its REST paths spell them.
fn documents() -> String {
    format!("/v1/projects/{PROJECT}/databases/(default)/documents")
}

/// `host:port` of a wiremock server: the form `*_EMULATOR_HOST` takes.
fn host_of(server: &MockServer) -> String {
    server.uri().trim_start_matches("http://").to_string()
}

fn addr_of(function: &Function) -> std::net::SocketAddr {
    function.base.trim_start_matches("http://").parse().unwrap()
}

/// Waits until `server` has received a request `matching` it: the call is
/// under way (wiremock records a request before its delayed answer).
async fn wait_for_call(
    server: &MockServer,
    what: &str,
    matching: impl Fn(&wiremock::Request) -> bool,
) {
    let t0 = Instant::now();
    while !server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .any(&matching)
    {
        assert!(t0.elapsed() < Duration::from_secs(30), "{what} never came");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A status and body, or why there was none.
type Answer = Result<(u16, String), String>;

/// A JSON `POST` sent in the background: its answer, and when it ended.
fn post_in_background(url: String, body: String) -> tokio::task::JoinHandle<(Answer, Instant)> {
    tokio::spawn(async move {
        let sent = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        let answer = match sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                resp.text()
                    .await
                    .map(|text| (status, text))
                    .map_err(|e| format!("{e:?}"))
            }
            Err(e) => Err(format!("{e:?}")),
        };
        (answer, Instant::now())
    })
}

/// What [`terminate`] saw.
struct Stopped {
    /// Kept so that its log is printed if the test then fails.
    function: Function,
    /// `None`: still running at the bound.
    status: Option<ExitStatus>,
    /// Just before the signal.
    signalled: Instant,
    /// From just before the signal to the exit (or the bound).
    took: Duration,
}

/// SIGTERM to `function`, then waits up to `bound` for it to exit.
async fn terminate(mut function: Function, bound: Duration) -> Stopped {
    tokio::task::spawn_blocking(move || {
        let signalled = Instant::now();
        let status = function.proc.terminate(bound);
        Stopped {
            took: signalled.elapsed(),
            function,
            status,
            signalled,
        }
    })
    .await
    .unwrap()
}

/// SIGTERM to `hermes-counters` with five half-open connections and one push
/// in flight, slow because its Firestore commit takes 2 s: the push is
/// answered 200 (applied) and the process exits 0 within 10 s of the signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_of_counters_answers_the_push_whose_commit_is_slow_and_exits() {
    let firestore = MockServer::start().await;
    let db = documents();
    // The catalog knows nothing; the commit (marker and counters) takes 2 s.
    Mock::given(method("POST"))
        .and(path(format!("{db}:batchGet")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([{"missing": "x", "readTime": "2026-01-01T00:00:00Z"}])),
        )
        .mount(&firestore)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{db}:commit")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"commitTime": "2026-01-01T00:00:00Z", "writeResults": []}))
                .set_delay(Duration::from_secs(2)),
        )
        .mount(&firestore)
        .await;
    let counters = Function::start(
        "hermes-counters",
        &[
            ("GOOGLE_CLOUD_PROJECT", PROJECT),
            ("FIRESTORE_EMULATOR_HOST", &host_of(&firestore)),
            ("HERMES_CONFIG_TOML", ""),
        ],
    )
    .await;
    let held = half_open(addr_of(&counters));
    let envelope = push_envelope(
        "m-slow",
        &json!({"items": [{"item_id": "a", "price": 1, "quantity": 2}]}),
        json!({}),
    );
    let push = post_in_background(format!("{}/", counters.base), envelope.to_string());
    wait_for_call(&firestore, "the commit", |r| {
        r.url.path().ends_with(":commit")
    })
    .await;

    let stopped = terminate(counters, Duration::from_secs(10)).await;
    let status = stopped
        .status
        .expect("hermes-counters still running 10 s after SIGTERM");
    assert!(status.success(), "{status:?}");
    let (answer, _) = push.await.unwrap();
    let (code, body) = answer.expect("the push in flight was answered");
    assert_eq!(code, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "applied", "{body}");
    drop(held);
}

/// SIGTERM to `hermes-notify` with five half-open connections and one push in
/// flight whose webhook call takes 2 s: the push is answered 200 (delivered,
/// its marker written after the webhook's answer) and the process exits 0
/// within 10 s of the signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_of_notify_answers_the_push_whose_webhook_is_slow_and_exits() {
    let webhook = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .mount(&webhook)
        .await;
    let firestore = MockServer::start().await;
    // Notify's only read is the marker lookup: not found. Its only write is
    // the marker's commit.
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}),
        ))
        .mount(&firestore)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{}:commit", documents())))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"commitTime": "2026-01-01T00:00:00Z", "writeResults": [{}]})),
        )
        .mount(&firestore)
        .await;
    let config = "[notify]\nevents = [\"purchase\"]\ntemplate = 'New order {{transaction_id}}'\n";
    let notify = Function::start(
        "hermes-notify",
        &[
            ("GOOGLE_CLOUD_PROJECT", PROJECT),
            ("FIRESTORE_EMULATOR_HOST", &host_of(&firestore)),
            ("HERMES_CONFIG_TOML", config),
            (
                "HERMES_NOTIFY_WEBHOOK_URL",
                &format!("{}/hook", webhook.uri()),
            ),
        ],
    )
    .await;
    let held = half_open(addr_of(&notify));
    let envelope = push_envelope(
        "m-slow",
        &json!({"transaction_id": "T-1"}),
        json!({"event_name": "purchase"}),
    );
    let push = post_in_background(format!("{}/", notify.base), envelope.to_string());
    wait_for_call(&webhook, "the webhook call", |_| true).await;

    let stopped = terminate(notify, Duration::from_secs(10)).await;
    let status = stopped
        .status
        .expect("hermes-notify still running 10 s after SIGTERM");
    assert!(status.success(), "{status:?}");
    let (answer, _) = push.await.unwrap();
    let (code, body) = answer.expect("the push in flight was answered");
    assert_eq!(code, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "delivered", "{body}");
    let commits = firestore
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().ends_with(":commit"))
        .count();
    assert_eq!(commits, 1, "the marker was not written once");
    drop(held);
}

/// SIGTERM to `hermes-dashboard` with an event stream open (which never ends
/// by itself) and five half-open connections: the server ends the stream (a
/// clean end, not a connection cut at the deadline or by the exit) and exits
/// 0 within 10 s of the signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_of_the_dashboard_ends_its_event_streams_and_exits() {
    let firestore = MockServer::start().await;
    let db = documents();
    // No items: an empty listing and a shards query that finds nothing.
    Mock::given(method("GET"))
        .and(path(format!("{db}/items")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&firestore)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{db}:runQuery")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([{"readTime": "2026-01-01T00:00:00Z"}])),
        )
        .mount(&firestore)
        .await;
    let dashboard = Function::start(
        "hermes-dashboard",
        &[
            ("GOOGLE_CLOUD_PROJECT", PROJECT),
            ("FIRESTORE_EMULATOR_HOST", &host_of(&firestore)),
            (
                "HERMES_CONFIG_TOML",
                "[dashboard]\npoll_interval_ms = 200\n",
            ),
        ],
    )
    .await;
    let mut events = Events::open(&format!("{}/api/items/stream", dashboard.base)).await;
    // The stream serves: its first event is the (empty) items document.
    let (name, data) = events
        .next(Duration::from_secs(30))
        .await
        .expect("the stream ended before its first event");
    assert_eq!(name, "message", "{data}");
    let doc: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(doc["items"], json!([]), "{doc}");
    let held = half_open(addr_of(&dashboard));
    // Read on while the process stops: a cut stream makes `next` panic.
    let rest = tokio::spawn(async move { events.next(Duration::from_secs(30)).await });

    let stopped = terminate(dashboard, Duration::from_secs(10)).await;
    let status = stopped
        .status
        .expect("hermes-dashboard still running 10 s after SIGTERM");
    assert!(status.success(), "{status:?}");
    let rest = rest.await;
    assert!(
        matches!(rest, Ok(None)),
        "the event stream was not ended by the server: {rest:?}"
    );
    drop(held);
}

/// Ingest's bounds on SIGTERM with one request in flight whose publish never
/// answers: the request's connection is given at most 6 s, the publish is
/// waited for until 9 s after the signal, and the process exits 0 by 10 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_of_ingest_waits_for_a_hung_publish_until_9_s_and_exits_by_10_s() {
    let pubsub = MockServer::start().await;
    let ids = PublishIds::new("late-", 1);
    Mock::given(method("POST"))
        .respond_with(move |req: &wiremock::Request| {
            wiremock::Respond::respond(&ids, req).set_delay(Duration::from_secs(60))
        })
        .mount(&pubsub)
        .await;
    // The publish call's own deadline (10 s by default, counted from before
    // the signal) must not end it first: only the drain's bound may.
    let config = format!("publish_deadline_ms = 60000\n{DESTINATION}");
    let ingest = Function::start(
        "hermes-ingest",
        &[
            ("GOOGLE_CLOUD_PROJECT", PROJECT),
            ("PUBSUB_EMULATOR_HOST", &host_of(&pubsub)),
            ("HERMES_CONFIG_TOML", &config),
        ],
    )
    .await;
    let request = post_in_background(
        format!("{}/", ingest.base),
        json!([{"event_name": "hung"}]).to_string(),
    );
    wait_for_call(&pubsub, "the publish", |_| true).await;

    // Cloud Run's 10 s, plus room for a loaded 2-core machine: the drain ends
    // on the process's own 9 s timer, and the wake-up, the runtime's teardown
    // and the exit can each be late by a few hundred milliseconds there.
    let bound = Duration::from_millis(11_500);
    let stopped = terminate(ingest, bound).await;
    let took = stopped.took;
    let status = stopped
        .status
        .unwrap_or_else(|| panic!("hermes-ingest still running {bound:?} after SIGTERM"));
    assert!(status.success(), "{status:?}");
    // Not sooner: it waited for the publish (the drain lasts until 9 s).
    assert!(
        took >= Duration::from_secs(8),
        "exited {took:?} after SIGTERM, without waiting for the publish"
    );
    // And gave it up at the bound rather than seeing it finish.
    let log = stopped.function.log_text();
    assert!(
        log.contains("shutting down with publishes still running"),
        "the drain did not give up a running publish at its bound (see its log)"
    );
    // The request's connection was ended by the 6 s bound, long before the
    // exit (1.5 s of room, as above).
    let (answer, ended) = request.await.unwrap();
    let after = ended.saturating_duration_since(stopped.signalled);
    assert!(
        after < Duration::from_millis(7_500),
        "the request in flight ended {after:?} after SIGTERM: {answer:?}"
    );
}
