//! `hermes-dashboard`: a live page over the item counters.
//!
//! - `GET /` the page: HTML, CSS and JavaScript embedded in the binary (no CDN, no
//!   external fonts). It builds its API URLs from `location.pathname`, so it works
//!   at the root and nested under a prefix (`/dashboard` and `/dashboard/`).
//! - `GET /api/items?limit=N` the top N items by counter (default 100, 1 to
//!   1,000) with totals over every item, as JSON (see [`view`], [`held`]).
//! - `GET /api/items/stream` Server-Sent Events: the same JSON as an unnamed
//!   (`message`) event on connect and on every change, an `error` event
//!   (`{"error": "…"}`) when the store cannot be read, keep-alive comments between.
//! - `GET /healthz`.
//!
//! One background poller reads the store every `poll_interval_ms` while at least
//! one stream is open and broadcasts through a [`tokio::sync::watch`] channel:
//! N open pages cost one store read per interval, no pages cost nothing. What
//! it reads keeps a map of every item's totals current ([`held::Held`]): a
//! full read at start and every `full_read_secs`, and between them only the
//! items changed since the last read (with [`CHANGE_OVERLAP`]), so a poll
//! costs store reads in proportion to the items changed, not to all items.

pub mod held;
pub mod preview;
pub mod settings;
pub mod view;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream};
use futures_util::FutureExt;
use hermes_core::config::{Config, ConfigError, Section};
use hermes_core::error::report;
use hermes_core::store::{ItemsReader, StoreError};
pub use hermes_gcp::StartupError;
use serde_json::json;
use settings::Settings;
use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::watch;

const INDEX_HTML: &str = include_str!("assets/index.html");
const STYLE_CSS: &str = include_str!("assets/style.css");
const APP_JS: &str = include_str!("assets/app.js");

/// How far back each read of the changed items reaches before the previous
/// read's start. Firestore is strongly consistent: a read sees every commit
/// finished before it. The risk is a commit stamped (`last_event_at` is the
/// commit's `REQUEST_TIME`) before a read started but finished after it: the
/// read missed it, and the next one, asking for changes since the previous
/// read's start, would miss it too. A commit takes milliseconds; one that
/// takes longer than this overlap (its deadline is 10 s, so it can) is seen at
/// the next full read (`full_read_secs`). Each change is read again by the
/// polls within the overlap: about 1 + 5 s / `poll_interval_ms` reads per
/// change (6 at the default 1 s).
pub const CHANGE_OVERLAP: Duration = Duration::from_secs(5);

/// The most changed items one read takes (and holds at once); more changed
/// since the last read (a burst, a backfill): a full read instead, which holds
/// no more than a page of documents besides the map.
pub const CHANGED_AT_MOST: usize = 1000;

/// Items in a document when the request does not say (`?limit=`), and on the stream.
pub const DEFAULT_LIMIT: usize = 100;
/// The most items one document may ask for.
pub const MAX_LIMIT: usize = 1000;

/// How long a browser waits before reconnecting a dropped stream.
const SSE_RETRY: Duration = Duration::from_secs(2);

/// Everything is inline; nothing may be loaded from elsewhere, and the page only
/// talks to its own origin.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
    style-src 'unsafe-inline'; img-src data:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// What the poller last saw: the items document (JSON text) and, while the store
/// cannot be read, the error (the last good document is kept).
#[derive(Debug, Clone, Default, PartialEq)]
struct Snapshot {
    items: Option<Arc<str>>,
    error: Option<String>,
}

/// How recent a read must be to be used without reading again.
#[derive(Debug, Clone, Copy)]
enum Fresh {
    /// Started after this moment (a request's arrival).
    StartedAfter(Instant),
    /// Started within this long (the poller's interval).
    Within(Duration),
}

