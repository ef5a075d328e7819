//! The push-job kit: everything a Pub/Sub push target needs besides its own
//! work. A job implements [`PushJob`] (one `handle` over a decoded
//! [`PushMessage`], and the class of each of its errors); [`router`] serves it
//! with the OIDC check, the envelope, a body limit that fits any Pub/Sub
//! message, preview and backfill handling, the status table (2xx acks, 400
//! poison, 503 / 500 redeliver) and one bounded log line per message.
//! `hermes dev`'s delivery loop calls [`process`], the same path minus HTTP.

use crate::envelope::{PushError, PushMessage};
use crate::oidc::{AuthFailure, OidcVerifier};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hermes_core::destination::{
    ATTR_BACKFILL, ATTR_PREVIEW, MAX_ATTRIBUTES, MAX_ATTRIBUTE_KEY_BYTES,
    MAX_ATTRIBUTE_VALUE_BYTES, MAX_MESSAGE_BYTES,
};
use hermes_core::error::report;
use hermes_core::excerpt::preview;
use hermes_core::future::BoxFuture;
use hermes_core::store::StoreError;
use serde_json::json;
use std::sync::Arc;

/// Characters kept of an identifier (message id, subscription) in a log line.
pub const ID_PREVIEW_CHARS: usize = 128;
/// Characters kept of an error text quoting input, in a log line or an answer.
pub const ERROR_PREVIEW_CHARS: usize = 512;

/// The push body limit: the largest envelope Pub/Sub can push. `data` is the
/// whole message at worst, base64 (4 bytes per 3, padded: 13,981,016 bytes);
/// attributes count towards the message size but are sent as JSON strings,
/// where an escaped control character takes 6 bytes (100 × (256 + 1024) × 6 =
/// 768,000 bytes); 64 KiB more cover the ordering key (escaped), ids, times,
/// the subscription name, field names and the snake_case duplicates Google
/// sends: 14,814,552 bytes in all; beyond it, a JSON 413.
pub const PUSH_BODY_LIMIT: usize = MAX_MESSAGE_BYTES.div_ceil(3) * 4
    + MAX_ATTRIBUTES * (MAX_ATTRIBUTE_KEY_BYTES + MAX_ATTRIBUTE_VALUE_BYTES) * 6
    + 64 * 1024;

/// What a job's failure means to Pub/Sub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The message can never succeed: 400, and the dead-letter policy keeps it
    /// after its attempts. Logged once as an ERROR.
    Poison,
    /// Worth retrying later (a peer's 429 / 5xx / timeout): 503.
    Transient,
    /// Not the message's fault but not expected to pass by itself either: 500
    /// (Pub/Sub still redelivers, then dead-letters).
    Permanent,
}

impl FailureClass {
    pub fn status(self) -> StatusCode {
        match self {
            Self::Poison => StatusCode::BAD_REQUEST,
            Self::Transient => StatusCode::SERVICE_UNAVAILABLE,
            Self::Permanent => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// What a store's failure means to Pub/Sub, for every job that writes one:
/// a commit refused for its content never passes (poison), an outage is
/// retried later, anything else is redelivered and then dead-lettered.
impl From<&StoreError> for FailureClass {
    fn from(e: &StoreError) -> Self {
        match e {
            StoreError::Refused(_) => Self::Poison,
            StoreError::Transient(_) => Self::Transient,
            StoreError::Permanent(_) => Self::Permanent,
        }
    }
}

/// A job's error: any `thiserror` enum that knows its class.
pub trait JobError: std::error::Error + Send + Sync + 'static {
    fn class(&self) -> FailureClass;
}

/// What became of a message, for the answer and the log line.
pub trait JobOutcome: Send + 'static {
    /// A stable, short name (`applied`, `duplicate`, `delivered`, …).
    fn as_str(&self) -> &'static str;
}

/// What a job does with a backfill message (the `hermes_backfill` attribute:
/// old events sent again through ingest with `X-Hermes-Backfill: true`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Backfill {
    /// Handled like any other message (counters count them, enrich enriches them).
    #[default]
    Handle,
    /// Acknowledged unread (`skipped_backfill`): for a job whose effect only
    /// makes sense for a live event, such as a notification.
    Skip,
}

