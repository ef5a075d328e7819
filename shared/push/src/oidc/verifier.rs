//! [`OidcVerifier`]: checks the `Authorization` header of a push request
//! against Google's keys and the job's [`PushAuth`].

use super::jwks::JwksCache;
use super::token::{claim_for_log, echo, token_shape, AuthFailure, Claims};
use super::{PushAuth, GOOGLE_ISSUERS};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use std::sync::Arc;
use std::time::Duration;

/// Clock skew allowed on `exp` and `iat`.
const LEEWAY_SECS: u64 = 60;
const DEFAULT_MIN_REFETCH: Duration = Duration::from_secs(30);

/// Verifies push tokens. Clones share the key cache.
#[derive(Clone)]
pub struct OidcVerifier {
    config: PushAuth,
    http: reqwest::Client,
    validation: Validation,
    min_refetch_interval: Duration,
    cache: Arc<JwksCache>,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("config", &self.config)
            .field("min_refetch_interval", &self.min_refetch_interval)
            .finish_non_exhaustive()
    }
}

impl OidcVerifier {
    pub fn new(config: PushAuth) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&GOOGLE_ISSUERS);
        validation.set_audience(&[config.audience.as_deref().unwrap_or_default()]);
        Self {
            config,
            http: hermes_gcp::http_client(),
            validation,
            min_refetch_interval: DEFAULT_MIN_REFETCH,
            cache: Arc::default(),
        }
    }

    /// How often an unknown `kid` may trigger a JWKS refetch (default 30 s).
    /// Also the shortest cache lifetime, whatever `max-age` says.
    pub fn with_min_refetch_interval(mut self, interval: Duration) -> Self {
        self.min_refetch_interval = interval;
        self
    }

    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    pub fn config(&self) -> &PushAuth {
        &self.config
    }

    /// Checks the `Authorization` header of a push request.
    pub async fn verify(&self, authorization_header: Option<&str>) -> Result<Claims, AuthFailure> {
        let (token, kid) = token_shape(authorization_header)?;
        let key = self
            .cache
            .key(
                &self.http,
                &self.config.jwks_url,
                self.min_refetch_interval,
                &kid,
            )
            .await?;

        // Claims as a map first: jsonwebtoken deserialises them before validating,
        // so a typed struct would turn "no iss" into a JSON error.
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &self.validation)
            .map_err(|e| self.jwt_failure(&e, token))?;
        let claims: Claims = serde_json::from_value(data.claims)
            .map_err(|e| AuthFailure::Malformed(format!("claims: {e}")))?;

        if self.config.audience.as_deref().is_none_or(str::is_empty) {
            // An unset audience matches nothing.
            return Err(AuthFailure::WrongAudience {
                found: echo(&claims.aud.join(" ")),
                expected: String::new(),
            });
        }
        let now = jsonwebtoken::get_current_timestamp();
        if claims
            .iat
            .is_some_and(|iat| iat > now.saturating_add(LEEWAY_SECS))
        {
            return Err(AuthFailure::IssuedInFuture);
        }
        if let Some(expected) = &self.config.service_account {
            match claims.email.as_deref() {
                Some(e) if e.eq_ignore_ascii_case(expected) => {}
                other => {
                    return Err(AuthFailure::WrongEmail {
                        found: other.map(echo),
                        expected: expected.to_string(),
                    })
                }
            }
            if claims.email_verified == Some(false) {
                return Err(AuthFailure::EmailNotVerified);
            }
        }
        Ok(claims)
    }

    fn jwt_failure(&self, e: &jsonwebtoken::errors::Error, token: &str) -> AuthFailure {
        match e.kind() {
            ErrorKind::InvalidSignature => AuthFailure::BadSignature,
            ErrorKind::ExpiredSignature => AuthFailure::Expired,
            ErrorKind::ImmatureSignature => AuthFailure::NotYetValid,
            // Claims are validated after the signature: what they say is Google's.
            ErrorKind::InvalidAudience => AuthFailure::WrongAudience {
                found: claim_for_log(token, "aud"),
                expected: self.config.audience.clone().unwrap_or_default(),
            },
            ErrorKind::InvalidIssuer => AuthFailure::WrongIssuer {
                found: claim_for_log(token, "iss"),
            },
            ErrorKind::MissingRequiredClaim(c) => AuthFailure::MissingClaim(c.clone()),
            ErrorKind::InvalidClaimFormat(c) => {
                AuthFailure::Malformed(format!("claim {c:?} has the wrong type"))
            }
            _ => AuthFailure::Malformed(e.to_string()),
        }
    }
}