/// The map of every item and when it was read.
struct Tracker {
    held: held::Held,
    /// The last full read went through (a failed or interrupted one leaves
    /// the map half-summed: the next read is a full one).
    complete: bool,
    /// When the last successful read started: the store's time (for the
    /// next changed read) and this process's.
    last_read: Option<(SystemTime, Instant)>,
    last_full: Option<Instant>,
    /// Bumped whenever what the page shows may have changed.
    version: u64,
    /// The default-limit document of `version`.
    cached: Option<(u64, Arc<str>)>,
}

#[derive(Debug, Default)]
struct PollState {
    /// A poller task is running.
    running: bool,
    /// The running poller has published at least one read.
    fresh: bool,
}

/// The dashboard over a counter store; shared by `hermes-dashboard` and `hermes dev`.
pub struct Dashboard {
    pub settings: Settings,
    store: Arc<dyn ItemsReader>,
    page: String,
    snapshots: watch::Sender<Snapshot>,
    poll: Mutex<PollState>,
    tracker: tokio::sync::Mutex<Tracker>,
    /// `true` ends every open stream (see [`Dashboard::shutdown`]).
    closing: watch::Sender<bool>,
    /// The preview inspector, when the dashboard can read traces.
    preview: Option<Arc<preview::Preview>>,
}

impl Dashboard {
    pub fn new(store: Arc<dyn ItemsReader>, settings: Settings) -> Self {
        let page = render_page(&settings);
        let max_items = settings.max_items;
        Self {
            settings,
            store,
            page,
            snapshots: watch::Sender::new(Snapshot::default()),
            poll: Mutex::new(PollState::default()),
            tracker: tokio::sync::Mutex::new(Tracker {
                held: held::Held::new(max_items),
                complete: false,
                last_read: None,
                last_full: None,
                version: 0,
                cached: None,
            }),
            closing: watch::Sender::new(false),
            preview: None,
        }
    }

    /// Serves the preview inspector over `traces`; `ttl` is `[preview] ttl_secs`.
    pub fn with_preview(
        mut self,
        traces: Arc<dyn hermes_core::preview::TraceReader>,
        ttl: Duration,
    ) -> Self {
        self.preview = Some(Arc::new(preview::Preview::new(traces, &self.settings, ttl)));
        self
    }

    /// `[dashboard]` of the shared configuration.
    pub fn settings_from(config: &Config) -> Result<Settings, ConfigError> {
        Settings::parse(config.section(Section::Dashboard))
    }

    pub fn store(&self) -> &Arc<dyn ItemsReader> {
        &self.store
    }

    /// The page served at `GET /`.
    pub fn page(&self) -> &str {
        &self.page
    }

    /// The items document with the top `limit` items (JSON text), from the
    /// map, brought up to date by a read that started after this call (one
    /// another caller started meanwhile will do): what was committed before
    /// is in it.
    pub async fn document(&self, limit: usize) -> Result<Arc<str>, StoreError> {
        let asked = Instant::now();
        let mut tracker = self.tracker.lock().await;
        self.refresh(&mut tracker, Fresh::StartedAfter(asked))
            .await?;
        Ok(Self::document_of(&mut tracker, limit))
    }

    /// The poller's read, every `poll_interval_ms` whatever requests read
    /// meanwhile (a request's read just before a change must not hold the
    /// change back from the open pages for another interval), and its document.
    async fn poll_document(&self) -> Result<Arc<str>, StoreError> {
        let mut tracker = self.tracker.lock().await;
        self.refresh(&mut tracker, Fresh::Within(Duration::ZERO))
            .await?;
        Ok(Self::document_of(&mut tracker, DEFAULT_LIMIT))
    }

    /// The items document with the default limit, as JSON.
    pub async fn items(&self) -> Result<serde_json::Value, StoreError> {
        let text = self.document(DEFAULT_LIMIT).await?;
        serde_json::from_str(&text).map_err(StoreError::permanent)
    }

    fn document_of(tracker: &mut Tracker, limit: usize) -> Arc<str> {
        if limit == DEFAULT_LIMIT {
            if let Some((version, doc)) = &tracker.cached {
                if *version == tracker.version {
                    return doc.clone();
                }
            }
        }
        let doc: Arc<str> = Arc::from(tracker.held.document(limit));
        if limit == DEFAULT_LIMIT {
            tracker.cached = Some((tracker.version, doc.clone()));
        }
        doc
    }

