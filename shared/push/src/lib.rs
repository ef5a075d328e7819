//! `hermes-push`: the push-job kit that counters, notify and any other Pub/Sub
//! push target are built on — the envelope (`envelope`), the Google-signed
//! OIDC token that authenticates it (`oidc`: settings, token, key cache,
//! verifier), event identity and marker ids (`identity`), and the job trait
//! with the router that serves it (`job`).

mod envelope;
mod identity;
mod job;
mod oidc;

pub use envelope::{decode_base64_lenient, PushError, PushMessage};
pub use identity::{event_of, marker_id, origin};
pub use job::{
    error_response, process, router, Backfill, FailureClass, JobError, JobOutcome, Processed,
    PushFailure, PushJob, ERROR_PREVIEW_CHARS, ID_PREVIEW_CHARS, PUSH_BODY_LIMIT,
};
pub use oidc::{
    token_shape, AuthFailure, Claims, OidcVerifier, PushAuth, GOOGLE_ISSUERS, GOOGLE_JWKS_URL,
};
