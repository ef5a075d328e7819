//! Bearer tokens for ingest: production and preview sets, several tokens each
//! (comma-separated) so they can be rotated without downtime.

use crate::config::error::ConfigError;

pub const ENV_BEARER_TOKEN: &str = "HERMES_BEARER_TOKEN";
pub const ENV_PREVIEW_BEARER_TOKEN: &str = "HERMES_PREVIEW_BEARER_TOKEN";

/// One token set; empty means "not configured".
#[derive(Clone, Default)]
pub struct TokenSet(Vec<Vec<u8>>);

impl std::fmt::Debug for TokenSet {
    // Never print the tokens themselves.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenSet({} tokens)", self.0.len())
    }
}

impl TokenSet {
    /// Parses `a,b,c`; a value that is set but holds no token is a configuration error.
    pub fn parse(var: &str, value: Option<&str>) -> Result<Self, ConfigError> {
        let Some(value) = value else {
            return Ok(Self::default());
        };
        let tokens: Vec<Vec<u8>> = value
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| t.as_bytes().to_vec())
            .collect();
        if tokens.is_empty() {
            return Err(ConfigError::invalid(
                var,
                "is set but holds no token (unset it to disable the check)",
            ));
        }
        Ok(Self(tokens))
    }

    pub fn from_env(var: &str) -> Result<Self, ConfigError> {
        Self::parse(var, std::env::var(var).ok().as_deref())
    }

    pub fn is_configured(&self) -> bool {
        !self.0.is_empty()
    }

    /// Constant-time in the candidate's content: every configured token is compared in full.
    pub fn contains(&self, candidate: &[u8]) -> bool {
        self.0
            .iter()
            .fold(false, |found, t| constant_time_eq(t, candidate) | found)
    }
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The production and preview token sets (README, "The ingest function").
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    pub production: TokenSet,
    pub preview: TokenSet,
}

impl Tokens {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            production: TokenSet::from_env(ENV_BEARER_TOKEN)?,
            preview: TokenSet::from_env(ENV_PREVIEW_BEARER_TOKEN)?,
        })
    }

    /// A production request passes on a production token, or anywhere when
    /// none is configured. A preview request (its data is shown in traces)
    /// passes on a preview token; when preview tokens are configured it needs
    /// a real token, a preview one or a configured production one, even where
    /// production requests are open.
    pub fn authorize(&self, authorization: Option<&[u8]>, preview: bool) -> bool {
        let token = bearer_token(authorization).ok();
        let in_production = token.is_some_and(|t| self.production.contains(t));
        let prod_ok = !self.production.is_configured() || in_production;
        if !preview {
            return prod_ok;
        }
        if self.preview.is_configured() {
            token.is_some_and(|t| self.preview.contains(t)) || in_production
        } else {
            prod_ok
        }
    }
}

impl Tokens {
    /// Whether the request may mark its events as a backfill: a production
    /// token (or no production tokens configured), never a preview token.
    pub fn may_backfill(&self, authorization: Option<&[u8]>) -> bool {
        let token = bearer_token(authorization).ok();
        if self.production.is_configured() {
            return token.is_some_and(|t| self.production.contains(t));
        }
        !token.is_some_and(|t| self.preview.is_configured() && self.preview.contains(t))
    }
}

/// Why an `Authorization` header holds no bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerError {
    Missing,
    NotBearer,
    Empty,
}

/// The token of an `Authorization: Bearer <t>` header (scheme case-insensitive,
/// surrounding white space ignored). Ingest's tokens and push's OIDC both read it here.
pub fn bearer_token(header: Option<&[u8]>) -> Result<&[u8], BearerError> {
    let header = header
        .map(<[u8]>::trim_ascii)
        .filter(|h| !h.is_empty())
        .ok_or(BearerError::Missing)?;
    let (scheme, token) = match header.iter().position(|b| *b == b' ') {
        Some(i) => (&header[..i], &header[i + 1..]),
        None => (header, &[][..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(BearerError::NotBearer);
    }
    match token.trim_ascii() {
        [] => Err(BearerError::Empty),
        token => Ok(token),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(prod: Option<&str>, preview: Option<&str>) -> Tokens {
        Tokens {
            production: TokenSet::parse("P", prod).unwrap(),
            preview: TokenSet::parse("Q", preview).unwrap(),
        }
    }

    #[test]
    fn empty_or_commas_only_is_an_error() {
        assert!(TokenSet::parse("P", Some("")).is_err());
        assert!(TokenSet::parse("P", Some(" , ,")).is_err());
        assert!(TokenSet::parse("P", Some("a,,b")).unwrap().contains(b"b"));
    }

    #[test]
    fn rotation_accepts_every_listed_token() {
        let t = tokens(Some("old,new"), None);
        assert!(t.authorize(Some(b"Bearer old"), false));
        assert!(t.authorize(Some(b"Bearer new"), false));
        assert!(!t.authorize(Some(b"Bearer ne"), false));
        assert!(!t.authorize(Some(b"Basic new"), false));
    }

    #[test]
    fn preview_header_alone_is_not_enough() {
        let t = tokens(Some("prod"), None);
        assert!(!t.authorize(None, true));
        let t = tokens(Some("prod"), Some("prev"));
        assert!(t.authorize(Some(b"Bearer prev"), true));
        assert!(!t.authorize(Some(b"Bearer prev"), false));
        assert!(t.authorize(Some(b"Bearer prod"), true));
    }

    /// With only preview tokens set, production requests are open, but a
    /// preview request (whose data the inspector shows) still needs one.
    #[test]
    fn preview_tokens_guard_preview_requests_even_when_production_is_open() {
        let t = tokens(None, Some("prev"));
        assert!(t.authorize(None, false));
        assert!(!t.authorize(None, true));
        assert!(!t.authorize(Some(b"Bearer guess"), true));
        assert!(t.authorize(Some(b"Bearer prev"), true));
        // Nothing configured at all (a local run): everything is open.
        assert!(tokens(None, None).authorize(None, true));
    }
}
