//! `POST /preview-traces`: the push target of the preview topic. Ingest, which
//! may only publish, sends each preview request's trace as a message there;
//! this job writes it to Firestore (`hermes_preview/{session}/…`), where the
//! dashboard reads it. A job on the push-job kit like counting itself, with the
//! same push authentication (`[counters] push_audience`, …).

use crate::settings::Settings;
use axum::Router;
use hermes_core::future::BoxFuture;
use hermes_core::preview::{RequestTrace, TraceSink};
use hermes_core::store::StoreError;
use hermes_push::{FailureClass, JobError, JobOutcome, OidcVerifier, PushJob, PushMessage};
use std::sync::Arc;

/// The route of the preview topic's push subscription.
pub const TRACES_PATH: &str = "/preview-traces";

/// Writes pushed traces to a store.
pub struct TraceWriter {
    sink: Arc<dyn TraceSink>,
    verifier: Option<OidcVerifier>,
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("not a preview trace: {0}")]
    NotATrace(#[source] serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl JobError for TraceError {
    /// As for counting: a message that is no trace never will be (dead-lettered);
    /// a store failure is retried.
    fn class(&self) -> FailureClass {
        match self {
            Self::NotATrace(_) => FailureClass::Poison,
            Self::Store(e) => e.into(),
        }
    }
}

/// A trace written.
pub struct Written;

impl JobOutcome for Written {
    fn as_str(&self) -> &'static str {
        "written"
    }
}

impl TraceWriter {
    /// Authenticates pushes as `[counters]` says (`push_audience`, …).
    pub fn new(settings: &Settings, sink: Arc<dyn TraceSink>) -> Self {
        Self {
            sink,
            verifier: settings.push.verifier(),
        }
    }

    async fn write(&self, message: &PushMessage) -> Result<Written, TraceError> {
        let trace: RequestTrace =
            serde_json::from_slice(&message.data).map_err(TraceError::NotATrace)?;
        self.sink.record(&trace).await?;
        Ok(Written)
    }
}

impl PushJob for TraceWriter {
    type Outcome = Written;
    type Error = TraceError;

    fn name(&self) -> &'static str {
        "preview_traces"
    }

    fn verifier(&self) -> Option<&OidcVerifier> {
        self.verifier.as_ref()
    }

    /// Every message on the preview topic is a preview request's trace.
    fn handles_preview(&self) -> bool {
        true
    }

    fn handle<'a>(
        &'a self,
        message: &'a PushMessage,
    ) -> BoxFuture<'a, Result<Written, TraceError>> {
        Box::pin(self.write(message))
    }
}

/// `POST /preview-traces`, served by the push-job kit (its envelope, body
/// limit, status table and log lines).
pub fn router(state: Arc<TraceWriter>) -> Router {
    Router::new().nest(TRACES_PATH, hermes_push::router(state))
}