    /// Brings the map up to date: nothing when the last read is `fresh`
    /// enough, a full read when one is due (or incremental reads are off),
    /// else the items changed since the last read's start, less
    /// [`CHANGE_OVERLAP`].
    async fn refresh(&self, tracker: &mut Tracker, fresh: Fresh) -> Result<(), StoreError> {
        let started = Instant::now();
        let store_now = SystemTime::now();
        let s = &self.settings;
        if let (true, Some((_, at))) = (tracker.complete, tracker.last_read) {
            let fresh_enough = match fresh {
                Fresh::StartedAfter(asked) => at >= asked,
                Fresh::Within(age) => started.duration_since(at) < age,
            };
            if fresh_enough {
                return Ok(());
            }
        }
        let mut full = !tracker.complete
            || !s.incremental_reads
            || tracker
                .last_full
                .is_none_or(|at| started.duration_since(at) >= s.full_read);
        if !full {
            let (since, _) = tracker.last_read.unwrap_or((store_now, started));
            let since = since.checked_sub(CHANGE_OVERLAP).unwrap_or(since);
            match self
                .store
                .items_changed_since(since, CHANGED_AT_MOST)
                .await?
            {
                Some(changed) => {
                    let n = changed.len();
                    if tracker.held.apply_changed(changed) {
                        tracker.version += 1;
                    }
                    tracing::debug!(changed = n, "dashboard read the changed items");
                }
                None => {
                    tracing::debug!(
                        at_most = CHANGED_AT_MOST,
                        "more items changed than a changed read holds: a full read"
                    );
                    full = true;
                }
            }
        }
        if full {
            tracker.complete = false;
            let held = &mut tracker.held;
            held.begin_scan();
            let mut parts = 0usize;
            self.store
                .scan_parts(&mut |part| {
                    parts += 1;
                    held.add_part(part)
                })
                .await?;
            held.end_scan();
            if held.left_out > 0 {
                tracing::warn!(
                    max_items = s.max_items,
                    left_out = held.left_out,
                    "the dashboard holds at most dashboard.max_items items: the rest are left out of the page and its totals"
                );
            }
            tracing::debug!(parts, items = held.len(), "dashboard read every item");
            tracker.complete = true;
            tracker.last_full = Some(started);
            tracker.version += 1;
        }
        tracker.last_read = Some((store_now, started));
        Ok(())
    }

    /// Open event streams (each holds one subscription).
    pub fn clients(&self) -> usize {
        self.snapshots.receiver_count()
    }

    /// Whether the background poller is running.
    pub fn polling(&self) -> bool {
        self.lock_poll().running
    }

    /// Ends every open event stream (browsers reconnect on their own), so that a
    /// graceful shutdown is not held up by streams that never finish.
    pub fn shutdown(&self) {
        self.closing.send_replace(true);
        if let Some(preview) = &self.preview {
            preview.shutdown();
        }
    }

