//! The preview inspector (README, "Preview inspector"): sGTM's Preview mode
//! for Hermes.
//!
//! - `GET /preview` the page (every asset inline, like the dashboard's).
//! - `POST /api/preview/sessions` opens a session: `{"session", "header",
//!   "value", "expires_at"}`. Nothing is stored: the value carries its expiry
//!   and the session id is derived from it (see `hermes_core::preview`), so the
//!   dashboard needs only read access to the traces.
//! - `GET /api/preview/{session}` `{"requests": [...]}`, newest first.
//! - `GET /api/preview/{session}/stream` Server-Sent Events: the same document
//!   on connect and whenever it changes (read every `poll_interval_ms`), an
//!   `error` event when the store cannot be read.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, Stream};
use hermes_core::error::report;
use hermes_core::preview::{SessionId, SessionValue, TraceReader, LIST_LIMIT, PREVIEW_HEADER};
use hermes_core::store::StoreError;
use hermes_core::time::format_timestamp;
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

const PREVIEW_HTML: &str = include_str!("assets/preview.html");
const PREVIEW_CSS: &str = include_str!("assets/preview.css");
const PREVIEW_JS: &str = include_str!("assets/preview.js");

/// Open inspector streams at once; each polls the store, so they are bounded.
pub const MAX_STREAMS: usize = 32;

/// The inspector over a trace store.
pub struct Preview {
    reader: Arc<dyn TraceReader>,
    ttl: Duration,
    poll_interval: Duration,
    keep_alive: Duration,
    page: String,
    streams: Arc<Semaphore>,
    closing: watch::Sender<bool>,
}

/// Why an inspector request failed; its status table.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("no such preview session (a session id is 64 lowercase hex characters)")]
    NoSession,
    #[error("cannot read the preview traces")]
    Store(#[from] StoreError),
    #[error("the system's random generator failed")]
    Random,
    #[error("too many open inspector streams (at most {MAX_STREAMS})")]
    Busy,
}

impl IntoResponse for PreviewError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::NoSession => StatusCode::NOT_FOUND,
            Self::Store(_) | Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Random => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let error = report(&self);
        if status != StatusCode::NOT_FOUND {
            tracing::warn!(error = %error, "preview inspector request failed");
        }
        let mut response = (
            status,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Json(json!({ "error": error })),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        response
    }
}

impl Preview {
    /// `ttl` is `[preview] ttl_secs`; the rest follows the dashboard's settings.
    pub fn new(
        reader: Arc<dyn TraceReader>,
        settings: &crate::settings::Settings,
        ttl: Duration,
    ) -> Self {
        let ingest = settings.ingest_url.as_deref().unwrap_or("");
        let page = PREVIEW_HTML
            .replace("{{INGEST_URL}}", &crate::escape_attribute(ingest))
            .replace("/*{{STYLE}}*/", PREVIEW_CSS)
            .replace("/*{{SCRIPT}}*/", PREVIEW_JS);
        Self {
            reader,
            ttl,
            poll_interval: settings.poll_interval,
            keep_alive: settings.keep_alive,
            page,
            streams: Arc::new(Semaphore::new(MAX_STREAMS)),
            closing: watch::Sender::new(false),
        }
    }

    /// Ends every open inspector stream (at shutdown).
    pub fn shutdown(&self) {
        self.closing.send_replace(true);
    }

    /// A new session: its value, id and expiry.
    pub fn open_session(&self) -> Result<serde_json::Value, PreviewError> {
        let value = SessionValue::generate(SystemTime::now(), self.ttl)
            .map_err(|_| PreviewError::Random)?;
        Ok(json!({
            "session": value.session_id().as_str(),
            "header": PREVIEW_HEADER,
            "value": value.as_str(),
            "expires_at": format_timestamp(value.expires()),
        }))
    }

    /// `{"requests": [...]}` of a session, newest first.
    pub async fn requests(&self, session: &SessionId) -> Result<serde_json::Value, PreviewError> {
        let traces = self.reader.traces(session, LIST_LIMIT).await?;
        Ok(json!({ "requests": traces }))
    }
}

/// The inspector's routes, merged into the dashboard's router.
pub fn routes(state: Arc<Preview>) -> Router {
    Router::new()
        .route("/preview", get(page))
        .route("/api/preview/sessions", post(open_session))
        .route("/api/preview/{session}", get(requests))
        .route("/api/preview/{session}/stream", get(requests_stream))
        .with_state(state)
}

async fn page(State(preview): State<Arc<Preview>>) -> Response {
    crate::html_page(preview.page.clone())
}

async fn open_session(State(preview): State<Arc<Preview>>) -> Result<Response, PreviewError> {
    let doc = preview.open_session()?;
    let no_store = [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))];
    Ok((StatusCode::CREATED, no_store, Json(doc)).into_response())
}

fn session_of(text: &str) -> Result<SessionId, PreviewError> {
    SessionId::parse(text).ok_or(PreviewError::NoSession)
}

async fn requests(
    State(preview): State<Arc<Preview>>,
    Path(session): Path<String>,
) -> Result<Response, PreviewError> {
    let session = session_of(&session)?;
    let doc = preview.requests(&session).await?;
    let no_store = [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))];
    Ok((no_store, Json(doc)).into_response())
}

struct StreamState {
    preview: Arc<Preview>,
    session: SessionId,
    closing: watch::Receiver<bool>,
    /// The document this client last got.
    sent: Option<String>,
    first: bool,
    _permit: OwnedSemaphorePermit,
}

async fn requests_stream(
    State(preview): State<Arc<Preview>>,
    Path(session): Path<String>,
) -> Result<Response, PreviewError> {
    let session = session_of(&session)?;
    let permit = Arc::clone(&preview.streams)
        .try_acquire_owned()
        .map_err(|_| PreviewError::Busy)?;
    let keep_alive = KeepAlive::new().interval(preview.keep_alive);
    let state = StreamState {
        closing: preview.closing.subscribe(),
        preview,
        session,
        sent: None,
        first: true,
        _permit: permit,
    };
    let mut response = Sse::new(events(state))
        .keep_alive(keep_alive)
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

fn events(state: StreamState) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    stream::unfold(state, |mut st| async move {
        loop {
            if *st.closing.borrow() {
                return None;
            }
            if !st.first || st.sent.is_some() {
                tokio::select! {
                    _ = tokio::time::sleep(st.preview.poll_interval) => {}
                    _ = st.closing.changed() => return None,
                }
            }
            let event = match st.preview.requests(&st.session).await {
                Ok(doc) => {
                    let text = doc.to_string();
                    if st.sent.as_ref() == Some(&text) {
                        continue;
                    }
                    st.sent = Some(text.clone());
                    Event::default().data(text)
                }
                Err(e) => {
                    st.sent = None;
                    Event::default()
                        .event("error")
                        .data(json!({ "error": report(&e) }).to_string())
                }
            };
            let event = if st.first {
                st.first = false;
                event.retry(Duration::from_secs(2))
            } else {
                event
            };
            return Some((Ok(event), st));
        }
    })
}
