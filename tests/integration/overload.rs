//! Slow and half-open clients over real TCP sockets on loopback, against the
//! server every function runs on (hermes_runtime): 408 for a header or a
//! body that does not finish in time, idle connections closed, the connection
//! cap, and SIGTERM with half-open connections and a slow request in flight
//! against the real `hermes-ingest` binary. Bounds are on statuses and counts.

use hermes_core::config::Config;
use hermes_runtime::{serve_until, Protection};
use hermes_testkit::emulator::{binary, free_port, wait_http, Proc};
use hermes_testkit::publishers::{PublishIds, Recorder};
use hermes_testkit::samples::config;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer};

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

    let half_open: Vec<TcpStream> = (0..5)
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
        .collect();
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