/// A push-triggered job.
pub trait PushJob: Send + Sync + 'static {
    type Outcome: JobOutcome;
    type Error: JobError;

    /// The job's name in log lines (`counters`, `notify`).
    fn name(&self) -> &'static str;

    /// With a verifier, every push must carry a valid Google-signed token.
    fn verifier(&self) -> Option<&OidcVerifier> {
        None
    }

    /// Whether messages published by preview requests are handled; otherwise
    /// they are acknowledged unread (`skipped_preview`).
    fn handles_preview(&self) -> bool {
        false
    }

    /// What becomes of backfill messages (README, "The push-job kit"):
    /// handled unless the job says otherwise.
    fn backfill(&self) -> Backfill {
        Backfill::Handle
    }

    /// The job's work on one message. Called again on every redelivery: a job
    /// with effects keeps a marker (see [`crate::marker_id`]).
    fn handle<'a>(
        &'a self,
        message: &'a PushMessage,
    ) -> BoxFuture<'a, Result<Self::Outcome, Self::Error>>;
}

/// A handled message, or a preview or backfill message skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processed<O> {
    Done(O),
    SkippedPreview,
    SkippedBackfill,
}

impl<O: JobOutcome> Processed<O> {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Done(o) => o.as_str(),
            Self::SkippedPreview => "skipped_preview",
            Self::SkippedBackfill => "skipped_backfill",
        }
    }
}

impl PushMessage {
    /// Published by a preview request (the `hermes_preview` attribute).
    pub fn is_preview(&self) -> bool {
        self.attributes
            .get(ATTR_PREVIEW)
            .is_some_and(|v| v == "true")
    }

    /// Published by a backfill request (the `hermes_backfill` attribute).
    pub fn is_backfill(&self) -> bool {
        self.attributes
            .get(ATTR_BACKFILL)
            .is_some_and(|v| v == "true")
    }
}

/// One message through a job, with the preview and backfill rules: the whole
/// path of a push once it is authenticated and decoded. The preview rule comes
/// first: a preview message a job does not handle is never handled, backfill
/// or not.
pub async fn process<J: PushJob + ?Sized>(
    job: &J,
    message: &PushMessage,
) -> Result<Processed<J::Outcome>, J::Error> {
    if message.is_preview() && !job.handles_preview() {
        return Ok(Processed::SkippedPreview);
    }
    if message.is_backfill() && job.backfill() == Backfill::Skip {
        return Ok(Processed::SkippedBackfill);
    }
    job.handle(message).await.map(Processed::Done)
}

