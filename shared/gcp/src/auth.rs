//! How requests to Google are authorised: Application Default Credentials, or
//! an emulator's fixed token or none.
//!
//! With `GOOGLE_APPLICATION_CREDENTIALS`, Hermes reads the file itself and
//! takes its `type`: `service_account` (a key: `gcp_auth` signs the grant),
//! `authorized_user` (a refresh token) or `external_account` with an AWS source
//! (workload identity federation: `auth/external.rs`); anything else stops start-up
//! naming the file and the reason. Without it, `gcp_auth` finds gcloud's
//! credentials or the metadata server, as before.

mod error;
mod external;
mod refresh;
mod sigv4;
mod user;

pub use error::{AuthError, ENV_CREDENTIALS, SCOPE_CLOUD_PLATFORM};

use external::ExternalAccount;
use refresh::Refreshing;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use user::AuthorizedUser;

/// `gcp_auth` has no timeout of its own.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(5);
/// An external account's token takes up to six calls (AWS metadata, STS, IAM).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Finding credentials may ask the metadata server, which can hang off GCP.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// Google access tokens: through `gcp_auth` (a service-account key, gcloud's
/// credentials, the metadata server), or fetched and cached by Hermes.
#[derive(Clone)]
pub struct GoogleTokens(Arc<Provider>);

enum Provider {
    Adc(Arc<dyn gcp_auth::TokenProvider>),
    User(Refreshing<AuthorizedUser>),
    External(Box<Refreshing<ExternalAccount>>),
}

/// How requests are authorised.
#[derive(Clone)]
pub enum Auth {
    /// No header (Pub/Sub emulators).
    None,
    /// A fixed bearer token (`owner` for Firestore emulators).
    Static(String),
    /// Google OAuth2 access tokens, cached and refreshed.
    Google(GoogleTokens),
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
    /// Application Default Credentials; fails now, at start-up, when there are
    /// none or the file of `GOOGLE_APPLICATION_CREDENTIALS` cannot work.
    pub async fn google() -> Result<Self, AuthError> {
        if let Some(file) = std::env::var_os(ENV_CREDENTIALS).filter(|f| !f.is_empty()) {
            return Self::from_file(Path::new(&file));
        }
        match tokio::time::timeout(PROVIDER_TIMEOUT, gcp_auth::provider()).await {
            Ok(Ok(provider)) => Ok(Self::Google(GoogleTokens(Arc::new(Provider::Adc(
                provider,
            ))))),
            Ok(Err(e)) => Err(AuthError::NoCredentials(e)),
            Err(_) => Err(AuthError::Timeout),
        }
    }

    /// A credentials file (`service_account`, `authorized_user`,
    /// `external_account` with an AWS source), checked now; no network yet.
    pub fn from_file(file: &Path) -> Result<Self, AuthError> {
        let fail = |reason: String| AuthError::File {
            file: file.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(file).map_err(|e| fail(e.to_string()))?;
        #[derive(serde::Deserialize)]
        struct Kind {
            #[serde(rename = "type")]
            kind: Option<String>,
        }
        let kind = serde_json::from_str::<Kind>(&text)
            .map_err(|e| fail(format!("not a JSON credentials file: {e}")))?
            .kind
            .ok_or_else(|| fail("no \"type\"".into()))?;
        let typed = |reason: String| fail(format!("type {kind:?}: {reason}"));
        let provider = match kind.as_str() {
            "service_account" => Provider::Adc(Arc::new(
                gcp_auth::CustomServiceAccount::from_json(&text)
                    .map_err(|e| typed(hermes_core::error::report(&e)))?,
            )),
            "authorized_user" => Provider::User(Refreshing::new(
                serde_json::from_str::<AuthorizedUser>(&text).map_err(|e| typed(e.to_string()))?,
            )),
            "external_account" => Provider::External(Box::new(Refreshing::new(
                ExternalAccount::parse(&text).map_err(typed)?,
            ))),
            _ => {
                return Err(fail(format!(
                    "type {kind:?} is not supported (service_account, authorized_user, \
                     external_account with an AWS source)"
                )))
            }
        };
        Ok(Self::Google(GoogleTokens(Arc::new(provider))))
    }

    /// The `Authorization` header value, if any.
    pub async fn header(&self) -> Result<Option<String>, AuthError> {
        match self {
            Auth::None => Ok(None),
            Auth::Static(t) => Ok(Some(format!("Bearer {t}"))),
            Auth::Google(GoogleTokens(p)) => {
                let limit = match p.as_ref() {
                    Provider::Adc(_) => TOKEN_TIMEOUT,
                    Provider::User(_) | Provider::External(_) => EXCHANGE_TIMEOUT,
                };
                let token = tokio::time::timeout(limit, async {
                    match p.as_ref() {
                        Provider::Adc(p) => p
                            .token(&[SCOPE_CLOUD_PLATFORM])
                            .await
                            .map(|t| Arc::<str>::from(t.as_str()))
                            .map_err(AuthError::Token),
                        Provider::User(r) => r.token().await,
                        Provider::External(r) => r.token().await,
                    }
                })
                .await
                .map_err(|_| AuthError::Timeout)??;
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }
}
