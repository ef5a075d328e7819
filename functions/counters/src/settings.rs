//! The `[counters]` section of the shared configuration.

use hermes_core::config::{non_empty, ConfigError};
use hermes_push::{Backfill, PushAuth};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Raw {
    push_audience: Option<String>,
    push_service_account: Option<String>,
    jwks_url: Option<String>,
    shards: Option<i64>,
    count_preview: Option<bool>,
    catalog_ttl_secs: Option<u64>,
    marker_ttl_days: Option<u64>,
    database: Option<String>,
    commit_deadline_ms: Option<u64>,
    refund_events: Option<Vec<String>>,
    backfill: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `push_audience`, `push_service_account`, `jwks_url`: with an audience,
    /// push requests must carry a Google-signed OIDC token for it.
    pub push: PushAuth,
    /// Counter shards per item (1: no sharding).
    pub shards: u32,
    /// Count messages published by preview requests too.
    pub count_preview: bool,
    /// How long catalog documents are cached.
    pub catalog_ttl: Duration,
    /// How long exactly-once markers are kept: longer than Pub/Sub's retention
    /// (7 days by default), so a late redelivery still finds its marker.
    pub marker_ttl: Duration,
    /// The Firestore database id.
    pub database: String,
    /// Overall time for one Firestore call, retries included.
    pub commit_deadline: Duration,
    /// `event_name`s whose items are subtracted (counter, revenue, profit).
    pub refund_events: Vec<String>,
    /// `backfill = "count"` (the default) or `"skip"`: what becomes of the
    /// messages of a backfill request.
    pub backfill: Backfill,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            push: PushAuth::off(),
            shards: 1,
            count_preview: false,
            catalog_ttl: Duration::from_secs(60),
            marker_ttl: Duration::from_secs(10 * 86_400),
            database: "(default)".to_string(),
            commit_deadline: Duration::from_secs(10),
            refund_events: vec!["refund".to_string()],
            backfill: Backfill::Handle,
        }
    }
}

impl Settings {
    /// Parses `[counters]`; every key is checked, unknown keys are errors.
    pub fn parse(section: &toml::Table) -> Result<Self, ConfigError> {
        let raw: Raw = hermes_core::config::parse_section("counters", section)?;
        let mut s = Settings {
            push: PushAuth::parse(
                "counters",
                raw.push_audience,
                raw.push_service_account,
                raw.jwks_url,
            )?,
            ..Settings::default()
        };
        if let Some(n) = raw.shards {
            s.shards = u32::try_from(n)
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| ConfigError::invalid("counters.shards", "must be from 1 to 1000"))?;
        }
        if let Some(v) = raw.count_preview {
            s.count_preview = v;
        }
        if let Some(v) = raw.catalog_ttl_secs {
            s.catalog_ttl = Duration::from_secs(v);
        }
        if let Some(v) = raw.marker_ttl_days {
            if v == 0 {
                return Err(ConfigError::invalid(
                    "counters.marker_ttl_days",
                    "must be at least 1",
                ));
            }
            s.marker_ttl = Duration::from_secs(v * 86_400);
        }
        if let Some(v) = raw.database {
            s.database = non_empty("counters.database", v)?;
        }
        if let Some(v) = raw.commit_deadline_ms {
            if v == 0 {
                return Err(ConfigError::invalid(
                    "counters.commit_deadline_ms",
                    "must be positive",
                ));
            }
            s.commit_deadline = Duration::from_millis(v);
        }
        if let Some(v) = raw.refund_events {
            if v.iter().any(|e| e.trim().is_empty()) {
                return Err(ConfigError::invalid(
                    "counters.refund_events",
                    "event names must not be empty",
                ));
            }
            s.refund_events = v;
        }
        if let Some(v) = raw.backfill {
            s.backfill = match v.as_str() {
                "count" => Backfill::Handle,
                "skip" => Backfill::Skip,
                other => {
                    return Err(ConfigError::invalid(
                        "counters.backfill",
                        format!("\"{other}\": expected \"count\" or \"skip\""),
                    ))
                }
            };
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

    #[test]
    fn defaults_and_errors() {
        assert_eq!(parse("").unwrap(), Settings::default());
        assert_eq!(parse("shards = 4").unwrap().shards, 4);
        assert!(parse("shards = 0")
            .unwrap_err()
            .to_string()
            .contains("counters.shards"));
        assert!(parse("shard = 2")
            .unwrap_err()
            .to_string()
            .contains("shard"));
        assert!(parse("push_service_account = \"a@b\"").is_err());
        assert_eq!(parse("").unwrap().refund_events, ["refund"]);
        assert_eq!(
            parse("refund_events = [\"refund\", \"return\"]")
                .unwrap()
                .refund_events,
            ["refund", "return"]
        );
        assert!(parse("refund_events = [\"\"]")
            .unwrap_err()
            .to_string()
            .contains("counters.refund_events"));
        assert!(parse("count_preview = \"yes\"")
            .unwrap_err()
            .to_string()
            .contains("counters"));
    }

    #[test]
    fn backfill_is_counted_unless_skipped() {
        assert_eq!(parse("").unwrap().backfill, Backfill::Handle);
        assert_eq!(
            parse("backfill = \"count\"").unwrap().backfill,
            Backfill::Handle
        );
        assert_eq!(
            parse("backfill = \"skip\"").unwrap().backfill,
            Backfill::Skip
        );
        for bad in [
            "backfill = \"deliver\"",
            "backfill = \"Skip\"",
            "backfill = \"\"",
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("counters.backfill"), "{bad}: {e}");
        }
        // A value of another type is serde's error, under the section's name.
        assert!(parse("backfill = true")
            .unwrap_err()
            .to_string()
            .contains("counters"));
    }

    /// The job declares what the settings say: the kit reads it from there.
    #[test]
    fn the_job_declares_its_backfill_setting() {
        use hermes_push::PushJob;
        let job = |text: &str| {
            // Never called: declaring reads no store.
            let nowhere = hermes_gcp::Endpoint {
                base: "http://127.0.0.1:9".into(),
                auth: hermes_gcp::Auth::Static("owner".into()),
            };
            let store = hermes_gcp::firestore::FirestoreStore::new(
                nowhere,
                "p",
                "(default)",
                Duration::from_secs(1),
            );
            crate::Counters::new(parse(text).unwrap(), std::sync::Arc::new(store)).backfill()
        };
        assert_eq!(job(""), Backfill::Handle);
        assert_eq!(job("backfill = \"skip\""), Backfill::Skip);
    }
}