/// Why a push was not acknowledged, before or inside the job.
#[derive(Debug, thiserror::Error)]
pub enum PushFailure<E> {
    /// The answer says why in one word (the failure's code); the log line,
    /// which renders the causes, gets the whole failure.
    #[error("unauthorized push: {}", .0.code())]
    Unauthorized(#[source] AuthFailure),
    #[error("push body over {limit} bytes")]
    TooLarge { limit: usize },
    #[error("push body could not be read")]
    Body(#[source] BytesRejection),
    #[error("bad push envelope: {0}")]
    Envelope(#[from] PushError),
    #[error(transparent)]
    Job(E),
}

impl<E: JobError> PushFailure<E> {
    /// The one status table of a push endpoint.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(f) if f.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            // The body broke off on the way: Pub/Sub sends it again.
            Self::Body(r) => r.status(),
            Self::Envelope(_) => StatusCode::BAD_REQUEST,
            Self::Job(e) => e.class().status(),
        }
    }
}

impl<E: JobError> IntoResponse for PushFailure<E> {
    fn into_response(self) -> Response {
        error_response(self.status(), &self)
    }
}

/// The JSON error answer of a push endpoint: `{"status":"error","error":…}`,
/// the error's own text cut to a short preview. Its causes (a store's or a
/// peer's own words) go to the log line only, never to the caller.
pub fn error_response(status: StatusCode, error: &dyn std::error::Error) -> Response {
    let error = preview(&error.to_string(), ERROR_PREVIEW_CHARS);
    (status, Json(json!({ "status": "error", "error": error }))).into_response()
}

/// `POST /` (the push endpoint, with [`PUSH_BODY_LIMIT`]) and `GET /healthz`.
pub fn router<J: PushJob>(job: Arc<J>) -> Router {
    Router::new()
        .route(
            "/",
            post(push::<J>).layer(DefaultBodyLimit::max(PUSH_BODY_LIMIT)),
        )
        .route("/healthz", get(|| async { "ok" }))
        .with_state(job)
}

async fn push<J: PushJob>(
    State(job): State<Arc<J>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut message_id = None;
    let result = async {
        if let Some(verifier) = job.verifier() {
            let auth = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            verifier
                .verify(auth)
                .await
                .map_err(PushFailure::Unauthorized)?;
        }
        let body = body.map_err(|r| match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => PushFailure::TooLarge {
                limit: PUSH_BODY_LIMIT,
            },
            _ => PushFailure::Body(r),
        })?;
        let message = PushMessage::parse(&body)?;
        message_id = Some(message.message_id.clone());
        let outcome = process(job.as_ref(), &message)
            .await
            .map_err(PushFailure::Job)?;
        Ok::<_, PushFailure<J::Error>>((message, outcome))
    }
    .await;
    let name = job.name();
    // `metric` (`counters_message`, …) and `outcome` feed Terraform's
    // log-based metrics (README, "Monitoring").
    let metric = format_args!("{name}_message");
    match result {
        Ok((message, outcome)) => {
            tracing::info!(
                metric = %metric,
                job = name,
                message_id = %preview(&message.message_id, ID_PREVIEW_CHARS),
                outcome = outcome.as_str(),
                delivery_attempt = message.delivery_attempt.unwrap_or(0),
                "message processed"
            );
            (
                StatusCode::OK,
                Json(json!({ "status": outcome.as_str(), "messageId": preview(&message.message_id, ID_PREVIEW_CHARS) })),
            )
                .into_response()
        }
        Err(e) => {
            let status = e.status();
            let id = match (&e, message_id.as_deref()) {
                (_, Some(id)) => id,
                (PushFailure::Envelope(PushError::BadBase64 { message_id, .. }), None) => {
                    message_id
                }
                _ => "",
            };
            let id = preview(id, ID_PREVIEW_CHARS);
            let error = preview(&report(&e), ERROR_PREVIEW_CHARS);
            match status {
                // One structured line per poison message: the dead-letter topic keeps the message itself.
                StatusCode::BAD_REQUEST => {
                    tracing::error!(metric = %metric, outcome = "poison", job = name, message_id = %id, error = %error, "poison message")
                }
                StatusCode::UNAUTHORIZED => {
                    tracing::warn!(job = name, error = %error, "push refused")
                }
                StatusCode::PAYLOAD_TOO_LARGE => {
                    tracing::error!(job = name, error = %error, "push body too large")
                }
                _ => {
                    tracing::warn!(metric = %metric, outcome = "retry", job = name, message_id = %id, error = %error, status = status.as_u16(), "message will be redelivered")
                }
            }
            e.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn the_body_limit_fits_a_full_message_in_its_envelope() {
        let data = MAX_MESSAGE_BYTES.div_ceil(3) * 4;
        assert!(PUSH_BODY_LIMIT > data + 768_000);
        // Roughly 14 MB: far above axum's 2 MiB default, far below the memory of an instance.
        assert!((14_000_000..15_000_000).contains(&PUSH_BODY_LIMIT));
        // The figure the README gives.
        assert_eq!(PUSH_BODY_LIMIT, 14_814_552);
    }

    /// A job that counts the messages it is handed, with the preview and
    /// backfill rules it is given.
    struct Job {
        preview: bool,
        backfill: Backfill,
        handled: AtomicUsize,
    }

    fn job(preview: bool, backfill: Backfill) -> Job {
        Job {
            preview,
            backfill,
            handled: AtomicUsize::new(0),
        }
    }

    /// A job that declares nothing: the trait's defaults.
    #[derive(Default)]
    struct Plain(AtomicUsize);

    #[derive(Debug, PartialEq)]
    struct Handled;

    impl JobOutcome for Handled {
        fn as_str(&self) -> &'static str {
            "handled"
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("never")]
    struct Never;

    impl JobError for Never {
        fn class(&self) -> FailureClass {
            FailureClass::Permanent
        }
    }

    impl PushJob for Job {
        type Outcome = Handled;
        type Error = Never;

        fn name(&self) -> &'static str {
            "test"
        }

        fn handles_preview(&self) -> bool {
            self.preview
        }

        fn backfill(&self) -> Backfill {
            self.backfill
        }

        fn handle<'a>(&'a self, _: &'a PushMessage) -> BoxFuture<'a, Result<Handled, Never>> {
            self.handled.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(Handled) })
        }
    }

    impl PushJob for Plain {
        type Outcome = Handled;
        type Error = Never;

        fn name(&self) -> &'static str {
            "plain"
        }

        fn handle<'a>(&'a self, _: &'a PushMessage) -> BoxFuture<'a, Result<Handled, Never>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(Handled) })
        }
    }

    fn message(attributes: &[(&str, &str)]) -> PushMessage {
        PushMessage {
            message_id: "m-1".into(),
            data: b"{}".to_vec(),
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
            publish_time: None,
            subscription: "projects/p/subscriptions/s".into(),
            delivery_attempt: None,
        }
    }

    const BACKFILL: (&str, &str) = (ATTR_BACKFILL, "true");
    const PREVIEW: (&str, &str) = (ATTR_PREVIEW, "true");

    #[test]
    fn a_backfill_message_is_the_attribute_set_to_true() {
        assert!(message(&[BACKFILL]).is_backfill());
        assert!(!message(&[]).is_backfill());
        assert!(!message(&[(ATTR_BACKFILL, "false")]).is_backfill());
        assert!(!message(&[(ATTR_BACKFILL, "")]).is_backfill());
        assert!(!message(&[PREVIEW]).is_backfill());
    }

    #[tokio::test]
    async fn backfill_messages_are_handled_unless_the_job_skips_them() {
        // The trait's default: handled like any other message.
        let plain = Plain::default();
        assert_eq!(plain.backfill(), Backfill::Handle);
        assert_eq!(
            process(&plain, &message(&[BACKFILL])).await.unwrap(),
            Processed::Done(Handled)
        );
        assert_eq!(plain.0.load(Ordering::SeqCst), 1);

        // Skip: acknowledged unread, with its own outcome.
        let skip = job(false, Backfill::Skip);
        let skipped = process(&skip, &message(&[BACKFILL])).await.unwrap();
        assert_eq!(skipped, Processed::SkippedBackfill);
        assert_eq!(skipped.as_str(), "skipped_backfill");
        assert_eq!(skip.handled.load(Ordering::SeqCst), 0);
        // A live message, or one whose attribute is not "true", is still handled.
        for live in [message(&[]), message(&[(ATTR_BACKFILL, "false")])] {
            assert_eq!(
                process(&skip, &live).await.unwrap(),
                Processed::Done(Handled)
            );
        }
        assert_eq!(skip.handled.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_preview_rule_comes_first() {
        let both = message(&[PREVIEW, BACKFILL]);
        // A preview the job does not handle is a skipped preview, whatever its backfill says.
        for backfill in [Backfill::Handle, Backfill::Skip] {
            let j = job(false, backfill);
            assert_eq!(process(&j, &both).await.unwrap(), Processed::SkippedPreview);
            assert_eq!(j.handled.load(Ordering::SeqCst), 0);
        }
        // A job that handles previews still skips a backfill one when it says so.
        let j = job(true, Backfill::Skip);
        assert_eq!(
            process(&j, &both).await.unwrap(),
            Processed::SkippedBackfill
        );
        let j = job(true, Backfill::Handle);
        assert_eq!(process(&j, &both).await.unwrap(), Processed::Done(Handled));
        assert_eq!(j.handled.load(Ordering::SeqCst), 1);
    }

    /// Through the router: a 200 whose status names the skip, the job untouched.
    #[tokio::test]
    async fn the_router_acknowledges_a_skipped_backfill_message() {
        use base64::Engine;
        let j = Arc::new(job(false, Backfill::Skip));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = router(j.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let envelope = |attributes: serde_json::Value| {
            json!({
                "message": {
                    "data": base64::engine::general_purpose::STANDARD.encode("{}"),
                    "attributes": attributes,
                    "messageId": "m-7",
                },
                "subscription": "projects/p/subscriptions/s",
            })
        };
        let post = |body: serde_json::Value| {
            let url = format!("{base}/");
            async move {
                let r = reqwest::Client::new()
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                (status, r.json::<serde_json::Value>().await.unwrap())
            }
        };
        let (status, body) = post(envelope(json!({ ATTR_BACKFILL: "true" }))).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("skipped_backfill")),
            "{body}"
        );
        assert_eq!(body["messageId"], "m-7");
        assert_eq!(j.handled.load(Ordering::SeqCst), 0);
        let (status, body) = post(envelope(json!({}))).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("handled")));
        assert_eq!(j.handled.load(Ordering::SeqCst), 1);
    }
}
