//! `hermes-ingest`: the Server-to-Server contract. `POST /` takes a JSON array
//! of events, type-checks them, maps them onto Pub/Sub messages (the Hermes
//! encoding), publishes them and answers with per-event detail.

pub mod body;
pub mod error;
pub mod metrics;
pub mod preview;
pub mod process;
pub mod quarantine;
pub mod response;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Extension;
use axum::Router;
use error::IngestError;
use hermes_core::auth::Tokens;
use hermes_core::config::{Config, ConfigError};
use hermes_core::destination::Publisher;
use hermes_core::json::{ArrayError, Elements, SyntaxError};
use hermes_core::preview::{PublishTraces, SessionValue, TraceSink};
use hermes_gcp::pubsub::PubSubRest;
pub use hermes_gcp::StartupError;
use hermes_runtime::{offload, RequestBudget};
pub use process::Publishing;
use process::{RequestContext, MAX_IDEMPOTENCY_KEY_BYTES};
use quarantine::Quarantine;
use std::sync::Arc;

/// The header that marks a preview request.
pub use hermes_core::preview::PREVIEW_HEADER;
/// A client's key for one request, so that resending it publishes the same
/// event identities (README, "Delivery guarantees").
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Marks a request's events as a backfill (README, "Nothing lost"):
/// `true` with a production token only.
pub const BACKFILL_HEADER: &str = "x-hermes-backfill";

/// Everything a request needs, built once at start-up.
pub struct Ingest {
    pub config: Config,
    pub tokens: Tokens,
    pub publishing: Publishing,
    /// Traces authorized preview requests for the inspector, when configured.
    pub tracer: Option<preview::Tracer>,
    /// `[quarantine]`: where events refused for good are kept, when configured.
    pub quarantine: Option<Quarantine>,
}

impl Ingest {
    /// Refuses a configuration without destinations: ingest would publish nothing.
    pub fn new(
        config: Config,
        tokens: Tokens,
        publisher: Arc<dyn Publisher>,
    ) -> Result<Self, ConfigError> {
        require_destinations(&config)?;
        let quarantine = Quarantine::from_config(&config)?;
        Ok(Self {
            config,
            tokens,
            publishing: Publishing::new(publisher),
            tracer: None,
            quarantine,
        })
    }

    /// Traces preview requests into `sink` (starts the trace task: call it
    /// inside a Tokio runtime).
    pub fn with_tracing(mut self, sink: Arc<dyn TraceSink>) -> Self {
        self.tracer = Some(preview::Tracer::spawn(self.config.clone(), sink));
        self
    }

    /// Configuration, tokens and Pub/Sub (or its emulator) from the environment.
    pub async fn from_env() -> Result<Self, StartupError> {
        let config = Config::from_env()?;
        let tokens = Tokens::from_env()?;
        // Checked before reaching for credentials, so the error is the useful one.
        require_destinations(&config)?;
        let publisher: Arc<dyn Publisher> =
            Arc::new(PubSubRest::from_env(config.publish_deadline).await?);
        // On Google Cloud traces travel on the preview topic: ingest only publishes.
        let traces = config.preview.topic.clone().map(|topic| PublishTraces {
            publisher: publisher.clone(),
            topic,
        });
        let ingest = Self::new(config, tokens, publisher)?;
        Ok(match traces {
            Some(sink) => ingest.with_tracing(Arc::new(sink)),
            None => ingest,
        })
    }
}

fn require_destinations(config: &Config) -> Result<(), ConfigError> {
    if config.destinations.is_empty() {
        return Err(ConfigError::invalid(
            "destinations",
            "ingest needs at least one [[destinations]] entry (a Pub/Sub topic to publish to)",
        ));
    }
    Ok(())
}

/// `POST /` ingest, `GET /healthz`.
pub fn router(state: Arc<Ingest>) -> Router {
    Router::new()
        .route("/", post(ingest))
        .route("/healthz", get(healthz))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

/// `validate_only=true` (or `1`) in the query string.
fn validate_only(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&').any(|kv| {
            matches!(
                kv,
                "validate_only=true" | "validate_only=1" | "validate_only"
            )
        })
    })
}

