//! The Google-signed OIDC token Pub/Sub puts on push requests
//! (`Authorization: Bearer <JWT>`), checked against Google's JWKS: a job's
//! settings ([`PushAuth`], here), the token (`token`), the key cache
//! (`jwks`) and the check (`verifier`).
//!
//! Keys are fetched over HTTP and cached for the `Cache-Control: max-age` Google
//! sends (1 h when it sends none). A token whose `kid` is unknown triggers one
//! refetch (key rotation), at most once per `min_refetch_interval` (30 s), so bad
//! tokens cannot make us hammer Google. Concurrent requests share one fetch.
//! When Google cannot be reached, keys past their `max-age` keep being used for a
//! day; with no usable key the result is [`AuthFailure::JwksUnavailable`]: "we could
//! not check" (503, Pub/Sub retries), not "the token is bad" (401).

mod jwks;
mod token;
mod verifier;

pub use token::{token_shape, AuthFailure, Claims};
pub use verifier::OidcVerifier;

use hermes_core::config::{non_empty, ConfigError};

/// Google's OAuth2 signing keys, as a JWKS.
pub const GOOGLE_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";
/// The `iss` values of Google-signed ID tokens.
pub const GOOGLE_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];

/// A push job's authentication keys (`push_audience`, `push_service_account`,
/// `jwks_url` of its section), parsed once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushAuth {
    pub audience: Option<String>,
    pub service_account: Option<String>,
    pub jwks_url: String,
}

impl PushAuth {
    /// Checks the three keys of `[section]`: non-empty values, an e-mail for the
    /// account (only with an audience: tokens are checked only then), an
    /// http(s) JWKS URL (Google's by default).
    pub fn parse(
        section: &str,
        audience: Option<String>,
        service_account: Option<String>,
        jwks_url: Option<String>,
    ) -> Result<Self, ConfigError> {
        let non_empty = |key: &str, v| non_empty(format!("{section}.{key}"), v);
        let audience = audience
            .map(|v| non_empty("push_audience", v))
            .transpose()?;
        let service_account = service_account
            .map(|v| non_empty("push_service_account", v))
            .transpose()?;
        if service_account.as_ref().is_some_and(|v| !v.contains('@')) {
            return Err(ConfigError::invalid(
                format!("{section}.push_service_account"),
                "must be a service account email",
            ));
        }
        if service_account.is_some() && audience.is_none() {
            return Err(ConfigError::invalid(
                format!("{section}.push_service_account"),
                format!(
                    "needs {section}.push_audience (tokens are only checked when an audience is set)"
                ),
            ));
        }
        let jwks_url = match jwks_url {
            Some(v) if !(v.starts_with("https://") || v.starts_with("http://")) => {
                return Err(ConfigError::invalid(
                    format!("{section}.jwks_url"),
                    "must be an http(s) URL",
                ))
            }
            Some(v) => v,
            None => GOOGLE_JWKS_URL.to_string(),
        };
        Ok(Self {
            audience,
            service_account,
            jwks_url,
        })
    }

    /// Push authentication off: every push is accepted (the emulator sends no token).
    pub fn off() -> Self {
        Self {
            audience: None,
            service_account: None,
            jwks_url: GOOGLE_JWKS_URL.to_string(),
        }
    }

    /// Tokens for `audience` from any Google service account, checked against Google's keys.
    pub fn audience(audience: impl Into<String>) -> Self {
        Self {
            audience: Some(audience.into()),
            ..Self::off()
        }
    }

    /// Only tokens of this service account.
    pub fn with_service_account(mut self, email: impl Into<String>) -> Self {
        self.service_account = Some(email.into());
        self
    }

    /// Keys from this JWKS instead of Google's (a local server in tests).
    pub fn with_jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = url.into();
        self
    }

    /// Whether pushes are authenticated at all.
    pub fn is_on(&self) -> bool {
        self.audience.is_some()
    }

    /// The verifier these settings ask for; `None` when authentication is off.
    pub fn verifier(&self) -> Option<OidcVerifier> {
        self.is_on().then(|| OidcVerifier::new(self.clone()))
    }
}

impl Default for PushAuth {
    fn default() -> Self {
        Self::off()
    }
}
