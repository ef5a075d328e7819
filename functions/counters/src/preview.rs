//! `POST /preview-traces`: the push target of the preview topic. Ingest, which
//! may only publish, sends each preview request's trace as a message there;
//! this route writes it to Firestore (`hermes_preview/{session}/…`), where the
//! dashboard reads it. Same push authentication as `POST /`.

use crate::settings::Settings;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use hermes_core::error::report;
use hermes_core::preview::{RequestTrace, TraceSink};
use hermes_core::push::{AuthFailure, OidcConfig, OidcVerifier, PushError, PushMessage};
use hermes_core::store::StoreError;
use serde_json::json;
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
    #[error("unauthorized push: {0}")]
    Unauthorized(AuthFailure),
    #[error("bad push envelope: {0}")]
    Envelope(#[from] PushError),
    #[error("poison message: not a preview trace: {0}")]
    NotATrace(#[source] serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TraceError {
    /// As for counting: 400 never succeeds (dead-lettered), 503 is retried.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(f) if f.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Envelope(_) | Self::NotATrace(_) => StatusCode::BAD_REQUEST,
            Self::Store(StoreError::Transient(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(StoreError::Permanent(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for TraceError {
    fn into_response(self) -> Response {
        let status = self.status();
        let error = report(&self);
        tracing::warn!(status = status.as_u16(), error = %error, "preview trace not written");
        (status, Json(json!({ "status": "error", "error": error }))).into_response()
    }
}

impl TraceWriter {
    /// Authenticates pushes as `[counters]` says (`push_audience`, …).
    pub fn new(settings: &Settings, sink: Arc<dyn TraceSink>) -> Self {
        let verifier = settings.push_audience.as_ref().map(|audience| {
            OidcVerifier::new(OidcConfig {
                audience: audience.clone(),
                service_account_email: settings.push_service_account.clone(),
                jwks_url: settings.jwks_url.clone(),
            })
        });
        Self { sink, verifier }
    }
}

pub fn router(state: Arc<TraceWriter>) -> Router {
    Router::new()
        .route(TRACES_PATH, post(push))
        .with_state(state)
}

async fn push(
    State(writer): State<Arc<TraceWriter>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, TraceError> {
    if let Some(verifier) = &writer.verifier {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        verifier
            .verify(auth)
            .await
            .map_err(TraceError::Unauthorized)?;
    }
    let message = PushMessage::parse(&body)?;
    let trace: RequestTrace =
        serde_json::from_slice(&message.data).map_err(TraceError::NotATrace)?;
    writer.sink.record(&trace).await?;
    tracing::info!(message_id = %message.message_id, "preview trace written");
    Ok((
        StatusCode::OK,
        Json(json!({ "status": "written", "messageId": message.message_id })),
    )
        .into_response())
}
