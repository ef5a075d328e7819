//! Reaching a Google Cloud REST API: the base URL and the `Authorization`
//! header, either Application Default Credentials through `gcp_auth` or an
//! emulator (plain HTTP, no Google auth).

use std::sync::Arc;
use std::time::Duration;

pub const SCOPE_CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
/// `gcp_auth` has no timeout of its own.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    #[error("no Google credentials found (Application Default Credentials): {0}")]
    NoCredentials(String),
    #[error("could not get an access token: {0}")]
    Token(String),
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
        match tokio::time::timeout(Duration::from_secs(10), gcp_auth::provider()).await {
            Ok(Ok(provider)) => Ok(Self::Google(provider)),
            Ok(Err(e)) => Err(AuthError::NoCredentials(e.to_string())),
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
                    .map_err(|e| AuthError::Token(e.to_string()))?;
                Ok(Some(format!("Bearer {}", token.as_str())))
            }
        }
    }
}

/// A REST endpoint and its auth.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Scheme and authority, no trailing slash: `https://pubsub.googleapis.com`.
    pub base: String,
    pub auth: Auth,
}

impl Endpoint {
    /// The emulator named by `var` (`host:port`, as Google's clients take it), if set.
    pub fn emulator_from_env(var: &str, auth: Auth) -> Option<Self> {
        let host = std::env::var(var).ok().filter(|h| !h.trim().is_empty())?;
        let host = host.trim().trim_end_matches('/');
        let base = if host.starts_with("http://") || host.starts_with("https://") {
            host.to_string()
        } else {
            format!("http://{host}")
        };
        Some(Self { base, auth })
    }

    /// The emulator when `var` is set, else Google's production host with ADC.
    pub async fn from_env(
        var: &str,
        production: &str,
        emulator_auth: Auth,
    ) -> Result<Self, AuthError> {
        match Self::emulator_from_env(var, emulator_auth) {
            Some(e) => Ok(e),
            None => Ok(Self {
                base: production.to_string(),
                auth: Auth::google().await?,
            }),
        }
    }
}

/// The `error` object of Google's JSON error bodies: `{ code, message, status }`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ApiError {
    #[serde(default)]
    pub code: u16,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub status: String,
}

impl ApiError {
    /// Parses a Google error body (also the list form some emulators send); falls back to the text.
    pub fn from_body(http_status: u16, body: &[u8]) -> Self {
        #[derive(serde::Deserialize)]
        struct Wrapper {
            error: ApiError,
        }
        // The list form first: serde would also read a one-element array as the struct.
        if let Ok(mut list) = serde_json::from_slice::<Vec<Wrapper>>(body) {
            if !list.is_empty() {
                return list.swap_remove(0).error;
            }
        }
        if let Ok(w) = serde_json::from_slice::<Wrapper>(body) {
            return w.error;
        }
        let text = String::from_utf8_lossy(body);
        Self {
            code: http_status,
            message: text.chars().take(300).collect(),
            status: String::new(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.status.is_empty(), self.message.is_empty()) {
            (false, false) => write!(f, "{}: {}", self.status, self.message),
            (false, true) => f.write_str(&self.status),
            _ => f.write_str(&self.message),
        }
    }
}

/// reqwest's top-level message hides the cause ("error sending request"): add the chain.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// One shared HTTP client (connection pool, rustls with the system roots).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(Duration::from_secs(90))
        .user_agent(concat!("hermes/", env!("CARGO_PKG_VERSION")))
        .build()
        // Building only fails when the TLS backend cannot start, which is a broken build.
        .unwrap_or_else(|_| reqwest::Client::new())
}