async fn ingest(
    State(state): State<Arc<Ingest>>,
    RawQuery(query): RawQuery,
    budget: Option<Extension<RequestBudget>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let container_id = &state.config.container_id;
    let budget = budget.map(|Extension(b)| b);
    match handle(&state, query.as_deref(), &headers, body, budget.as_ref()).await {
        Ok(Handled {
            body: request_body,
            mut report,
            session,
            backfill,
        }) => {
            let answered = preview::Answered {
                traced: std::mem::take(&mut report.traced),
                quarantined: report.refused.iter().map(|r| (r.index, r.reason)).collect(),
                backfill,
            };
            let size = report.event_count;
            let (status, body) = response::from_report(container_id, report);
            if status != StatusCode::OK {
                tracing::warn!(
                    status = status.as_u16(),
                    invalid_events = body.invalid_schema_events.len(),
                    failed_tags = body.failed_tags.len(),
                    "request not fully processed"
                );
            }
            // Serialising the answer to 10,000 events is large work too.
            let response = offload(size.saturating_mul(64), || {
                response::respond(status, &body, size)
            });
            if let (Some(tracer), Some(session)) = (&state.tracer, session) {
                tracer.send(session, status.as_u16(), &body, request_body, answered)
            }
            response
        }
        Err(e) => {
            // The message names the kind of problem, never tokens or event values.
            tracing::warn!(metric = "ingest_refused", status = e.status().as_u16(), error = %e, "request refused");
            if let Some(tracer) = &state.tracer {
                tracer.refused(&headers, &state.tokens, container_id, &e);
            }
            response::Refused {
                container_id,
                error: &e,
            }
            .into_response()
        }
    }
}

/// A processed request: its body (kept for the preview trace), what became
/// of its events, the preview session it is traced under.
struct Handled {
    body: bytes::Bytes,
    report: process::Report,
    session: Option<SessionValue>,
    /// Sent with `X-Hermes-Backfill: true`.
    backfill: bool,
}

/// The checks in the order of the README ("The ingest function"): size,
/// authorization, the idempotency key, decoding, parsing, then the events.
async fn handle(
    state: &Ingest,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
    budget: Option<&RequestBudget>,
) -> Result<Handled, IngestError> {
    let max = state.config.max_body_bytes;
    body::check_declared_length(headers, max)?;
    let preview = headers.contains_key(PREVIEW_HEADER);
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    if !state.tokens.authorize(authorization, preview) {
        return Err(IngestError::Unauthorized);
    }
    let backfill = backfill(headers)?;
    if backfill && !state.tokens.may_backfill(authorization) {
        return Err(IngestError::BackfillUnauthorized);
    }
    let idempotency_key = idempotency_key(headers)?;
    let encoding = body::content_encoding(headers)?;
    let bytes = body::read(body, encoding, max, budget.map(|b| b.0.as_ref())).await?;
    // The request's deadline runs from here: every wait below counts in it.
    let received = tokio::time::Instant::now();
    let received_at = std::time::SystemTime::now();
    let deadline = received + state.config.publish_deadline;
    // A large request waits for one of a few slots, and its parsing runs off the
    // async workers: the rest of the server goes on meanwhile (runtime::offload).
    // The slot is held for the CPU work only, not while the messages wait for
    // Pub/Sub; a wait for it past the deadline is an overload (503).
    let size = bytes.len();
    let heavy = tokio::time::timeout_at(deadline, hermes_runtime::heavy_permit(size))
        .await
        .map_err(|_| IngestError::Overloaded)?;
    let events = offload(size, || {
        parse_events(&bytes, state.config.limits.max_events)
    })?;
    // The parsed events cost more than their text (a `[0,0,…]` body about
    // 16×): they are paid for from the same budget, so what a request holds
    // in memory, not only its bytes, is bounded.
    if let Some(budget) = budget {
        budget
            .0
            .grow(events.heap_bytes)
            .map_err(|_| IngestError::Overloaded)?;
    }
    let publishing = (!validate_only(query)).then_some(&state.publishing);
    // Only an authorized preview request with a live session value is traced.
    let session = match (&state.tracer, preview) {
        (Some(tracer), true) => tracer.session(headers, std::time::SystemTime::now()),
        _ => None,
    };
    let request = RequestContext {
        preview,
        backfill,
        idempotency_key,
        identity: None,
        quarantine: state.quarantine.is_some() && publishing.is_some(),
        trace: session.is_some(),
        size,
        received,
    };
    let prepared = process::prepare(&state.config, &events.items, &bytes, request);
    // The messages are built: the parsed events and the slot can go before the
    // wait for Pub/Sub (freeing 10,000 parsed events is large work as well).
    offload(size, || drop(events));
    drop(heavy);
    let report = prepared.publish(&state.config, publishing, received).await;
    // A topic's publish queue had no room: nothing of the request was queued.
    if report.queue_full.is_some() {
        return Err(IngestError::PublishQueueFull);
    }
    if let Some(quarantine) = &state.quarantine {
        let bytes_of: usize = report.refused.iter().map(|r| r.text.len()).sum();
        offload(bytes_of, || {
            quarantine.publish(
                &state.config,
                state.publishing.batcher(),
                &report.refused,
                received_at,
                request.marks(),
            )
        });
    }
    // A validate-only request publishes nothing: it is no traffic of the pipeline.
    if publishing.is_some() {
        metrics::log_request(&report, preview);
    }
    Ok(Handled {
        body: bytes,
        report,
        session,
        backfill,
    })
}

