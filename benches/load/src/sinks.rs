//! The minimal local Google APIs the functions talk to during the benchmark,
//! served on 127.0.0.1 by the benchmark process itself:
//!
//! - Pub/Sub REST: `POST /v1/projects/{p}/topics/{t}:publish` answers
//!   `{"messageIds": [...]}`, one id per message;
//! - Firestore REST: `POST …/documents:commit` answers `{"commitTime": …}`,
//!   `POST …/documents:batchGet` answers a document whose id starts with
//!   [`CATALOG_PREFIX`] as `found` (a catalogue entry with `cost` and
//!   `item_brand`), any document of the [`CUSTOMERS`] collection as `found`
//!   (a customer with `segment` and `lifetime_value`, for enrich's lookups),
//!   every other one as `missing`; `GET …/documents/…` (a marker read)
//!   answers Firestore's 404 `NOT_FOUND`;
//! - a webhook: `POST /webhook` answers 200 `ok` and counts the call.
//!
//! They parse what they are sent (so a malformed request is a 400, and the
//! messages are counted) and do nothing else: the cost of the real services is
//! not what is being measured. Their latency is: [`Sink::set_latency_ms`]
//! makes every call wait that long before its answer, as a call to the real
//! service over the network would, so that concurrent requests pile up in the
//! server under test as they do in production.
//!
//! They accept what Google's official Node.js client sends over REST too: a
//! `?$alt=json;enum-encoding=int` query, `x-goog-*` headers (both ignored), and
//! `attributes` before `data` in each message.

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde::Deserialize;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What the sinks have been sent.
#[derive(Default)]
pub struct Counts {
    pub publish_calls: AtomicU64,
    pub messages: AtomicU64,
    pub commits: AtomicU64,
    pub batch_gets: AtomicU64,
    pub document_gets: AtomicU64,
    pub webhooks: AtomicU64,
    pub bad_requests: AtomicU64,
    /// The latency added to every call, ms.
    latency_ms: AtomicU64,
}

impl Counts {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// A sink listening on an ephemeral loopback port.
pub struct Sink {
    pub addr: SocketAddr,
    pub counts: Arc<Counts>,
}

impl Sink {
    /// From now on, every call waits `ms` before its answer.
    pub fn set_latency_ms(&self, ms: u64) {
        self.counts.latency_ms.store(ms, Ordering::Relaxed);
    }

    /// `host:port`, as `PUBSUB_EMULATOR_HOST` / `FIRESTORE_EMULATOR_HOST` take it.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

pub async fn start() -> std::io::Result<Sink> {
    let counts = Arc::new(Counts::default());
    let app = Router::new()
        .fallback(handle)
        .with_state(Arc::clone(&counts));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Sink { addr, counts })
}

const NOT_FOUND_ANSWER: &str =
    r#"{"error":{"code":404,"message":"Document not found","status":"NOT_FOUND"}}"#;

/// Catalogue documents whose id starts with this are `found` by `batchGet`.
pub const CATALOG_PREFIX: &str = "cat-";

/// Every document of this collection is `found` by `batchGet`.
pub const CUSTOMERS: &str = "customers";

const COMMIT_ANSWER: &str = r#"{"commitTime":"2026-01-01T00:00:00.000000Z","writeResults":[]}"#;

async fn handle(State(counts): State<Arc<Counts>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if req.method() == Method::GET && path.contains("/documents/") {
        // A marker read: never there (every message of a run is new).
        counts.document_gets.fetch_add(1, Ordering::Relaxed);
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "application/json")],
            NOT_FOUND_ANSWER,
        )
            .into_response();
    }
    if req.method() != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let body = match axum::body::to_bytes(req.into_body(), 64 << 20).await {
        Ok(b) => b,
        Err(_) => return bad(&counts, "unreadable body"),
    };
    let latency = counts.latency_ms.load(Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    if path.starts_with("/v1/projects/") && path.ends_with(":publish") {
        publish(&counts, &body)
    } else if path.ends_with("/documents:commit") {
        counts.commits.fetch_add(1, Ordering::Relaxed);
        json(COMMIT_ANSWER.to_string())
    } else if path.ends_with("/documents:batchGet") {
        batch_get(&counts, &body)
    } else if path == "/webhook" {
        counts.webhooks.fetch_add(1, Ordering::Relaxed);
        "ok".into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

fn json(text: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], text).into_response()
}

fn bad(counts: &Counts, why: &str) -> Response {
    counts.bad_requests.fetch_add(1, Ordering::Relaxed);
    (StatusCode::BAD_REQUEST, why.to_string()).into_response()
}

#[derive(Deserialize)]
struct PublishRequest<'a> {
    #[serde(borrow)]
    messages: Vec<WireMessage<'a>>,
}

#[derive(Deserialize)]
struct WireMessage<'a> {
    /// Base64 has no characters JSON escapes, so the data borrows.
    #[allow(dead_code)]
    data: &'a str,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn publish(counts: &Counts, body: &Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<PublishRequest>(body) else {
        return bad(counts, "not a publish request");
    };
    let n = req.messages.len() as u64;
    if n == 0 {
        return bad(counts, "no messages");
    }
    counts.publish_calls.fetch_add(1, Ordering::Relaxed);
    counts.messages.fetch_add(n, Ordering::Relaxed);
    let first = NEXT_ID.fetch_add(n, Ordering::Relaxed);
    let mut out = String::with_capacity(16 + n as usize * 10);
    out.push_str(r#"{"messageIds":["#);
    for id in first..first + n {
        if id != first {
            out.push(',');
        }
        let _ = write!(out, "\"{id}\"");
    }
    out.push_str("]}");
    json(out)
}

#[derive(Deserialize)]
struct BatchGet {
    documents: Vec<String>,
}

fn batch_get(counts: &Counts, body: &Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<BatchGet>(body) else {
        return bad(counts, "not a batchGet request");
    };
    counts.batch_gets.fetch_add(1, Ordering::Relaxed);
    let answer: Vec<serde_json::Value> = req
        .documents
        .into_iter()
        .map(|name| {
            let mut segments = name.rsplit('/');
            let id = segments.next().unwrap_or_default();
            let collection = segments.next().unwrap_or_default();
            if collection == CUSTOMERS {
                serde_json::json!({
                    "found": {
                        "name": name,
                        "fields": {
                            "segment": { "stringValue": "gold" },
                            "lifetime_value": { "integerValue": "1234" },
                        },
                        "createTime": "2026-01-01T00:00:00.000000Z",
                        "updateTime": "2026-01-01T00:00:00.000000Z",
                    },
                    "readTime": "2026-01-01T00:00:00.000000Z",
                })
            } else if id.starts_with(CATALOG_PREFIX) {
                serde_json::json!({
                    "found": {
                        "name": name,
                        "fields": {
                            "cost": { "integerValue": "20" },
                            "item_brand": { "stringValue": "Acme" },
                        },
                        "createTime": "2026-01-01T00:00:00.000000Z",
                        "updateTime": "2026-01-01T00:00:00.000000Z",
                    },
                    "readTime": "2026-01-01T00:00:00.000000Z",
                })
            } else {
                serde_json::json!({ "missing": name, "readTime": "2026-01-01T00:00:00.000000Z" })
            }
        })
        .collect();
    json(serde_json::Value::Array(answer).to_string())
}
