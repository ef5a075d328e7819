//! The Google-signed OIDC token Pub/Sub puts on push requests
//! (`Authorization: Bearer <JWT>`), checked against Google's JWKS.
//!
//! Keys are fetched over HTTP and cached for the `Cache-Control: max-age` Google
//! sends (1 h when it sends none). A token whose `kid` is unknown triggers one
//! refetch (key rotation), at most once per `min_refetch_interval` (30 s), so bad
//! tokens cannot make us hammer Google. Concurrent requests share one fetch.
//! When Google cannot be reached, keys past their `max-age` keep being used for a
//! day; with no usable key the result is [`AuthFailure::JwksUnavailable`]: "we could
//! not check" (503, Pub/Sub retries), not "the token is bad" (401).

use super::decode_base64_lenient;
use crate::auth::BearerError;
use crate::error::report;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Google's OAuth2 signing keys, as a JWKS.
pub const GOOGLE_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";
/// The `iss` values of Google-signed ID tokens.
pub const GOOGLE_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];

/// Clock skew allowed on `exp` and `iat`.
const LEEWAY_SECS: u64 = 60;
/// JWKS lifetime when the response has no `Cache-Control: max-age`.
const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// Upper bound on any `max-age`.
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_MIN_REFETCH: Duration = Duration::from_secs(30);
/// How soon a failed fetch is retried when there is no usable key at all.
const FAILED_FETCH_RETRY: Duration = Duration::from_secs(5);
/// How long keys past their `max-age` are still used while Google cannot be reached.
const STALE_GRACE: Duration = Duration::from_secs(24 * 3600);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Token-supplied text (kid, alg, aud, …) is cut to this many characters in errors.
const ECHO_MAX: usize = 100;

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
    ) -> Result<Self, crate::config::ConfigError> {
        use crate::config::ConfigError;
        let non_empty = |key: &str, v: String| {
            if v.trim().is_empty() {
                Err(ConfigError::invalid(
                    format!("{section}.{key}"),
                    "must not be empty",
                ))
            } else {
                Ok(v)
            }
        };
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcConfig {
    /// The `aud` the push subscription puts in its tokens.
    pub audience: String,
    /// When set, the token's `email` must be this service account.
    pub service_account_email: Option<String>,
    /// [`GOOGLE_JWKS_URL`] in production; a local server in tests.
    pub jwks_url: String,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            audience: String::new(),
            service_account_email: None,
            jwks_url: GOOGLE_JWKS_URL.to_string(),
        }
    }
}

impl OidcConfig {
    /// Google's JWKS, any service account.
    pub fn new(audience: impl Into<String>) -> Self {
        Self {
            audience: audience.into(),
            ..Self::default()
        }
    }

    pub fn with_service_account_email(mut self, email: impl Into<String>) -> Self {
        self.service_account_email = Some(email.into());
        self
    }

    pub fn with_jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = url.into();
        self
    }
}

/// The verified claims of a push token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Claims {
    pub iss: String,
    #[serde(deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    pub exp: u64,
    #[serde(default)]
    pub iat: Option<u64>,
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default)]
    pub azp: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "bool_or_string")]
    pub email_verified: Option<bool>,
}

/// Why a push request is not authenticated. Never holds the token; token-supplied
/// values (kid, alg, aud, iss, email) are cut short and only quoted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("no Authorization header")]
    MissingHeader,
    #[error("Authorization header is not a Bearer token")]
    NotBearer,
    #[error("bearer token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("token algorithm {0:?} is not RS256")]
    WrongAlgorithm(String),
    #[error("token header has no kid")]
    MissingKeyId,
    #[error("token kid {0:?} is not in Google's JWKS")]
    UnknownKey(String),
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet (nbf)")]
    NotYetValid,
    #[error("token was issued in the future (iat)")]
    IssuedInFuture,
    // The expected values are kept for the code, never shown: an answer (or a log
    // line copied into a ticket) must not tell a caller what would be accepted.
    #[error("token audience {found:?} is not the one this endpoint accepts")]
    WrongAudience { found: String, expected: String },
    #[error("token issuer {found:?} is not Google")]
    WrongIssuer { found: String },
    #[error("token has no {0:?} claim")]
    MissingClaim(String),
    #[error("token email {found:?} is not the push identity this endpoint accepts")]
    WrongEmail {
        found: Option<String>,
        expected: String,
    },
    #[error("token email is not verified")]
    EmailNotVerified,
    /// Google's keys could not be fetched: the token could not be checked.
    #[error("could not fetch Google's signing keys: {0}")]
    JwksUnavailable(String),
}

