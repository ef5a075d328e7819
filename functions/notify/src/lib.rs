//! `hermes-notify`: a Pub/Sub push target that turns matching events into
//! webhook calls ("a customer just bought this!"), built on the push-job kit
//! of `hermes_push`. A webhook call is made at least once per event, and
//! exactly once unless the process dies between the webhook's answer and the
//! marker write (README, "The notify function").

pub mod settings;
pub mod template;
pub mod webhook;

use axum::http::HeaderValue;
use axum::Router;
use hermes_core::config::{Config, ConfigError, Section};
use hermes_core::destination::ATTR_EVENT_NAME;
use hermes_core::future::BoxFuture;
use hermes_core::store::{DocumentId, MarkerStore, StoreError};
pub use hermes_gcp::StartupError;
use hermes_push::{
    event_of, marker_id, origin, Backfill, FailureClass, JobError, JobOutcome, OidcVerifier,
    PushJob, PushMessage,
};
use serde_json::{json, Value};
use settings::{BodyKind, Settings};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use webhook::{UrlError, Webhook, WebhookError, WebhookUrl};

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The webhook took it (this status) and the marker is written.
    Delivered(u16),
    /// The marker says the webhook already took this event.
    Duplicate,
    /// Not one of `[notify] events`.
    Ignored,
}

impl JobOutcome for Outcome {
    fn as_str(&self) -> &'static str {
        match self {
            Outcome::Delivered(_) => "delivered",
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
        }
    }
}

/// Why a message was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("poison message: the payload is not JSON")]
    NotJson(#[source] serde_json::Error),
    /// Not reached for a percent-encoded key (visible ASCII only); kept so that
    /// a header that cannot be built is poison rather than a panic.
    #[error("poison message: its event id cannot be sent as an Idempotency-Key header")]
    BadKey,
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    #[error("the same event is being delivered right now: retry later")]
    InFlight,
    #[error("the marker store")]
    Store(#[from] StoreError),
}

impl JobError for NotifyError {
    fn class(&self) -> FailureClass {
        match self {
            Self::NotJson(_) | Self::BadKey | Self::Webhook(WebhookError::Refused(_)) => {
                FailureClass::Poison
            }
            Self::Webhook(WebhookError::Unavailable(_) | WebhookError::Unreachable(_))
            | Self::InFlight => FailureClass::Transient,
            // Markers are never refused for their content; were one, retrying is the safe side.
            Self::Webhook(WebhookError::Unexpected(_)) | Self::Store(StoreError::Refused(_)) => {
                FailureClass::Permanent
            }
            Self::Store(e) => e.into(),
        }
    }
}

/// The notify job over a webhook and a marker store; shared by the HTTP
/// handler and `hermes dev`'s delivery loop.
pub struct Notify {
    pub settings: Settings,
    webhook: Webhook,
    markers: Arc<dyn MarkerStore>,
    verifier: Option<OidcVerifier>,
    /// Markers of the events being delivered by this process: an overlapping
    /// redelivery (a slow webhook past the ack deadline) waits for the first.
    in_flight: Mutex<HashSet<DocumentId>>,
}

impl Notify {
    pub fn new(settings: Settings, url: WebhookUrl, markers: Arc<dyn MarkerStore>) -> Self {
        let verifier = settings.push.verifier();
        Self {
            webhook: Webhook::new(url, settings.timeout),
            settings,
            markers,
            verifier,
            in_flight: Mutex::new(HashSet::new()),
        }
    }

    /// `[notify]` of the shared configuration; `None` when the section is absent.
    pub fn settings_from(config: &Config) -> Result<Option<Settings>, ConfigError> {
        if config.section(Section::Notify).is_empty() {
            return Ok(None);
        }
        Settings::parse(config.section(Section::Notify)).map(Some)
    }

    /// The webhook URL from the variable `[notify] webhook_url_env` names.
    pub fn url_from_env(settings: &Settings) -> Result<WebhookUrl, ConfigError> {
        let text = std::env::var(&settings.webhook_url_env).unwrap_or_default();
        WebhookUrl::parse(&text)
            .map_err(|e: UrlError| ConfigError::invalid(&settings.webhook_url_env, e.to_string()))
    }

    /// Notifies for one message, at most once per event and subscription
    /// unless the process dies between the webhook's answer and the marker.
    pub async fn notify(&self, message: &PushMessage) -> Result<Outcome, NotifyError> {
        let name = message.attributes.get(ATTR_EVENT_NAME).map(String::as_str);
        if !self.settings.matches(name) {
            return Ok(Outcome::Ignored);
        }
        let payload: Value = serde_json::from_slice(&message.data).map_err(NotifyError::NotJson)?;
        let event = event_of(message);
        let key = HeaderValue::from_str(&idempotency_key(event.as_str()))
            .map_err(|_| NotifyError::BadKey)?;
        let marker = origin(message, 0);
        let id = marker_id(&marker);
        if self.markers.exists(&id).await? {
            return Ok(Outcome::Duplicate);
        }
        let _guard = InFlight::claim(&self.in_flight, &id).ok_or(NotifyError::InFlight)?;
        let body = match &self.settings.body {
            BodyKind::Slack(template) => json!({ "text": template.render(&payload) }).to_string(),
            BodyKind::Json => payload.to_string(),
        };
        let status = self.webhook.send(key, body.into_bytes()).await?;
        let expire_at = SystemTime::now() + self.settings.marker_ttl;
        self.markers.put(&id, &marker, expire_at).await?;
        Ok(Outcome::Delivered(status))
    }
}

/// A claim on an event's marker for the duration of one delivery.
struct InFlight<'a> {
    set: &'a Mutex<HashSet<DocumentId>>,
    id: DocumentId,
}

impl<'a> InFlight<'a> {
    fn claim(set: &'a Mutex<HashSet<DocumentId>>, id: &DocumentId) -> Option<Self> {
        // A poisoned lock only means another delivery panicked: the set is still usable.
        let mut held = set.lock().unwrap_or_else(|p| p.into_inner());
        held.insert(id.clone()).then(|| Self {
            set,
            id: id.clone(),
        })
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut held = self.set.lock().unwrap_or_else(|p| p.into_inner());
        held.remove(&self.id);
    }
}

impl PushJob for Notify {
    type Outcome = Outcome;
    type Error = NotifyError;

    fn name(&self) -> &'static str {
        "notify"
    }

    fn verifier(&self) -> Option<&OidcVerifier> {
        self.verifier.as_ref()
    }

    fn handles_preview(&self) -> bool {
        self.settings.notify_preview
    }

    fn backfill(&self) -> Backfill {
        self.settings.backfill
    }

    fn handle<'a>(
        &'a self,
        message: &'a PushMessage,
    ) -> BoxFuture<'a, Result<Outcome, NotifyError>> {
        Box::pin(self.notify(message))
    }
}

/// `POST /` (the push endpoint) and `GET /healthz`, served by the push-job kit.
pub fn router(state: Arc<Notify>) -> Router {
    hermes_push::router(state)
}

#[cfg(test)]
mod tests;

/// The event's identity as an `Idempotency-Key` value: as it is when it is
/// visible ASCII, else percent-encoded (its UTF-8 bytes), so that every
/// receiver reads the same key and the same event always gives the same one.
pub fn idempotency_key(event_id: &str) -> String {
    use std::fmt::Write as _;
    let mut key = String::with_capacity(event_id.len());
    for b in event_id.bytes() {
        if b.is_ascii_graphic() && b != b'%' {
            key.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(key, "%{b:02X}");
        }
    }
    key
}
