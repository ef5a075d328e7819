//! [`FirestoreReads`]: an HTTP forwarder to a Firestore emulator that counts
//! the documents its answers carry — what Firestore bills as reads — so a test
//! can hold a reader to what it promises to read.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

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
        let host = crate::loopback::serve(app).await.to_string();
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
    let answer = match crate::loopback::forward(
        &state.http,
        &state.upstream,
        (&method, &uri, &headers),
        &["content-type", "authorization"],
        body,
    )
    .await
    {
        Ok(answer) => answer,
        Err(status) => return status.into_response(),
    };
    if answer.status.is_success() {
        if let Some(n) = documents_in(method.as_str(), uri.path(), &answer.body) {
            state.calls.fetch_add(1, Ordering::SeqCst);
            state.documents.fetch_add(n, Ordering::SeqCst);
        }
    }
    answer.into_response()
}
