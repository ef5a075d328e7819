//! Faults between real peers, for the delivery-guarantee tests:
//! - [`AnswerDropper`]: a TCP proxy that forwards requests but, on some
//!   connections, throws the answer away and hangs up — the request was
//!   accepted upstream, the client never learns it and retries. Connections
//!   idle for a moment are closed, so that a client's next request comes on a
//!   new connection;
//! - [`Outage`]: a TCP proxy that is down for a while, then forwards;
//! - [`PushFront`]: an HTTP front for a push endpoint that fails or delays
//!   chosen deliveries before forwarding them;
//! - [`SlowPublish`]: an HTTP forwarder to a Pub/Sub emulator that holds each
//!   publish call a while and counts them, so concurrent requests meet a call in flight.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A loopback proxy to `upstream` (`host:port`) that drops the answer on every
/// `every`-th connection, at most `max` times.
pub struct AnswerDropper {
    /// `127.0.0.1:port`, as `PUBSUB_EMULATOR_HOST` takes it.
    pub host: String,
    dropped: Arc<AtomicUsize>,
}

impl AnswerDropper {
    pub async fn start(upstream: &str, every: usize, max: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let host = listener.local_addr().expect("addr").to_string();
        let dropped = Arc::new(AtomicUsize::new(0));
        let upstream = upstream.to_string();
        let count = dropped.clone();
        tokio::spawn(async move {
            let mut n = 0usize;
            while let Ok((client, _)) = listener.accept().await {
                n += 1;
                let drop_this =
                    n.is_multiple_of(every.max(1)) && count.load(Ordering::SeqCst) < max;
                let upstream = upstream.clone();
                let count = count.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    if drop_this {
                        drop_answer(client, server, &count).await;
                    } else {
                        relay_until_idle(client, server, IDLE).await;
                    }
                });
            }
        });
        Self { host, dropped }
    }

    /// Answers thrown away so far.
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }
}

/// A loopback proxy to `upstream` that is down — every connection closed at
/// once — for its first `outage`, then forwards.
pub struct Outage {
    /// `127.0.0.1:port`, as `PUBSUB_EMULATOR_HOST` takes it.
    pub host: String,
    refused: Arc<AtomicUsize>,
}

impl Outage {
    pub async fn start(upstream: &str, outage: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let host = listener.local_addr().expect("addr").to_string();
        let refused = Arc::new(AtomicUsize::new(0));
        let (upstream, count) = (upstream.to_string(), refused.clone());
        let up_at = tokio::time::Instant::now() + outage;
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if tokio::time::Instant::now() < up_at {
                    count.fetch_add(1, Ordering::SeqCst);
                    continue; // dropped: closed
                }
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Self { host, refused }
    }

    /// Connections closed during the outage.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}

/// How long a connection may be quiet before the proxy closes it.
const IDLE: Duration = Duration::from_millis(250);

/// Both ways, until either side closes or nothing moves for `idle`.
async fn relay_until_idle(mut client: TcpStream, mut server: TcpStream, idle: Duration) {
    let (mut a, mut b) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        tokio::select! {
            r = client.read(&mut a) => match r {
                Ok(n) if n > 0 => if server.write_all(&a[..n]).await.is_err() { return },
                _ => return,
            },
            r = server.read(&mut b) => match r {
                Ok(n) if n > 0 => if client.write_all(&b[..n]).await.is_err() { return },
                _ => return,
            },
            _ = tokio::time::sleep(idle) => return,
        }
    }
}

