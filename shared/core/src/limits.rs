//! The `[limits]` section: how much one request, and all of them at once, may
//! cost a function (README, "Limits and overload"). Every function reads it;
//! each applies the keys that concern it.

use crate::config::error::ConfigError;
use crate::config::section::parse_section;
use serde::Deserialize;
use std::time::Duration;

pub const DEFAULT_MAX_EVENTS: usize = 10_000;
pub const DEFAULT_MAX_ERRORS: usize = 100;
pub const DEFAULT_MAX_INFLIGHT_BYTES: usize = 64 * 1024 * 1024;
pub const DEFAULT_HEADER_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_BODY_TIMEOUT_MS: u64 = 30_000;
pub const DEFAULT_MAX_CONNECTIONS: usize = 1_024;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Raw {
    max_events: Option<u64>,
    max_errors: Option<u64>,
    max_inflight_bytes: Option<u64>,
    header_timeout_ms: Option<u64>,
    body_timeout_ms: Option<u64>,
    max_connections: Option<u64>,
}

/// `[limits]`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Events in one ingest request; more → 413.
    pub max_events: usize,
    /// `errors` entries in one ingest answer; the rest are counted in `errorsOmitted`.
    pub max_errors: usize,
    /// Request bytes (bodies as read, as decompressed, and ingest's parsed
    /// events) held by all requests at once; beyond → 503 with `Retry-After`.
    pub max_inflight_bytes: usize,
    /// From a connection being ready for a request to its complete header; a
    /// started header past it → 408, an idle connection is closed.
    pub header_timeout: Duration,
    /// From the header to the end of the body; past it → 408.
    pub body_timeout: Duration,
    /// Open connections at once; one more is answered 503 and closed.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_events: DEFAULT_MAX_EVENTS,
            max_errors: DEFAULT_MAX_ERRORS,
            max_inflight_bytes: DEFAULT_MAX_INFLIGHT_BYTES,
            header_timeout: Duration::from_millis(DEFAULT_HEADER_TIMEOUT_MS),
            body_timeout: Duration::from_millis(DEFAULT_BODY_TIMEOUT_MS),
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl Limits {
    /// Parses `[limits]`; unknown keys, zero and out-of-range values are errors.
    pub fn parse(section: &toml::Table) -> Result<Self, ConfigError> {
        let raw: Raw = parse_section("limits", section)?;
        let mut limits = Limits::default();
        let positive = |key: &str, v: u64| -> Result<usize, ConfigError> {
            usize::try_from(v)
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ConfigError::invalid(format!("limits.{key}"), "must be positive"))
        };
        let millis = |key: &str, v: u64| -> Result<Duration, ConfigError> {
            // A day is far past any sensible request; it also keeps deadlines representable.
            if v == 0 || v > 86_400_000 {
                return Err(ConfigError::invalid(
                    format!("limits.{key}"),
                    "must be from 1 to 86400000 milliseconds",
                ));
            }
            Ok(Duration::from_millis(v))
        };
        if let Some(v) = raw.max_events {
            limits.max_events = positive("max_events", v)?;
        }
        if let Some(v) = raw.max_errors {
            // 0 is allowed: only the count, in `errorsOmitted`.
            limits.max_errors = usize::try_from(v).unwrap_or(usize::MAX);
        }
        if let Some(v) = raw.max_inflight_bytes {
            limits.max_inflight_bytes = positive("max_inflight_bytes", v)?;
        }
        if let Some(v) = raw.header_timeout_ms {
            limits.header_timeout = millis("header_timeout_ms", v)?;
        }
        if let Some(v) = raw.body_timeout_ms {
            limits.body_timeout = millis("body_timeout_ms", v)?;
        }
        if let Some(v) = raw.max_connections {
            limits.max_connections = positive("max_connections", v)?;
        }
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Limits, ConfigError> {
        Limits::parse(&toml::from_str(text).unwrap())
    }

    #[test]
    fn defaults_and_keys() {
        assert_eq!(parse("").unwrap(), Limits::default());
        let l = parse("max_events = 5\nmax_errors = 0\nheader_timeout_ms = 250").unwrap();
        assert_eq!((l.max_events, l.max_errors), (5, 0));
        assert_eq!(l.header_timeout, Duration::from_millis(250));
        for bad in [
            "max_events = 0",
            "nope = 1",
            "body_timeout_ms = 0",
            "max_inflight_bytes = -1",
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("limits"), "{bad}: {e}");
        }
    }
}
