//! `hermes-counters`: the Pub/Sub push target. Each pushed message's items
//! become counters (`counter`, `revenue`, `profit`) in the store, exactly once
//! per event and subscription (see [`marker`]), enriched from the product catalog.

pub mod catalog;
pub mod items;
pub mod marker;
pub mod settings;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use catalog::CatalogCache;
pub use hermes_core::config::StartupError;
use hermes_core::config::{Config, ConfigError};
use hermes_core::error::report;
use hermes_core::hermes::ATTR_PREVIEW;
use hermes_core::push::{AuthFailure, OidcConfig, OidcVerifier, PushError, PushMessage};
use hermes_core::store::{Applied, CounterCommit, CounterStore, DocumentId, StoreError};
use items::Poison;
use serde_json::json;
use settings::Settings;
use std::sync::Arc;
use std::time::SystemTime;

/// Firestore allows 500 writes per commit; one is the marker.
pub const MAX_ITEMS_PER_COMMIT: usize = 499;

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Counted: `items` distinct items in `parts` commits (some parts may have been duplicates).
    Applied { items: usize, parts: usize },
    /// Already counted: nothing changed.
    Duplicate,
    /// A preview message, not counted (`count_preview = false`).
    SkippedPreview,
    /// No items: nothing to count.
    Empty,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied { .. } => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::SkippedPreview => "skipped_preview",
            Outcome::Empty => "empty",
        }
    }
}

