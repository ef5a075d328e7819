//! [`SessionValue`] (what the client sends in `X-Gtm-Server-Preview`) and
//! [`SessionId`] (what the dashboard's URLs and the stores key traces by).

use crate::hex::hex;
use aws_lc_rs::digest::{digest, SHA256};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Every session value starts so (version 1 of the format).
pub const SESSION_PREFIX: &str = "hp1-";
/// Random bytes in a value: 256 bits.
const RANDOM_BYTES: usize = 32;
/// Domain separation of the session id's hash.
const ID_CONTEXT: &[u8] = b"hermes preview session\n";
/// How far a value's expiry may lie past `now + ttl`: the clocks of the
/// dashboard that issued it and of ingest may differ by this much.
const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// `hp1-<expiry, Unix seconds>-<64 lowercase hex>`, parsed and unexpired.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionValue {
    text: String,
    expires: SystemTime,
}

impl fmt::Debug for SessionValue {
    // The value is what lets someone read the session: never print it whole.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionValue(expires {:?})", self.expires)
    }
}

impl SessionValue {
    /// A new value that expires `ttl` after `now`, with 256 bits from the
    /// system's secure random generator.
    pub fn generate(now: SystemTime, ttl: Duration) -> Result<Self, aws_lc_rs::error::Unspecified> {
        let mut random = [0u8; RANDOM_BYTES];
        aws_lc_rs::rand::fill(&mut random)?;
        let expires = now + ttl;
        let secs = expires
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(Self {
            text: format!("{SESSION_PREFIX}{secs}-{}", hex(&random)),
            // Whole seconds, as written in the value.
            expires: UNIX_EPOCH + Duration::from_secs(secs),
        })
    }

    /// A header value that is a well-formed session value, unexpired at `now`
    /// and expiring no later than a value issued now for `ttl` would (the
    /// `[preview] ttl_secs` in force): a client cannot make its own value live
    /// longer. `None` otherwise (such a preview request is processed as usual,
    /// just not traced).
    pub fn parse(text: &str, now: SystemTime, ttl: Duration) -> Option<Self> {
        let rest = text.trim().strip_prefix(SESSION_PREFIX)?;
        let (secs, random) = rest.split_once('-')?;
        if secs.is_empty() || secs.len() > 12 || !secs.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if random.len() != RANDOM_BYTES * 2
            || !random
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return None;
        }
        let expires = UNIX_EPOCH + Duration::from_secs(secs.parse().ok()?);
        if expires <= now || expires > now + ttl + CLOCK_SKEW {
            return None;
        }
        Some(Self {
            text: text.trim().to_string(),
            expires,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn expires(&self) -> SystemTime {
        self.expires
    }

    /// The session this value opens.
    pub fn session_id(&self) -> SessionId {
        let mut input = Vec::with_capacity(ID_CONTEXT.len() + self.text.len());
        input.extend_from_slice(ID_CONTEXT);
        input.extend_from_slice(self.text.as_bytes());
        SessionId(hex(digest(&SHA256, &input).as_ref()))
    }
}

/// 64 lowercase hex characters: a SHA-256 of a [`SessionValue`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionId(String);

impl SessionId {
    /// A session id from a URL or a stored trace; `None` unless 64 lowercase hex.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 64
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SessionId {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).ok_or("a session id is 64 lowercase hex characters")
    }
}

impl From<SessionId> for String {
    fn from(id: SessionId) -> Self {
        id.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_parse_and_derive_one_id() {
        let now = SystemTime::now();
        let v = SessionValue::generate(now, Duration::from_secs(3600)).unwrap();
        let parsed = SessionValue::parse(v.as_str(), now, Duration::from_secs(3600)).unwrap();
        assert_eq!(parsed.session_id(), v.session_id());
        assert!(SessionId::parse(v.session_id().as_str()).is_some());
        let other = SessionValue::generate(now, Duration::from_secs(3600)).unwrap();
        assert_ne!(other.session_id(), v.session_id());
        assert_eq!(v.as_str().len(), SESSION_PREFIX.len() + 10 + 1 + 64);
    }

    #[test]
    fn malformed_expired_or_far_values_are_not_sessions() {
        let now = SystemTime::now();
        let hour = Duration::from_secs(3600);
        let v = SessionValue::generate(now, Duration::from_secs(60)).unwrap();
        assert!(SessionValue::parse(v.as_str(), now + Duration::from_secs(61), hour).is_none());
        let far = SessionValue::generate(now, Duration::from_secs(3 * 86_400)).unwrap();
        assert!(SessionValue::parse(far.as_str(), now, hour).is_none());
        // A value a client made up to live a day, where sessions live an hour.
        let day = SessionValue::generate(now, Duration::from_secs(86_400)).unwrap();
        assert!(SessionValue::parse(day.as_str(), now, hour).is_none());
        assert!(SessionValue::parse(day.as_str(), now, Duration::from_secs(86_400)).is_some());
        for bad in [
            "",
            "env-1|abc",
            "hp1-",
            "hp1-123",
            "hp1-x-00",
            &v.as_str().to_uppercase(),
            &format!("{}0", v.as_str()),
        ] {
            assert!(SessionValue::parse(bad, now, hour).is_none(), "{bad}");
        }
        assert!(SessionId::parse("ABC").is_none());
        assert!(format!("{v:?}").find(v.as_str()).is_none());
    }
}
