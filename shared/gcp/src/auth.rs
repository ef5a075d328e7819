//! How requests to Google are authorised: Application Default Credentials
//! through `gcp_auth`, or an emulator's fixed token or none.

use std::sync::Arc;
use std::time::Duration;

pub const SCOPE_CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
/// `gcp_auth` has no timeout of its own.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(5);
/// Finding credentials may ask the metadata server, which can hang off GCP.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no Google credentials found (Application Default Credentials)")]
    NoCredentials(#[source] gcp_auth::Error),
    #[error("could not get an access token")]
    Token(#[source] gcp_auth::Error),
    #[error("timed out getting an access token")]
    Timeout,
}

/// How requests are authorised.
#[derive(Clone)]
pub enum Auth {
    /// No header (Pub/Sub emulators).
    None,
    /// A fixed bearer token (`owner` for Firestore emulators).
    Static(String),
    /// Google OAuth2 access tokens, cached and refreshed by `gcp_auth`.
    Google(Arc<dyn gcp_auth::TokenProvider>),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::None => "Auth::None",
            Auth::Static(_) => "Auth::Static",
            Auth::Google(_) => "Auth::Google",
        })
    }
}

impl Auth {
    /// Application Default Credentials; fails now, at start-up, when there are none.
    pub async fn google() -> Result<Self, AuthError> {
        match tokio::time::timeout(PROVIDER_TIMEOUT, gcp_auth::provider()).await {
            Ok(Ok(provider)) => Ok(Self::Google(provider)),
            Ok(Err(e)) => Err(AuthError::NoCredentials(e)),
            Err(_) => Err(AuthError::Timeout),
        }
    }

    /// The `Authorization` header value, if any.
    pub async fn header(&self) -> Result<Option<String>, AuthError> {
        match self {
            Auth::None => Ok(None),
            Auth::Static(t) => Ok(Some(format!("Bearer {t}"))),
            Auth::Google(p) => {
                let token = tokio::time::timeout(TOKEN_TIMEOUT, p.token(&[SCOPE_CLOUD_PLATFORM]))
                    .await
                    .map_err(|_| AuthError::Timeout)?
                    .map_err(AuthError::Token)?;
                Ok(Some(format!("Bearer {}", token.as_str())))
            }
        }
    }
}
