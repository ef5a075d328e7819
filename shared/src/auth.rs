//! Bearer tokens for ingest: production and preview sets, several tokens each
//! (comma-separated) so they can be rotated without downtime.

use crate::config::ConfigError;

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

/// The production and preview token sets (SPEC 3.2).
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

    /// `prod_ok || (preview && preview_ok)`, where a preview request only passes on
    /// a configured preview token.
    pub fn authorize(&self, authorization: Option<&[u8]>, preview: bool) -> bool {
        let token = authorization.and_then(bearer_token);
        let prod_ok =
            !self.production.is_configured() || token.is_some_and(|t| self.production.contains(t));
        let preview_ok =
            self.preview.is_configured() && token.is_some_and(|t| self.preview.contains(t));
        prod_ok || (preview && preview_ok)
    }
}

/// The token of an `Authorization: Bearer <t>` header (scheme case-insensitive).
pub fn bearer_token(header: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = header.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| rest.trim_ascii())
        .filter(|t| !t.is_empty())
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
    }
}
