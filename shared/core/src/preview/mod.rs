//! The preview inspector's shared pieces (README, "Preview inspector"): the
//! session value a client pastes into `X-Gtm-Server-Preview`, the session id
//! derived from it, the trace of one request, and the seams that carry traces
//! from ingest to whatever stores them ([`TraceSink`]) and back to the
//! dashboard ([`TraceReader`]).
//!
//! Sessions are stateless, so that ingest needs no store it could read (it
//! keeps publisher-only rights): the value `hp1-<expiry>-<64 hex>` carries its
//! own expiry and 256 random bits; ingest traces an authorized preview request
//! whose value is well formed and not expired, under the session id
//! `SHA-256("hermes preview session\n" ‖ value)`. The dashboard derives the same
//! id from the value it handed out; whoever lacks the value cannot find the id.

mod session;
mod trace;

pub use session::{SessionId, SessionValue, SESSION_PREFIX};
pub use trace::{
    fit, mask_user_data, DestinationTrace, EventTrace, RequestTrace, MASK, MAX_TRACED_EVENTS,
    MAX_TRACE_BYTES,
};

use crate::config::error::ConfigError;
use crate::destination::{Message, PublishError, Publisher, TopicName};
use crate::future::BoxFuture;
use crate::store::StoreError;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// The header that marks a preview request and names its session.
pub const PREVIEW_HEADER: &str = "x-gtm-server-preview";
/// Parent collection of the traces: `hermes_preview/{session}`.
pub const PREVIEW_COLLECTION: &str = "hermes_preview";
/// The traces of a session: `hermes_preview/{session}/hermes_preview_requests/{id}`,
/// each with `expireAt` for Firestore's TTL policy. A name of its own, so the
/// TTL policy on it can never touch another collection.
pub const REQUESTS_COLLECTION: &str = "hermes_preview_requests";
/// The attribute of a trace message naming its session.
pub const ATTR_SESSION: &str = "hermes_preview_session";
/// The newest requests of a session the inspector shows.
pub const LIST_LIMIT: usize = 50;
/// Default session and trace lifetime.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// The bounds of `[preview] ttl_secs`: a minute to a day.
pub const TTL_SECS: std::ops::RangeInclusive<u64> = 60..=86_400;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPreview {
    topic: Option<String>,
    ttl_secs: Option<u64>,
}

/// `[preview]` of the shared configuration, read by every function.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewSettings {
    /// Where ingest publishes traces on Google Cloud; `None`: ingest traces
    /// nothing (under `hermes dev` traces go to SQLite instead).
    pub topic: Option<TopicName>,
    /// How long a session traces requests, and how long each trace is kept.
    pub ttl: Duration,
}

impl Default for PreviewSettings {
    fn default() -> Self {
        Self {
            topic: None,
            ttl: DEFAULT_TTL,
        }
    }
}

impl PreviewSettings {
    pub(crate) fn parse(raw: RawPreview, project: Option<&str>) -> Result<Self, ConfigError> {
        let mut s = Self::default();
        if let Some(topic) = raw.topic {
            s.topic = Some(
                TopicName::parse(&topic, project)
                    .map_err(|e| ConfigError::invalid("preview.topic", e.to_string()))?,
            );
        }
        if let Some(secs) = raw.ttl_secs {
            if !TTL_SECS.contains(&secs) {
                return Err(ConfigError::invalid(
                    "preview.ttl_secs",
                    format!("must be from {} to {}", TTL_SECS.start(), TTL_SECS.end()),
                ));
            }
            s.ttl = Duration::from_secs(secs);
        }
        Ok(s)
    }
}

/// Where traces go: a Pub/Sub topic (ingest on Google Cloud), Firestore (the
/// counters' trace route), SQLite (`hermes dev`).
pub trait TraceSink: Send + Sync + 'static {
    fn record<'a>(&'a self, trace: &'a RequestTrace) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// Where the dashboard reads traces: the newest `limit` unexpired traces of a
/// session, newest first.
pub trait TraceReader: Send + Sync + 'static {
    fn traces<'a>(
        &'a self,
        session: &'a SessionId,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<RequestTrace>, StoreError>>;
}

/// Ingest's sink on Google Cloud: each trace is one message on the preview
/// topic, pushed to the counters' trace route, which writes Firestore.
pub struct PublishTraces {
    pub publisher: Arc<dyn Publisher>,
    pub topic: TopicName,
}

impl TraceSink for PublishTraces {
    fn record<'a>(&'a self, trace: &'a RequestTrace) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let data = serde_json::to_vec(trace).map_err(StoreError::permanent)?;
            let message = Message {
                data: data.into(),
                attributes: vec![(ATTR_SESSION.to_string(), trace.session.to_string())],
            };
            self.publisher
                .publish(&self.topic, std::slice::from_ref(&message))
                .await
                .map(|_| ())
                .map_err(|e: PublishError| StoreError::transient(e))
        })
    }
}
