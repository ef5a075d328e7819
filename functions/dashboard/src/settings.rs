//! The `[dashboard]` section of the shared configuration.

use hermes_core::config::{non_empty, ConfigError};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Raw {
    database: Option<String>,
    poll_interval_ms: Option<u64>,
    ingest_url: Option<String>,
    read_deadline_ms: Option<u64>,
    keep_alive_secs: Option<u64>,
    full_read_secs: Option<u64>,
    incremental_reads: Option<bool>,
    max_items: Option<u64>,
}

/// The bounds of `poll_interval_ms`: faster than 100 ms is a needless load on
/// the store, slower than a minute is no longer "live".
pub const POLL_INTERVAL_MS: std::ops::RangeInclusive<u64> = 100..=60_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The Firestore database id (`hermes-dashboard` only).
    pub database: String,
    /// How often the store is read while at least one page is open.
    pub poll_interval: Duration,
    /// The ingest URL shown in the empty state's `curl`; `None`: the page's own
    /// origin + `/` (right under `hermes dev`, where ingest is `POST /`).
    pub ingest_url: Option<String>,
    /// Overall time for one store read, retries included.
    pub read_deadline: Duration,
    /// How often an idle event stream sends a keep-alive comment.
    pub keep_alive: Duration,
    /// How often the poller reads every item again (between, only the changed ones).
    pub full_read: Duration,
    /// `false`: every poll reads every item (what the benchmark compares with).
    pub incremental_reads: bool,
    /// The most items held (the memory bound); the rest are left out, with a warning.
    pub max_items: usize,
}

/// `max_items`' default: 250,000 typical items (about 380 bytes each of
/// resident memory, see `held`) are about 95 MB.
pub const MAX_ITEMS: usize = 250_000;

impl Default for Settings {
    fn default() -> Self {
        Self {
            database: "(default)".to_string(),
            poll_interval: Duration::from_millis(1000),
            ingest_url: None,
            read_deadline: Duration::from_secs(10),
            keep_alive: Duration::from_secs(15),
            full_read: Duration::from_secs(600),
            incremental_reads: true,
            max_items: MAX_ITEMS,
        }
    }
}

impl Settings {
    /// Parses `[dashboard]`; every key is checked, unknown keys are errors.
    pub fn parse(section: &toml::Table) -> Result<Self, ConfigError> {
        let raw: Raw = hermes_core::config::parse_section("dashboard", section)?;
        let mut s = Settings::default();
        if let Some(v) = raw.database {
            s.database = non_empty("dashboard.database", v)?;
        }
        if let Some(v) = raw.poll_interval_ms {
            if !POLL_INTERVAL_MS.contains(&v) {
                return Err(ConfigError::invalid(
                    "dashboard.poll_interval_ms",
                    format!(
                        "must be from {} to {}",
                        POLL_INTERVAL_MS.start(),
                        POLL_INTERVAL_MS.end()
                    ),
                ));
            }
            s.poll_interval = Duration::from_millis(v);
        }
        if let Some(v) = raw.ingest_url {
            let v = v.trim().to_string();
            let rest = v
                .strip_prefix("https://")
                .or_else(|| v.strip_prefix("http://"));
            let valid = rest.is_some_and(|r| {
                !r.is_empty()
                    && !r.starts_with('/')
                    && !r.chars().any(|c| c.is_whitespace() || c == '\'')
            });
            if !valid {
                return Err(ConfigError::invalid(
                    "dashboard.ingest_url",
                    "must be an http(s) URL (the ingest function's address)",
                ));
            }
            s.ingest_url = Some(v);
        }
        if let Some(v) = raw.read_deadline_ms {
            if v == 0 {
                return Err(ConfigError::invalid(
                    "dashboard.read_deadline_ms",
                    "must be positive",
                ));
            }
            s.read_deadline = Duration::from_millis(v);
        }
        if let Some(v) = raw.keep_alive_secs {
            if !(1..=300).contains(&v) {
                return Err(ConfigError::invalid(
                    "dashboard.keep_alive_secs",
                    "must be from 1 to 300",
                ));
            }
            s.keep_alive = Duration::from_secs(v);
        }
        if let Some(v) = raw.full_read_secs {
            if !(1..=86_400).contains(&v) {
                return Err(ConfigError::invalid(
                    "dashboard.full_read_secs",
                    "must be from 1 to 86400",
                ));
            }
            s.full_read = Duration::from_secs(v);
        }
        if let Some(v) = raw.incremental_reads {
            s.incremental_reads = v;
        }
        if let Some(v) = raw.max_items {
            if !(1..=10_000_000).contains(&v) {
                return Err(ConfigError::invalid(
                    "dashboard.max_items",
                    "must be from 1 to 10000000",
                ));
            }
            s.max_items = v as usize;
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        let table: toml::Table = toml::from_str(text).unwrap();
        Settings::parse(&table)
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn defaults() {
        let s = parse("").unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.poll_interval, Duration::from_millis(1000));
        assert_eq!(s.database, "(default)");
        assert_eq!(s.ingest_url, None);
    }

    #[test]
    fn values() {
        let s = parse(
            "poll_interval_ms = 250\ningest_url = \"https://ingest.example.com/\"\ndatabase = \"hermes\"\nread_deadline_ms = 500\nkeep_alive_secs = 5",
        )
        .unwrap();
        assert_eq!(s.poll_interval, Duration::from_millis(250));
        assert_eq!(s.ingest_url.as_deref(), Some("https://ingest.example.com/"));
        assert_eq!(s.database, "hermes");
        assert_eq!(s.read_deadline, Duration::from_millis(500));
        assert_eq!(s.keep_alive, Duration::from_secs(5));
        let s = parse("full_read_secs = 60\nincremental_reads = false\nmax_items = 10").unwrap();
        assert_eq!(s.full_read, Duration::from_secs(60));
        assert!(!s.incremental_reads);
        assert_eq!(s.max_items, 10);
    }

    #[test]
    fn errors_name_the_key() {
        assert!(error("poll_interval_ms = 0").contains("dashboard.poll_interval_ms"));
        assert!(error("poll_interval_ms = 600000").contains("dashboard.poll_interval_ms"));
        assert!(error("poll_interval_ms = \"fast\"").contains("dashboard"));
        assert!(error("poll_interval = 5").contains("poll_interval"));
        assert!(error("ingest_url = \"localhost:8080\"").contains("dashboard.ingest_url"));
        assert!(error("ingest_url = \"http://\"").contains("dashboard.ingest_url"));
        assert!(error("ingest_url = \"http://a b\"").contains("dashboard.ingest_url"));
        assert!(error("database = \" \"").contains("dashboard.database"));
        assert!(error("read_deadline_ms = 0").contains("dashboard.read_deadline_ms"));
        assert!(error("keep_alive_secs = 0").contains("dashboard.keep_alive_secs"));
        assert!(error("full_read_secs = 0").contains("dashboard.full_read_secs"));
        assert!(error("max_items = 0").contains("dashboard.max_items"));
        assert!(error("incremental_reads = 1").contains("dashboard"));
    }
}