impl AuthFailure {
    /// True when the token could not be checked (retry later), not found invalid.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, AuthFailure::JwksUnavailable(_))
    }

    /// A stable, short name for structured logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            AuthFailure::MissingHeader => "missing_header",
            AuthFailure::NotBearer => "not_bearer",
            AuthFailure::Malformed(_) => "malformed",
            AuthFailure::WrongAlgorithm(_) => "wrong_algorithm",
            AuthFailure::MissingKeyId => "missing_kid",
            AuthFailure::UnknownKey(_) => "unknown_key",
            AuthFailure::BadSignature => "bad_signature",
            AuthFailure::Expired => "expired",
            AuthFailure::NotYetValid => "not_yet_valid",
            AuthFailure::IssuedInFuture => "issued_in_future",
            AuthFailure::WrongAudience { .. } => "wrong_audience",
            AuthFailure::WrongIssuer { .. } => "wrong_issuer",
            AuthFailure::MissingClaim(_) => "missing_claim",
            AuthFailure::WrongEmail { .. } => "wrong_email",
            AuthFailure::EmailNotVerified => "email_not_verified",
            AuthFailure::JwksUnavailable(_) => "jwks_unavailable",
        }
    }
}

/// Verifies push tokens. Clones share the key cache.
#[derive(Clone)]
pub struct OidcVerifier {
    config: OidcConfig,
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

#[derive(Default)]
struct JwksCache {
    keys: RwLock<Option<Arc<KeySet>>>,
    /// Bumped (under `fetch`) each time a fetch ends, success or not.
    generation: AtomicU64,
    fetch: tokio::sync::Mutex<FetchState>,
}

#[derive(Default)]
struct FetchState {
    last_attempt: Option<Instant>,
    /// The error of the last fetch, if it failed.
    last_error: Option<String>,
}

struct KeySet {
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Instant,
    ttl: Duration,
}

impl KeySet {
    fn fresh(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.fetched_at) < self.ttl
    }

    fn usable(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.fetched_at) < self.ttl + STALE_GRACE
    }
}