/// Why a push was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum CountersError {
    #[error("unauthorized push: {0}")]
    Unauthorized(AuthFailure),
    #[error("bad push envelope: {0}")]
    Envelope(#[from] PushError),
    #[error("poison message: {0}")]
    Poison(#[from] Poison),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CountersError {
    /// The one status table of the push endpoint. 400 is for messages that can
    /// never succeed: Pub/Sub retries them, then dead-letters them. 503 asks for
    /// a redelivery later.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(f) if f.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Envelope(_) | Self::Poison(_) => StatusCode::BAD_REQUEST,
            Self::Store(StoreError::Transient(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(StoreError::Permanent(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for CountersError {
    fn into_response(self) -> Response {
        // The caller learns the class of the problem; the detail (the store's
        // own error, what the token should have held) goes to the log only.
        let error = match &self {
            Self::Unauthorized(f) => format!("unauthorized push: {}", f.code()),
            Self::Store(e) => e.to_string(),
            Self::Envelope(_) | Self::Poison(_) => report(&self),
        };
        (
            self.status(),
            Json(json!({ "status": "error", "error": error })),
        )
            .into_response()
    }
}

/// The counting logic over a store; shared by the HTTP handler and `hermes dev`'s delivery loop.
pub struct Counters {
    pub settings: Settings,
    store: Arc<dyn CounterStore>,
    catalog: CatalogCache,
    verifier: Option<OidcVerifier>,
}

impl Counters {
    pub fn new(settings: Settings, store: Arc<dyn CounterStore>) -> Self {
        let verifier = settings.push_audience.as_ref().map(|audience| {
            OidcVerifier::new(OidcConfig {
                audience: audience.clone(),
                service_account_email: settings.push_service_account.clone(),
                jwks_url: settings.jwks_url.clone(),
            })
        });
        Self {
            catalog: CatalogCache::new(settings.catalog_ttl),
            settings,
            store,
            verifier,
        }
    }

    /// `[counters]` of the shared configuration.
    pub fn settings_from(config: &Config) -> Result<Settings, ConfigError> {
        Settings::parse(&config.counters)
    }

    pub fn store(&self) -> &Arc<dyn CounterStore> {
        &self.store
    }

    /// Counts one message, exactly once per event and subscription.
    pub async fn count(&self, message: &PushMessage) -> Result<Outcome, CountersError> {
        let preview = message
            .attributes
            .get(ATTR_PREVIEW)
            .is_some_and(|v| v == "true");
        if preview && !self.settings.count_preview {
            return Ok(Outcome::SkippedPreview);
        }
        let items = items::parse(&message.data)?;
        if items.is_empty() {
            return Ok(Outcome::Empty);
        }
        let ids: Vec<DocumentId> = items.iter().map(|i| i.item_id.clone()).collect();
        let catalog = self.catalog.get(self.store.as_ref(), &ids).await?;
        let updates = items::aggregate(&items, &catalog);
        let distinct = updates.len();
        let shard =
            (self.settings.shards > 1).then(|| shard_of(&message.message_id, self.settings.shards));
        let expire_at = SystemTime::now() + self.settings.marker_ttl;
        // `aggregate` keeps the order of first appearance, so a redelivery
        // splits into the same parts.
        let parts: Vec<_> = updates.chunks(MAX_ITEMS_PER_COMMIT).collect();
        let mut applied = 0;
        for (i, part) in parts.iter().enumerate() {
            // Each part has its own marker (the part number is always hashed,
            // 0 for an unsplit message), so each part counts exactly once even
            // if another part failed.
            let origin = marker::origin(message, i as u64);
            let commit = CounterCommit {
                marker_id: marker::marker_id(&origin),
                marker: origin,
                shard,
                items: part.to_vec(),
                expire_at,
            };
            if self.store.apply(&commit).await? == Applied::Applied {
                applied += 1;
            }
        }
        Ok(if applied == 0 {
            Outcome::Duplicate
        } else {
            Outcome::Applied {
                items: distinct,
                parts: parts.len(),
            }
        })
    }
}

/// The shard of a message: stable (FNV-1a of the id), so a redelivery hits the same shard.
pub fn shard_of(message_id: &str, shards: u32) -> u32 {
    let hash = message_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % u64::from(shards.max(1))) as u32
}

/// `POST /` (the push endpoint) and `GET /healthz`.
pub fn router(state: Arc<Counters>) -> Router {
    Router::new()
        .route("/", post(push))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}

async fn push(State(counters): State<Arc<Counters>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut message_id = None;
    let result = async {
        if let Some(verifier) = &counters.verifier {
            let auth = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            verifier
                .verify(auth)
                .await
                .map_err(CountersError::Unauthorized)?;
        }
        let message = PushMessage::parse(&body)?;
        message_id = Some(message.message_id.clone());
        let outcome = counters.count(&message).await?;
        Ok::<_, CountersError>((message, outcome))
    }
    .await;
    match result {
        Ok((message, outcome)) => {
            tracing::info!(
                message_id = %message.message_id,
                outcome = outcome.as_str(),
                delivery_attempt = message.delivery_attempt.unwrap_or(0),
                "message processed"
            );
            (
                StatusCode::OK,
                Json(json!({ "status": outcome.as_str(), "messageId": message.message_id })),
            )
                .into_response()
        }
        Err(e) => {
            let status = e.status();
            let id = match (&e, message_id.as_deref()) {
                (_, Some(id)) => id,
                (CountersError::Envelope(PushError::BadBase64 { message_id, .. }), None) => {
                    message_id
                }
                _ => "",
            };
            let error = report(&e);
            match status {
                // One structured line per poison message: the dead-letter topic keeps the message itself.
                StatusCode::BAD_REQUEST => {
                    tracing::error!(message_id = id, error = %error, "poison message")
                }
                StatusCode::UNAUTHORIZED => tracing::warn!(error = %error, "push refused"),
                _ => {
                    tracing::warn!(message_id = id, error = %error, status = status.as_u16(), "message will be redelivered")
                }
            }
            e.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn shards_are_stable_and_in_range() {
        for id in ["1", "2", "abc", ""] {
            let s = super::shard_of(id, 4);
            assert!(s < 4);
            assert_eq!(s, super::shard_of(id, 4));
        }
        assert_eq!(super::shard_of("x", 1), 0);
    }
}
