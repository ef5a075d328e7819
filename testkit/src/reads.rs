//! [`FirestoreReads`]: an HTTP forwarder to a Firestore emulator that counts
//! the documents its answers carry — what Firestore bills as reads — so a test
//! can hold a reader to what it promises to read.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;

/// A loopback forwarder to a Firestore emulator (`host:port`): every request
/// goes on as it came; the documents in each answer are counted (a list's
/// `documents`, a `runQuery`'s results, a `batchGet`'s `found`, a document `GET`).
pub struct FirestoreReads {
    /// `127.0.0.1:port`, as `FIRESTORE_EMULATOR_HOST` takes it.
    pub host: String,
    state: Arc<ReadState>,
}

struct ReadState {
    upstream: String,
    http: reqwest::Client,
    documents: AtomicUsize,
    calls: AtomicUsize,
}

impl FirestoreReads {
    pub async fn start(upstream: &str) -> Self {
        let state = Arc::new(ReadState {
            upstream: format!("http://{upstream}"),
            http: reqwest::Client::new(),
            documents: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .fallback(count_forward)
            .with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let host = listener.local_addr().expect("addr").to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { host, state }
    }

    /// Documents read through this forwarder so far.
    pub fn documents(&self) -> usize {
        self.state.documents.load(Ordering::SeqCst)
    }

    /// Read calls (answers that carried documents or could have) so far.
    pub fn calls(&self) -> usize {
        self.state.calls.load(Ordering::SeqCst)
    }
}

/// The documents in a Firestore REST answer to a read; `None`: not a read.
pub fn documents_in(method: &str, path: &str, body: &[u8]) -> Option<usize> {
    let v: Value = serde_json::from_slice(body).ok()?;
    if path.ends_with(":runQuery") {
        let list = v.as_array()?;
        return Some(list.iter().filter(|r| r.get("document").is_some()).count());
    }
    if path.ends_with(":batchGet") {
        let list = v.as_array()?;
        return Some(list.iter().filter(|r| r.get("found").is_some()).count());
    }
    if method == "GET" && path.contains("/documents/") {
        return Some(match v.get("documents") {
            Some(docs) => docs.as_array().map_or(0, Vec::len),
            None if v.get("fields").is_some() || v.get("name").is_some() => 1,
            None => 0,
        });
    }
    None
}

async fn count_forward(
    State(state): State<Arc<ReadState>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let Ok(m) = reqwest::Method::from_bytes(method.as_str().as_bytes()) else {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    };
    let mut req = state
        .http
        .request(m, format!("{}{path}", state.upstream))
        .body(body);
    for name in ["content-type", "authorization"] {
        if let Some(v) = headers.get(name) {
            req = req.header(name, v.as_bytes());
        }
    }
    let Ok(resp) = req.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = resp.headers().get("content-type").cloned();
    let body = resp.bytes().await.unwrap_or_default();
    if status.is_success() {
        if let Some(n) = documents_in(method.as_str(), uri.path(), &body) {
            state.calls.fetch_add(1, Ordering::SeqCst);
            state.documents.fetch_add(n, Ordering::SeqCst);
        }
    }
    let mut answer = (status, body).into_response();
    if let Some(ct) = content_type {
        if let Ok(ct) = axum::http::HeaderValue::from_bytes(ct.as_bytes()) {
            answer.headers_mut().insert("content-type", ct);
        }
    }
    answer
}