    fn lock_poll(&self) -> MutexGuard<'_, PollState> {
        self.poll.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A subscription to the snapshots, and the snapshot to send at once (when
    /// the poller is running and has one); starts the poller when needed.
    fn subscribe(self: &Arc<Self>) -> (watch::Receiver<Snapshot>, Option<Snapshot>) {
        let mut poll = self.lock_poll();
        let mut rx = self.snapshots.subscribe();
        let now = if poll.fresh {
            Some(rx.borrow_and_update().clone())
        } else {
            None
        };
        if !poll.running {
            poll.running = true;
            poll.fresh = false;
            let this = Arc::clone(self);
            tokio::spawn(async move { this.poll_loop().await });
        }
        (rx, now)
    }

    async fn poll_loop(self: Arc<Self>) {
        tracing::debug!("dashboard poller started");
        // Should the task die all the same, the next client starts a new one.
        let mut guard = PollerGuard {
            dashboard: &self,
            armed: true,
        };
        let mut first = true;
        loop {
            // A store that panics (a bug) is reported like a failing one, and
            // the poller goes on.
            let read = match AssertUnwindSafe(self.poll_document()).catch_unwind().await {
                Ok(read) => read,
                Err(_) => Err(StoreError::Permanent(
                    "reading the counters store panicked".into(),
                )),
            };
            let mut became_error = None;
            let mut recovered = false;
            let update = |cur: &mut Snapshot| {
                let next = match &read {
                    Ok(doc) => Snapshot {
                        items: Some(doc.clone()),
                        error: None,
                    },
                    Err(e) => Snapshot {
                        items: cur.items.clone(),
                        error: Some(report(e)),
                    },
                };
                if next.error.is_some() && next.error != cur.error {
                    became_error = next.error.clone();
                }
                recovered = cur.error.is_some() && next.error.is_none();
                // A new run always announces its first read: a client waiting
                // for it may already hold the stale snapshot of an earlier run.
                if first || next != *cur {
                    *cur = next;
                    true
                } else {
                    false
                }
            };
            self.snapshots.send_if_modified(update);
            first = false;
            if let Some(error) = became_error {
                tracing::warn!(error = %error, "dashboard cannot read the counters store");
            } else if recovered {
                tracing::info!("dashboard reads the counters store again");
            }
            self.lock_poll().fresh = true;
            tokio::select! {
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
                _ = self.snapshots.closed() => {}
            }
            let mut poll = self.lock_poll();
            if self.snapshots.receiver_count() == 0 {
                // Under the lock that `subscribe` takes: a client arriving now
                // sees `running == false` and starts a new poller.
                poll.running = false;
                poll.fresh = false;
                guard.armed = false;
                tracing::debug!("dashboard poller stopped: no clients");
                return;
            }
        }
    }

    /// The event stream of one client.
    pub fn events(self: &Arc<Self>) -> impl Stream<Item = Result<Event, Infallible>> + Send {
        let (rx, now) = self.subscribe();
        let closing = self.closing.subscribe();
        let state = StreamState {
            rx,
            closing,
            pending: now,
            sent: None,
            first: true,
        };
        stream::unfold(state, |mut st| async move {
            loop {
                let snapshot = match st.pending.take() {
                    Some(s) => s,
                    None => {
                        tokio::select! {
                            changed = st.rx.changed() => {
                                if changed.is_err() {
                                    return None;
                                }
                                st.rx.borrow_and_update().clone()
                            }
                            _ = closed(&mut st.closing) => return None,
                        }
                    }
                };
                if *st.closing.borrow() {
                    return None;
                }
                let event = match (&snapshot.error, &snapshot.items) {
                    (Some(_), _) => {
                        st.sent = None;
                        // The detail is logged by the poller, not sent to the page.
                        Event::default()
                            .event("error")
                            .data(json!({ "error": STORE_UNREADABLE }).to_string())
                    }
                    (None, Some(items)) => {
                        if st.sent.as_ref() == Some(items) {
                            continue;
                        }
                        st.sent = Some(items.clone());
                        Event::default().data(items.as_ref())
                    }
                    (None, None) => continue,
                };
                let event = if st.first {
                    st.first = false;
                    event.retry(SSE_RETRY)
                } else {
                    event
                };
                return Some((Ok(event), st));
            }
        })
    }
}

struct PollerGuard<'a> {
    dashboard: &'a Dashboard,
    armed: bool,
}

impl Drop for PollerGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut poll = self.dashboard.lock_poll();
            poll.running = false;
            poll.fresh = false;
        }
    }
}

struct StreamState {
    rx: watch::Receiver<Snapshot>,
    closing: watch::Receiver<bool>,
    pending: Option<Snapshot>,
    /// The items document this client last got.
    sent: Option<Arc<str>>,
    first: bool,
}

