//! `hermes-enrich`: a Pub/Sub push target on the push-job kit that joins
//! Firestore documents, the device and the place into each event and
//! publishes the enriched event to an output topic (README, "The enrich
//! function"). A push is acknowledged only once its enriched copy is
//! published, so the output topic gets every event at least once, each copy
//! with the event's `hermes_event_id`.

pub mod device;
pub mod enriched;
pub mod lookup;
pub mod place;
pub mod settings;

use axum::Router;
use device::DeviceParser;
use hermes_core::config::ConfigError;
use hermes_core::destination::{LimitExceeded, Message, ATTR_EVENT_ID, ATTR_EVENT_NAME};
use hermes_core::error::report;
use hermes_core::field_path::FieldPath;
use hermes_core::future::BoxFuture;
use hermes_core::json::{self, Json};
use hermes_core::store::{DocumentReader, StoreError};
pub use hermes_gcp::StartupError;
use hermes_publish::{BatchError, Batcher, QueueFull};
use hermes_push::{FailureClass, JobError, JobOutcome, OidcVerifier, PushJob, PushMessage};
use lookup::{LookupError, Lookups};
use place::PlaceReader;
use serde_json::Value;
use settings::Settings;
use std::sync::Arc;
use tokio::time::Instant;

/// The attribute every enriched copy carries.
pub const ATTR_ENRICHED: &str = "hermes_enriched";

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The enriched copy is published.
    Enriched,
    /// Not one of `[enrich] events`: acknowledged, nothing published.
    Ignored,
}

impl JobOutcome for Outcome {
    fn as_str(&self) -> &'static str {
        match self {
            Outcome::Enriched => "enriched",
            Outcome::Ignored => "ignored",
        }
    }
}