/// Forwards the client's bytes; at the first bytes of the answer, closes both sides.
async fn drop_answer(client: TcpStream, server: TcpStream, count: &AtomicUsize) {
    let (mut client_read, _client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let forward = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = client_read.read(&mut buf).await {
            if n == 0 || server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    let mut first = [0u8; 1];
    if matches!(server_read.read(&mut first).await, Ok(n) if n > 0) {
        count.fetch_add(1, Ordering::SeqCst);
    }
    forward.abort();
    // Dropping every half closes both connections: the client sees a hang-up.
}

/// What a [`PushFront`] does with one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Forward,
    /// Answer 503 without forwarding: Pub/Sub redelivers.
    Fail,
    /// Wait, then forward — even when the pusher has given up waiting: slower
    /// than the ack deadline, this makes a second, overlapping delivery.
    Delay(Duration),
    /// Forward, then answer 503 whatever the target said: the work is done
    /// but Pub/Sub redelivers (an acknowledgement lost on the way).
    ForwardThenFail,
}

type Rule = dyn Fn(&str, usize) -> Delivery + Send + Sync;

/// An HTTP front for a push endpoint: `rule(message_id, attempt)` (attempt 1
/// for the first delivery of that message id) decides each delivery.
pub struct PushFront {
    /// `http://127.0.0.1:port/`, the push endpoint to give the subscription.
    pub endpoint: String,
    state: Arc<FrontState>,
}

struct FrontState {
    target: Mutex<String>,
    rule: Box<Rule>,
    attempts: Mutex<HashMap<String, usize>>,
    http: reqwest::Client,
    forwarded: AtomicUsize,
    failed: AtomicUsize,
}

impl PushFront {
    pub async fn start(
        target: &str,
        rule: impl Fn(&str, usize) -> Delivery + Send + Sync + 'static,
    ) -> Self {
        let state = Arc::new(FrontState {
            target: Mutex::new(target.to_string()),
            rule: Box::new(rule),
            attempts: Mutex::new(HashMap::new()),
            http: reqwest::Client::new(),
            forwarded: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .route("/", axum::routing::post(front))
            .with_state(state.clone());
        let endpoint = format!("http://{}/", crate::loopback::serve(app).await);
        Self { endpoint, state }
    }

    /// Deliveries failed by the rule so far.
    pub fn failed(&self) -> usize {
        self.state.failed.load(Ordering::SeqCst)
    }

    /// Deliveries forwarded so far.
    pub fn forwarded(&self) -> usize {
        self.state.forwarded.load(Ordering::SeqCst)
    }

    /// Deliveries received so far, all message ids together.
    pub fn deliveries(&self) -> usize {
        let attempts = self.state.attempts.lock().expect("attempts");
        attempts.values().sum()
    }

    /// The most deliveries any one message id has had.
    pub fn most_attempts(&self) -> usize {
        let attempts = self.state.attempts.lock().expect("attempts");
        attempts.values().copied().max().unwrap_or(0)
    }
}

async fn front(State(state): State<Arc<FrontState>>, headers: HeaderMap, body: Bytes) -> Response {
    let envelope: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let id = envelope["message"]["messageId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let attempt = {
        let mut attempts = state.attempts.lock().expect("attempts");
        let n = attempts.entry(id.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let decision = (state.rule)(&id, attempt);
    let delay = match decision {
        Delivery::Fail => {
            state.failed.fetch_add(1, Ordering::SeqCst);
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        Delivery::Delay(d) => d,
        Delivery::Forward | Delivery::ForwardThenFail => Duration::ZERO,
    };
    let fail_after = decision == Delivery::ForwardThenFail;
    // In a task of its own: a pusher that hangs up does not cancel the forward.
    let forward = tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        forward(&state, &headers, body).await
    });
    let answer = forward
        .await
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response());
    if fail_after {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    answer
}

async fn forward(state: &FrontState, headers: &HeaderMap, body: Bytes) -> Response {
    let target = state.target.lock().expect("target").clone();
    let mut req = state.http.post(target).body(body);
    if let Some(ct) = headers.get("content-type") {
        req = req.header("content-type", ct);
    }
    match req.send().await {
        Ok(resp) => {
            state.forwarded.fetch_add(1, Ordering::SeqCst);
            StatusCode::from_u16(resp.status().as_u16())
                .unwrap_or(StatusCode::BAD_GATEWAY)
                .into_response()
        }
        // The push target is down (killed): Pub/Sub redelivers.
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

/// An HTTP forwarder on loopback to a Pub/Sub emulator (`upstream`,
/// `host:port`): every request is forwarded as it came (method, path, body,
/// content type) and answered with the emulator's answer; a publish call
/// (`…:publish`) is counted and held `delay` first.
pub struct SlowPublish {
    /// `127.0.0.1:port`, as `PUBSUB_EMULATOR_HOST` takes it.
    pub host: String,
    state: Arc<SlowState>,
}

struct SlowState {
    upstream: String,
    delay: Duration,
    http: reqwest::Client,
    publishes: AtomicUsize,
}

impl SlowPublish {
    pub async fn start(upstream: &str, delay: Duration) -> Self {
        let state = Arc::new(SlowState {
            upstream: format!("http://{upstream}"),
            delay,
            http: reqwest::Client::new(),
            publishes: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .fallback(slow_forward)
            .with_state(state.clone());
        let host = crate::loopback::serve(app).await.to_string();
        Self { host, state }
    }

    /// Publish calls received so far.
    pub fn publishes(&self) -> usize {
        self.state.publishes.load(Ordering::SeqCst)
    }
}

async fn slow_forward(
    State(state): State<Arc<SlowState>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if uri.path().ends_with(":publish") {
        state.publishes.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(state.delay).await;
    }
    crate::loopback::forward(
        &state.http,
        &state.upstream,
        (&method, &uri, &headers),
        &["content-type"],
        body,
    )
    .await
    .into_response()
}