/// Resolves once `closing` is `true`; never when its sender is gone.
async fn closed(closing: &mut watch::Receiver<bool>) {
    loop {
        if *closing.borrow_and_update() {
            return;
        }
        if closing.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// `GET /` the page, `GET /api/items`, `GET /api/items/stream`, `GET /healthz`.
pub fn router(state: Arc<Dashboard>) -> Router {
    let inspector = state.preview.clone().map(preview::routes);
    let router = Router::new()
        .route("/", get(page))
        .route("/api/items", get(items))
        .route("/api/items/stream", get(items_stream))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state);
    match inspector {
        Some(inspector) => router.merge(inspector),
        None => router,
    }
}

/// The dashboard under `prefix` (`/dashboard`), to merge into a larger router:
/// [`router`] nested there, plus the page at `{prefix}/` too — axum's `nest`
/// alone answers 404 for the trailing-slash form. An empty prefix or `/` is
/// [`router`] itself.
pub fn mount(prefix: &str, state: Arc<Dashboard>) -> Router {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return router(state);
    }
    let prefix = if prefix.starts_with('/') {
        prefix.to_string()
    } else {
        format!("/{prefix}")
    };
    Router::new()
        .route(&format!("{prefix}/"), get(page).with_state(state.clone()))
        .nest(&prefix, router(state))
}

async fn page(State(dashboard): State<Arc<Dashboard>>) -> Response {
    html_page(dashboard.page.clone())
}

/// An embedded page with the headers that keep it self-contained.
fn html_page(html: String) -> Response {
    let mut response = axum::response::Html(html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// What a page is told when the store cannot be read.
const STORE_UNREADABLE: &str = "cannot read the counters";

/// Why a dashboard request failed; its one status table.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("{STORE_UNREADABLE}")]
    Store(#[from] StoreError),
    #[error("limit must be a whole number from 1 to {MAX_LIMIT}")]
    Limit,
}

impl IntoResponse for DashboardError {
    fn into_response(self) -> Response {
        let status = match self {
            // The store may be back in a moment: the page retries.
            Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Limit => StatusCode::BAD_REQUEST,
        };
        if let Self::Store(_) = self {
            tracing::warn!(error = %report(&self), "dashboard cannot read the counters store");
        }
        // The store's own error stays in the log: the page only needs to know.
        (
            status,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            axum::Json(json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

/// `?limit=N`: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent; other
/// parameters are ignored.
fn limit_of(query: Option<&str>) -> Result<usize, DashboardError> {
    let mut limits = query
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .filter(|(k, _)| *k == "limit");
    let limit = match (limits.next(), limits.next()) {
        (None, _) => return Ok(DEFAULT_LIMIT),
        (Some((_, v)), None) => v,
        (Some(_), Some(_)) => return Err(DashboardError::Limit),
    };
    match limit.parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(DashboardError::Limit),
    }
}

async fn items(
    State(dashboard): State<Arc<Dashboard>>,
    RawQuery(query): RawQuery,
) -> Result<Response, DashboardError> {
    let limit = limit_of(query.as_deref())?;
    let doc = dashboard.document(limit).await?;
    let headers = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ),
    ];
    Ok((headers, doc.to_string()).into_response())
}

async fn items_stream(State(dashboard): State<Arc<Dashboard>>) -> Response {
    let keep_alive = KeepAlive::new().interval(dashboard.settings.keep_alive);
    let mut response = Sse::new(dashboard.events())
        .keep_alive(keep_alive)
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Proxies that buffer (nginx) must pass events through as they come.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Replaces `&`, `<`, `>`, `"` and `'` for an HTML attribute value.
fn escape_attribute(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page with its stylesheet and script inline and the settings it shows.
fn render_page(settings: &Settings) -> String {
    let ingest = settings.ingest_url.as_deref().unwrap_or("");
    INDEX_HTML
        .replace("{{INGEST_URL}}", &escape_attribute(ingest))
        .replace("/*{{STYLE}}*/", STYLE_CSS)
        .replace("/*{{SCRIPT}}*/", APP_JS)
}

#[cfg(test)]
mod tests;