/// Why a message was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    #[error("poison message: the payload is not JSON")]
    NotJson(#[source] Option<json::SyntaxError>),
    #[error("poison message: the payload is a JSON {0}, not an object")]
    NotAnObject(&'static str),
    #[error("poison message: a lookup's document is missing")]
    Missing(#[source] LookupError),
    #[error("the lookups' documents could not be read")]
    Store(#[source] StoreError),
    #[error("poison message: the enriched event is over Pub/Sub's limits")]
    TooLarge(#[source] LimitExceeded),
    #[error(transparent)]
    QueueFull(#[from] QueueFull),
    #[error("publishing the enriched event")]
    Publish(#[source] BatchError),
}

impl From<LookupError> for EnrichError {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::Store(s) => Self::Store(s),
            missing @ LookupError::Missing { .. } => Self::Missing(missing),
        }
    }
}

impl JobError for EnrichError {
    fn class(&self) -> FailureClass {
        match self {
            Self::NotJson(_) | Self::NotAnObject(_) | Self::Missing(_) | Self::TooLarge(_) => {
                FailureClass::Poison
            }
            // A read the store refused is no fault of the message: redelivered, then dead-lettered.
            Self::Store(StoreError::Transient(_)) | Self::QueueFull(_) => FailureClass::Transient,
            Self::Store(_) => FailureClass::Permanent,
            Self::Publish(BatchError::Publish(e)) if e.is_refused() => FailureClass::Permanent,
            Self::Publish(_) => FailureClass::Transient,
        }
    }
}

/// The enrich job; shared by the HTTP handler and `hermes dev`'s delivery loop.
pub struct Enrich {
    pub settings: Settings,
    lookups: Lookups,
    device: Option<DeviceParser>,
    place: Option<PlaceReader>,
    batcher: Batcher,
    verifier: Option<OidcVerifier>,
}

impl Enrich {
    /// `place` is the opened `[enrich.geo]` file (required when the section is there).
    pub fn new(
        settings: Settings,
        documents: Arc<dyn DocumentReader>,
        place: Option<PlaceReader>,
        batcher: Batcher,
    ) -> Self {
        Self {
            device: settings.user_agent.as_ref().map(|_| DeviceParser::new()),
            verifier: settings.push.verifier(),
            lookups: Lookups::new(documents),
            place,
            batcher,
            settings,
        }
    }

    /// Opens the `.mmdb` file `[enrich.geo] database_env` names, when geo is configured.
    pub fn place_from_env(settings: &Settings) -> Result<Option<PlaceReader>, ConfigError> {
        let Some(geo) = &settings.geo else {
            return Ok(None);
        };
        let path = std::env::var_os(&geo.database_env).unwrap_or_default();
        if path.is_empty() {
            return Err(ConfigError::invalid(
                &geo.database_env,
                "must hold the path of a MaxMind-format .mmdb file ([enrich.geo] is configured)",
            ));
        }
        PlaceReader::open(std::path::Path::new(&path))
            .map(Some)
            .map_err(|e| ConfigError::invalid(&geo.database_env, report(&e)))
    }

    /// Enriches one message and publishes the enriched copy.
    pub async fn enrich(&self, message: &PushMessage) -> Result<Outcome, EnrichError> {
        let name = message.attributes.get(ATTR_EVENT_NAME).map(String::as_str);
        if !self.settings.matches(name) {
            return Ok(Outcome::Ignored);
        }
        let text = std::str::from_utf8(&message.data).map_err(|_| EnrichError::NotJson(None))?;
        let event = json::parse(text).map_err(|e| EnrichError::NotJson(Some(e)))?;
        if !matches!(event, Json::Object(_)) {
            return Err(EnrichError::NotAnObject(event.type_name()));
        }
        let additions = self.additions(message, &event).await?;
        let (data, refused) = enriched::write(event, &additions);
        for key in refused {
            tracing::warn!(
                key,
                "enrichment skipped: a value on its path is not an object"
            );
        }
        let enriched = Message {
            data: data.into(),
            attributes: attributes(message),
        };
        enriched.check_limits().map_err(EnrichError::TooLarge)?;
        let tickets = self.batcher.submit(
            vec![(self.settings.output_topic.clone(), vec![enriched])],
            Instant::now(),
            self.settings.publish_deadline,
        )?;
        for ticket in tickets {
            ticket
                .outcome()
                .await
                .result
                .map_err(EnrichError::Publish)?;
        }
        Ok(Outcome::Enriched)
    }

    /// Every value the enrichments write, with its key.
    async fn additions<'s>(
        &'s self,
        message: &PushMessage,
        event: &Json<'_>,
    ) -> Result<Vec<(&'s FieldPath, Value)>, EnrichError> {
        let s = &self.settings;
        let mut out = Vec::new();
        if let (Some(key), Some(at)) = (&s.received_at, &message.publish_time) {
            out.push((key, Value::String(at.clone())));
        }
        for (i, value) in self.lookups.join(&s.lookups, event).await? {
            out.push((&s.lookups[i].into, value));
        }
        if let (Some(ua), Some(parser)) = (&s.user_agent, &self.device) {
            if let Some(text) = ua.from.lookup(event).and_then(Json::as_str) {
                out.push((&ua.into, parser.parse(&text).to_json()));
            }
        }
        if let (Some(geo), Some(reader)) = (&s.geo, &self.place) {
            if let Some(ip) = geo.from.lookup(event).and_then(Json::as_str) {
                if let Some(place) = reader.lookup(&ip) {
                    out.push((&geo.into, place.to_json()));
                }
            }
        }
        Ok(out)
    }

    /// Waits for the publishes under way (at shutdown).
    pub async fn drain(&self, timeout: std::time::Duration) -> bool {
        self.batcher.drain(timeout).await
    }
}

/// The input's attributes plus `hermes_enriched`, and the event's identity
/// when the input had none (its message id: the same on every redelivery),
/// so that the enriched topic's consumers can de-duplicate every copy.
fn attributes(message: &PushMessage) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = message
        .attributes
        .iter()
        .filter(|(k, _)| k.as_str() != ATTR_ENRICHED)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !message.attributes.contains_key(ATTR_EVENT_ID) {
        out.push((ATTR_EVENT_ID.to_string(), message.message_id.clone()));
    }
    out.push((ATTR_ENRICHED.to_string(), "true".to_string()));
    out.sort();
    out
}

impl PushJob for Enrich {
    type Outcome = Outcome;
    type Error = EnrichError;

    fn name(&self) -> &'static str {
        "enrich"
    }

    fn verifier(&self) -> Option<&OidcVerifier> {
        self.verifier.as_ref()
    }

    /// Preview messages are enriched too: their copies keep `hermes_preview`,
    /// so the jobs downstream treat them as previews.
    fn handles_preview(&self) -> bool {
        true
    }

    fn handle<'a>(
        &'a self,
        message: &'a PushMessage,
    ) -> BoxFuture<'a, Result<Outcome, EnrichError>> {
        Box::pin(self.enrich(message))
    }
}

/// `POST /` (the push endpoint) and `GET /healthz`, served by the push-job kit.
pub fn router(state: Arc<Enrich>) -> Router {
    hermes_push::router(state)
}
