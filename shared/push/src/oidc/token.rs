//! A push token as Google signs it: the checks that need no key
//! ([`token_shape`]), the claims, and why a token is refused ([`AuthFailure`]).

use crate::decode_base64_lenient;
use hermes_core::auth::BearerError;
use hermes_core::excerpt::preview;

/// Token-supplied text (kid, alg, aud, …) is cut to this many characters in errors.
const ECHO_MAX: usize = 100;

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
    #[error("token email {} is not the push identity this endpoint accepts", found.as_deref().map_or("(none)", |f| f))]
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
    let token =
        hermes_core::auth::bearer_token(header.map(str::as_bytes)).map_err(|e| match e {
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
pub(super) fn claim_for_log(token: &str, claim: &str) -> String {
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
pub(super) fn echo(s: &str) -> String {
    preview(s, ECHO_MAX)
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
