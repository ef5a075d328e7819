//! Request-level failures and their HTTP mapping, in one place.

use axum::http::StatusCode;

/// Why a request was refused before its events were processed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IngestError {
    #[error("Body: The request body is larger than the limit of {max} bytes.")]
    TooLarge { max: usize },
    #[error("Body: The request holds more than the limit of {max} events.")]
    TooManyEvents { max: usize },
    #[error("Overloaded: The server is holding as many request bytes as it may. Retry later.")]
    Overloaded,
    #[error(
        "Overloaded: The server is holding as many messages for Pub/Sub as it may. Retry later."
    )]
    PublishQueueFull,
    #[error("Authorization: The authorization is invalid. Ensure you are including the correct authorization header in your request.")]
    Unauthorized,
    #[error("Authorization: X-Hermes-Backfill needs the production token.")]
    BackfillUnauthorized,
    #[error("X-Hermes-Backfill: The header must be \"true\" or \"false\".")]
    BadBackfill,
    #[error("Body: Content-Encoding \"{0}\" is not supported. Send gzip or identity.")]
    UnsupportedEncoding(String),
    #[error(
        "Idempotency-Key: The header must be 1 to {} visible ASCII characters.",
        crate::process::MAX_IDEMPOTENCY_KEY_BYTES
    )]
    BadIdempotencyKey,
    #[error("Body: The request body could not be read: {0}")]
    BodyRead(String),
    #[error("Body: The request body is not valid gzip: {0}")]
    BadGzip(String),
    #[error("Body: The request body is missing. Verify your request body is valid JSON.")]
    EmptyBody,
    #[error("Body: The request body is not valid JSON: {0}.")]
    InvalidJson(String),
    #[error("Body: The request body is not of type array. Instead received a type of \"{0}\". The sGTM client expects an array of event objects.")]
    NotArray(&'static str),
}

impl IngestError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::TooLarge { .. } | Self::TooManyEvents { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Overloaded | Self::PublishQueueFull => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unauthorized | Self::BackfillUnauthorized => StatusCode::UNAUTHORIZED,
            Self::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::BadIdempotencyKey
            | Self::BadBackfill
            | Self::BodyRead(_)
            | Self::BadGzip(_)
            | Self::EmptyBody
            | Self::InvalidJson(_) => StatusCode::BAD_REQUEST,
            Self::NotArray(_) => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}