/// The `Idempotency-Key` header: visible ASCII, at most
/// [`MAX_IDEMPOTENCY_KEY_BYTES`], else 400.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, IngestError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY_HEADER) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or(IngestError::BadIdempotencyKey)?;
    if key.len() > MAX_IDEMPOTENCY_KEY_BYTES {
        return Err(IngestError::BadIdempotencyKey);
    }
    Ok(Some(key))
}

/// The `X-Hermes-Backfill` header: `true` or `false` (any case), else 400.
fn backfill(headers: &HeaderMap) -> Result<bool, IngestError> {
    let Some(value) = headers.get(BACKFILL_HEADER) else {
        return Ok(false);
    };
    match value.to_str().map(str::trim) {
        Ok(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Ok(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(IngestError::BadBackfill),
    }
}

/// Parses the body into the array of events: 400 for empty or invalid JSON,
/// 422 for a non-array, 413 past `max_events` (found while parsing: the events
/// past the limit are never built). The events borrow the body's text.
pub fn parse_events(bytes: &[u8], max_events: usize) -> Result<Elements<'_>, IngestError> {
    use serde::de::IgnoredAny;
    let text = bytes.trim_ascii();
    let Some(first) = text.first() else {
        return Err(IngestError::EmptyBody);
    };
    let invalid = |e: serde_json::Error| IngestError::InvalidJson(e.to_string());
    if *first != b'[' {
        // Not an array: only its type matters, once the whole text is known to be JSON.
        let mut de = serde_json::Deserializer::from_slice(bytes);
        serde::Deserialize::deserialize(&mut de)
            .map(|_: IgnoredAny| ())
            .map_err(invalid)?;
        de.end().map_err(invalid)?;
        let actual = match first {
            b'{' => "object",
            b'"' => "string",
            b't' | b'f' => "boolean",
            b'n' => "null",
            _ => "number",
        };
        return Err(IngestError::NotArray(actual));
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(IngestError::InvalidJson(syntax_message(bytes, None)));
    };
    match hermes_core::json::parse_array(text, max_events) {
        Ok(events) => Ok(events),
        Err(ArrayError::TooMany(max)) => Err(IngestError::TooManyEvents { max }),
        Err(ArrayError::Syntax(e)) => {
            Err(IngestError::InvalidJson(syntax_message(bytes, Some(&e))))
        }
        Err(ArrayError::NotArray) => Err(IngestError::InvalidJson(syntax_message(bytes, None))),
    }
}

/// What is wrong with a body that is not JSON, with its line and column: in
/// serde_json's words (as clients have always read them), or ours where it
/// would take the text (a number past `f64`'s range, which we accept).
fn syntax_message(bytes: &[u8], ours: Option<&SyntaxError>) -> String {
    use serde::de::IgnoredAny;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let theirs = serde::Deserialize::deserialize(&mut de)
        .map(|_: IgnoredAny| ())
        .and_then(|()| de.end());
    match (theirs, ours) {
        (Err(e), None) => e.to_string(),
        (Err(e), Some(_)) if !e.to_string().starts_with("number out of range") => e.to_string(),
        (_, Some(ours)) => {
            let (line, column) = ours.line_column(bytes);
            format!("{} at line {line} column {column}", ours.what)
        }
        (Ok(()), None) => "invalid JSON".to_string(),
    }
}
