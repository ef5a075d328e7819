//! A webhook receiver on loopback: a real HTTP server that records every call
//! (headers and body) and answers each with the status a rule picks, for the
//! notify tests.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use std::sync::{Arc, Mutex};

/// One call the receiver got.
#[derive(Debug, Clone)]
pub struct Call {
    pub content_type: Option<String>,
    pub idempotency_key: Option<String>,
    pub body: Vec<u8>,
    /// What the receiver answered.
    pub status: u16,
}

impl Call {
    /// The body as JSON (panics if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "webhook body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

type Rule = dyn Fn(usize) -> u16 + Send + Sync;

struct ReceiverState {
    calls: Mutex<Vec<Call>>,
    rule: Box<Rule>,
}

pub struct WebhookReceiver {
    /// `http://127.0.0.1:port/hook`.
    pub url: String,
    state: Arc<ReceiverState>,
}

impl WebhookReceiver {
    /// `rule(n)` is the status of the `n`-th call (1-based).
    pub async fn start(rule: impl Fn(usize) -> u16 + Send + Sync + 'static) -> Self {
        let state = Arc::new(ReceiverState {
            calls: Mutex::new(Vec::new()),
            rule: Box::new(rule),
        });
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state.clone());
        let url = format!("http://{}/hook", crate::loopback::serve(app).await);
        Self { url, state }
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().expect("calls").clone()
    }

    /// Waits (up to `timeout`) until at least `n` calls have arrived, and returns them all.
    pub async fn wait_for(&self, n: usize, timeout: std::time::Duration) -> Vec<Call> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let calls = self.calls();
            if calls.len() >= n || std::time::Instant::now() > deadline {
                return calls;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mut calls = state.calls.lock().expect("calls");
    let status = (state.rule)(calls.len() + 1);
    calls.push(Call {
        content_type: header("content-type"),
        idempotency_key: header("idempotency-key"),
        body: body.to_vec(),
        status,
    });
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