impl JwksCache {
    fn snapshot(&self) -> Option<Arc<KeySet>> {
        match self.keys.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn store(&self, set: KeySet) {
        let set = Some(Arc::new(set));
        match self.keys.write() {
            Ok(mut g) => *g = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
    }
}

impl OidcVerifier {
    /// A push job's verifier from its settings: none without an audience
    /// (push authentication off), else one for that audience and, when set,
    /// that service account.
    pub fn for_push(
        audience: Option<&str>,
        service_account_email: Option<&str>,
        jwks_url: &str,
    ) -> Option<Self> {
        audience.map(|audience| {
            Self::new(OidcConfig {
                audience: audience.to_string(),
                service_account_email: service_account_email.map(str::to_string),
                jwks_url: jwks_url.to_string(),
            })
        })
    }

    pub fn new(config: OidcConfig) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&GOOGLE_ISSUERS);
        validation.set_audience(&[config.audience.as_str()]);
        Self {
            config,
            http: crate::gcp::http_client(),
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

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// Checks the `Authorization` header of a push request.
    pub async fn verify(&self, authorization_header: Option<&str>) -> Result<Claims, AuthFailure> {
        let (token, kid) = token_shape(authorization_header)?;
        let key = self.key(&kid).await?;

        // Claims as a map first: jsonwebtoken deserialises them before validating,
        // so a typed struct would turn "no iss" into a JSON error.
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &self.validation)
            .map_err(|e| self.jwt_failure(&e, token))?;
        let claims: Claims = serde_json::from_value(data.claims)
            .map_err(|e| AuthFailure::Malformed(format!("claims: {e}")))?;

        if self.config.audience.is_empty() {
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
        if let Some(expected) = &self.config.service_account_email {
            match claims.email.as_deref() {
                Some(e) if e.eq_ignore_ascii_case(expected) => {}
                other => {
                    return Err(AuthFailure::WrongEmail {
                        found: other.map(echo),
                        expected: expected.clone(),
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
                expected: self.config.audience.clone(),
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

    /// The key for `kid`, fetching the JWKS when the cache is empty, expired, or
    /// (rate-limited) does not know `kid`.
    async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, AuthFailure> {
        let seen = self.cache.generation.load(Ordering::Acquire);
        if let Some(set) = self.cache.snapshot() {
            if set.fresh(Instant::now()) {
                if let Some(k) = set.keys.get(kid) {
                    return Ok(k.clone());
                }
            }
        }

        let mut state = self.cache.fetch.lock().await;
        let now = Instant::now();
        let snapshot = self.cache.snapshot();
        let usable = |set: &Option<Arc<KeySet>>| {
            set.as_ref()
                .filter(|s| s.usable(now))
                .and_then(|s| s.keys.get(kid).cloned())
        };

        // A fetch ended while we waited for the lock: its outcome is ours too.
        if self.cache.generation.load(Ordering::Acquire) != seen {
            return match (usable(&snapshot), &state.last_error) {
                (Some(k), _) => Ok(k),
                (None, Some(e)) => Err(AuthFailure::JwksUnavailable(e.clone())),
                (None, None) => Err(AuthFailure::UnknownKey(echo(kid))),
            };
        }

        let fresh = snapshot.as_ref().is_some_and(|s| s.fresh(now));
        if fresh {
            if let Some(k) = snapshot.as_ref().and_then(|s| s.keys.get(kid)) {
                return Ok(k.clone());
            }
        }
        let since_attempt = state.last_attempt.map(|t| now.saturating_duration_since(t));
        let within = |d: Duration| since_attempt.is_some_and(|s| s < d);
        if within(self.min_refetch_interval) {
            // Recently fetched (or tried to): do not refetch for an unknown kid.
            if let Some(e) = &state.last_error {
                if let Some(k) = usable(&snapshot) {
                    return Ok(k);
                }
                if within(FAILED_FETCH_RETRY.min(self.min_refetch_interval)) {
                    return Err(AuthFailure::JwksUnavailable(e.clone()));
                }
            } else if fresh {
                return Err(AuthFailure::UnknownKey(echo(kid)));
            }
        }

        state.last_attempt = Some(now);
        let result = self.fetch().await;
        let outcome = match result {
            Ok(set) => {
                state.last_error = None;
                let key = set.keys.get(kid).cloned();
                self.cache.store(set);
                key.ok_or_else(|| AuthFailure::UnknownKey(echo(kid)))
            }
            Err(e) => {
                let outcome = match usable(&snapshot) {
                    Some(k) => {
                        tracing::warn!(
                            jwks_url = %self.config.jwks_url,
                            error = %e,
                            "could not refresh Google's signing keys; using cached keys past their max-age"
                        );
                        Ok(k)
                    }
                    None => Err(AuthFailure::JwksUnavailable(e.clone())),
                };
                state.last_error = Some(e);
                outcome
            }
        };
        self.cache.generation.fetch_add(1, Ordering::AcqRel);
        drop(state);
        outcome
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        let url = &self.config.jwks_url;
        let resp = self
            .http
            .get(url)
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {}", report(&e)))?;
        let status = resp.status();
        let max_age = resp
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_max_age);
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("GET {url}: {}", report(&e)))?;
        if !status.is_success() {
            return Err(format!("GET {url}: HTTP {}", status.as_u16()));
        }
        let keys = parse_jwks(&body).map_err(|e| format!("GET {url}: {e}"))?;
        let ttl = max_age
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TTL)
            .min(MAX_TTL)
            .max(self.min_refetch_interval);
        tracing::debug!(jwks_url = %url, keys = keys.len(), ttl_s = ttl.as_secs(), "fetched signing keys");
        Ok(KeySet {
            keys,
            fetched_at: Instant::now(),
            ttl,
        })
    }
}

/// The checks of a push token that need no key: a Bearer token, a JOSE header
/// that parses, RS256, a `kid`. Gives the token and its `kid`. (The OIDC fuzz
/// target drives it with arbitrary headers.)
pub fn token_shape(authorization_header: Option<&str>) -> Result<(&str, String), AuthFailure> {
    let token = bearer_token(authorization_header)?;
    let header = parse_header(token)?;
    if header.alg != "RS256" {
        return Err(AuthFailure::WrongAlgorithm(echo(&header.alg)));
    }
    let kid = header
        .kid
        .filter(|k| !k.is_empty())
        .ok_or(AuthFailure::MissingKeyId)?;
    Ok((token, kid))
}

/// The token of `Bearer <token>`, as [`crate::auth::bearer_token`] reads it.
fn bearer_token(header: Option<&str>) -> Result<&str, AuthFailure> {
    let token = crate::auth::bearer_token(header.map(str::as_bytes)).map_err(|e| match e {
        BearerError::Missing => AuthFailure::MissingHeader,
        BearerError::NotBearer => AuthFailure::NotBearer,
        BearerError::Empty => AuthFailure::Malformed("empty bearer token".into()),
    })?;
    // The bytes came from a `&str` and were cut at ASCII bytes.
    std::str::from_utf8(token).map_err(|_| AuthFailure::Malformed("not UTF-8".into()))
}

struct JwtHeader {
    alg: String,
    kid: Option<String>,
}

/// The JOSE header, read by hand so that `alg: none` (or any algorithm
/// jsonwebtoken does not know) is reported as such, not as bad JSON.
fn parse_header(token: &str) -> Result<JwtHeader, AuthFailure> {
    if token.split('.').count() != 3 {
        return Err(AuthFailure::Malformed(
            "expected three dot-separated parts".into(),
        ));
    }
    let encoded = token.split('.').next().unwrap_or_default();
    let bytes = decode_base64_lenient(encoded)
        .map_err(|e| AuthFailure::Malformed(format!("header is not base64url: {e}")))?;
    #[derive(serde::Deserialize)]
    struct Wire {
        alg: Option<String>,
        #[serde(default)]
        kid: Option<String>,
    }
    let wire: Wire = serde_json::from_slice(&bytes)
        .map_err(|e| AuthFailure::Malformed(format!("header is not a JSON object: {e}")))?;
    let alg = wire
        .alg
        .ok_or_else(|| AuthFailure::Malformed("header has no alg".into()))?;
    Ok(JwtHeader { alg, kid: wire.kid })
}

/// `claim` of a token whose signature has been verified, for an error message.
fn claim_for_log(token: &str, claim: &str) -> String {
    let claims = jsonwebtoken::dangerous::insecure_decode_claims::<serde_json::Value>(token).ok();
    match claims.as_ref().and_then(|c| c.get(claim)) {
        Some(serde_json::Value::String(s)) => echo(s),
        Some(serde_json::Value::Array(a)) => echo(
            &a.iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Some(other) => echo(&other.to_string()),
        None => String::new(),
    }
}

/// Token-supplied text, cut short for an error message.
fn echo(s: &str) -> String {
    let mut out: String = s.chars().take(ECHO_MAX).collect();
    if s.chars().nth(ECHO_MAX).is_some() {
        out.push('…');
    }
    out
}

/// `max-age` of a `Cache-Control` value; `no-cache`/`no-store` count as 0.
fn parse_max_age(value: &str) -> Option<u64> {
    let mut max_age = None;
    for directive in value.split(',') {
        let directive = directive.trim();
        let (name, arg) = directive.split_once('=').unwrap_or((directive, ""));
        let name = name.trim();
        if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store") {
            return Some(0);
        }
        if name.eq_ignore_ascii_case("max-age") {
            max_age = arg.trim().trim_matches('"').parse().ok();
        }
    }
    max_age
}

/// The RS256 signing keys of a JWKS, by `kid`; other keys are skipped.
fn parse_jwks(body: &[u8]) -> Result<HashMap<String, Arc<DecodingKey>>, String> {
    #[derive(serde::Deserialize)]
    struct Wire {
        keys: Vec<serde_json::Value>,
    }
    #[derive(serde::Deserialize)]
    struct WireKey {
        #[serde(default)]
        kty: Option<String>,
        #[serde(default)]
        kid: Option<String>,
        #[serde(default)]
        alg: Option<String>,
        #[serde(default, rename = "use")]
        use_: Option<String>,
        #[serde(default)]
        n: Option<String>,
        #[serde(default)]
        e: Option<String>,
    }
    let wire: Wire = serde_json::from_slice(body).map_err(|e| format!("not a JWKS: {e}"))?;
    let mut keys = HashMap::new();
    for value in wire.keys {
        let Ok(k) = serde_json::from_value::<WireKey>(value) else {
            continue;
        };
        let rsa_sig = k.kty.as_deref() == Some("RSA")
            && k.alg.as_deref().is_none_or(|a| a == "RS256")
            && k.use_.as_deref().is_none_or(|u| u == "sig");
        let (true, Some(kid), Some(n), Some(e)) = (rsa_sig, k.kid, k.n, k.e) else {
            continue;
        };
        let (Ok(n), Ok(e)) = (decode_base64_lenient(&n), decode_base64_lenient(&e)) else {
            continue;
        };
        if n.is_empty() || e.is_empty() {
            continue;
        }
        keys.insert(kid, Arc::new(DecodingKey::from_rsa_raw_components(&n, &e)));
    }
    if keys.is_empty() {
        return Err("JWKS has no RS256 signing key".into());
    }
    Ok(keys)
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match serde::Deserialize::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// `true`, or `"true"` as some Google tokens used to say.
fn bool_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum BoolOrString {
        Bool(bool),
        String(String),
    }
    Ok(
        match <Option<BoolOrString> as serde::Deserialize>::deserialize(d)? {
            None => None,
            Some(BoolOrString::Bool(b)) => Some(b),
            Some(BoolOrString::String(s)) => Some(s.eq_ignore_ascii_case("true")),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age() {
        assert_eq!(
            parse_max_age("public, max-age=19549, must-revalidate"),
            Some(19549)
        );
        assert_eq!(parse_max_age("no-store"), Some(0));
        assert_eq!(parse_max_age("public"), None);
        assert_eq!(parse_max_age("Max-Age = 5"), Some(5));
    }

    #[test]
    fn bearer() {
        assert_eq!(bearer_token(Some("Bearer a.b.c")), Ok("a.b.c"));
        assert_eq!(bearer_token(Some("bearer   a.b.c ")), Ok("a.b.c"));
        assert_eq!(bearer_token(None), Err(AuthFailure::MissingHeader));
        assert_eq!(bearer_token(Some("  ")), Err(AuthFailure::MissingHeader));
        assert_eq!(
            bearer_token(Some("Basic dXNlcg==")),
            Err(AuthFailure::NotBearer)
        );
        assert!(matches!(
            bearer_token(Some("Bearer")),
            Err(AuthFailure::Malformed(_))
        ));
    }

    #[test]
    fn echo_cuts_long_values() {
        let long = "x".repeat(500);
        assert_eq!(echo(&long).chars().count(), ECHO_MAX + 1);
        assert_eq!(echo("kid-1"), "kid-1");
    }
}
