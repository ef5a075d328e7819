//! The `[notify]` section of the shared configuration, parsed once at start-up.

use crate::template::Template;
use hermes_core::config::{event_names, non_empty, ConfigError};
use hermes_push::{Backfill, PushAuth};
use serde::Deserialize;
use std::time::Duration;

pub const DEFAULT_WEBHOOK_URL_ENV: &str = "HERMES_NOTIFY_WEBHOOK_URL";
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
pub const MAX_TIMEOUT_MS: u64 = 600_000;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Raw {
    webhook_url_env: Option<String>,
    events: Option<Vec<String>>,
    template: Option<String>,
    body: Option<String>,
    timeout_ms: Option<u64>,
    push_audience: Option<String>,
    push_service_account: Option<String>,
    jwks_url: Option<String>,
    notify_preview: Option<bool>,
    marker_ttl_days: Option<u64>,
    database: Option<String>,
    store_deadline_ms: Option<u64>,
    backfill: Option<String>,
}

/// What the webhook receives.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyKind {
    /// `{"text": <rendered template>}`: Slack's (and many chats') incoming-webhook shape.
    Slack(Template),
    /// The event's payload itself.
    Json,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The environment variable holding the webhook URL (a secret: never in the file).
    pub webhook_url_env: String,
    /// `event_name` attributes that notify; empty: every event.
    pub events: Vec<String>,
    pub body: BodyKind,
    /// One webhook call, connection included; beyond it the message is retried.
    pub timeout: Duration,
    /// `push_audience`, `push_service_account`, `jwks_url`: with an audience,
    /// push requests must carry a Google-signed OIDC token for it.
    pub push: PushAuth,
    /// Notify for messages published by preview requests too.
    pub notify_preview: bool,
    /// How long markers are kept: longer than Pub/Sub's retention (7 days by default).
    pub marker_ttl: Duration,
    /// The Firestore database id.
    pub database: String,
    /// Overall time for one Firestore call, retries included.
    pub store_deadline: Duration,
    /// `backfill = "skip"` (the default: old events sent again are no news)
    /// or `"deliver"`.
    pub backfill: Backfill,
}

impl Settings {
    /// Parses `[notify]`; every key is checked, unknown keys are errors.
    pub fn parse(section: &toml::Table) -> Result<Self, ConfigError> {
        let raw: Raw = hermes_core::config::parse_section("notify", section)?;
        let webhook_url_env = match raw.webhook_url_env {
            Some(v) => {
                let v = non_empty("notify.webhook_url_env", v)?;
                if !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return Err(ConfigError::invalid(
                        "notify.webhook_url_env",
                        "must be an environment variable name (letters, digits, _)",
                    ));
                }
                v
            }
            None => DEFAULT_WEBHOOK_URL_ENV.into(),
        };
        let events = event_names("notify.events", "notify", raw.events)?;
        let body = match raw.body.as_deref().unwrap_or("slack") {
            "slack" => {
                let text = raw.template.ok_or_else(|| {
                    ConfigError::invalid("notify.template", "is required when body = \"slack\"")
                })?;
                if text.trim().is_empty() {
                    return Err(ConfigError::invalid(
                        "notify.template",
                        "must not be empty (every message would be a blank one)",
                    ));
                }
                BodyKind::Slack(
                    Template::parse(&text)
                        .map_err(|e| ConfigError::invalid("notify.template", e.to_string()))?,
                )
            }
            "json" => {
                if raw.template.is_some() {
                    return Err(ConfigError::invalid(
                        "notify.template",
                        "is not used with body = \"json\" (the payload is sent as it is)",
                    ));
                }
                BodyKind::Json
            }
            other => {
                return Err(ConfigError::invalid(
                    "notify.body",
                    format!("\"{other}\": expected \"slack\" or \"json\""),
                ))
            }
        };
        let timeout = match raw.timeout_ms {
            // Pub/Sub waits at most 600 s for a push: a longer call is redelivered while it runs.
            Some(ms) if ms == 0 || ms > MAX_TIMEOUT_MS => {
                return Err(ConfigError::invalid(
                    "notify.timeout_ms",
                    format!("must be from 1 to {MAX_TIMEOUT_MS} (Pub/Sub's longest acknowledgement deadline)"),
                ))
            }
            Some(ms) => Duration::from_millis(ms),
            None => Duration::from_millis(DEFAULT_TIMEOUT_MS),
        };
        let push = PushAuth::parse(
            "notify",
            raw.push_audience,
            raw.push_service_account,
            raw.jwks_url,
        )?;
        let marker_ttl = match raw.marker_ttl_days {
            Some(0) => {
                return Err(ConfigError::invalid(
                    "notify.marker_ttl_days",
                    "must be at least 1",
                ))
            }
            Some(d) => Duration::from_secs(d.saturating_mul(86_400)),
            None => Duration::from_secs(10 * 86_400),
        };
        let store_deadline = match raw.store_deadline_ms {
            Some(0) => {
                return Err(ConfigError::invalid(
                    "notify.store_deadline_ms",
                    "must be positive",
                ))
            }
            Some(ms) => Duration::from_millis(ms),
            None => Duration::from_secs(10),
        };
        let backfill = match raw.backfill.as_deref().unwrap_or("skip") {
            "skip" => Backfill::Skip,
            "deliver" => Backfill::Handle,
            other => {
                return Err(ConfigError::invalid(
                    "notify.backfill",
                    format!("\"{other}\": expected \"skip\" or \"deliver\""),
                ))
            }
        };
        Ok(Self {
            webhook_url_env,
            events,
            body,
            timeout,
            push,
            notify_preview: raw.notify_preview.unwrap_or(false),
            marker_ttl,
            database: raw
                .database
                .map(|v| non_empty("notify.database", v))
                .transpose()?
                .unwrap_or_else(|| "(default)".into()),
            store_deadline,
            backfill,
        })
    }

    /// Whether an event of this name notifies.
    pub fn matches(&self, event_name: Option<&str>) -> bool {
        self.events.is_empty() || event_name.is_some_and(|n| self.events.iter().any(|e| e == n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        let table: toml::Table = toml::from_str(text).unwrap();
        Settings::parse(&table)
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn defaults() {
        let s = parse("template = 'hi'").unwrap();
        assert_eq!(s.webhook_url_env, DEFAULT_WEBHOOK_URL_ENV);
        assert_eq!(s.timeout, Duration::from_secs(10));
        assert!(s.events.is_empty());
        assert!(s.matches(None));
        assert!(matches!(s.body, BodyKind::Slack(_)));
        assert_eq!(parse("body = 'json'").unwrap().body, BodyKind::Json);
        assert_eq!(s.backfill, Backfill::Skip);
    }

    #[test]
    fn backfill_is_skipped_unless_delivered() {
        assert_eq!(
            parse("template = 'x'\nbackfill = 'skip'").unwrap().backfill,
            Backfill::Skip
        );
        assert_eq!(
            parse("template = 'x'\nbackfill = 'deliver'")
                .unwrap()
                .backfill,
            Backfill::Handle
        );
        for bad in ["'count'", "'handle'", "'Deliver'", "''"] {
            let e = err(&format!("template = 'x'\nbackfill = {bad}"));
            assert!(e.contains("notify.backfill"), "{bad}: {e}");
        }
        // A value of another type is serde's error, under the section's name.
        assert!(err("template = 'x'\nbackfill = false").contains("notify"));
    }

    #[test]
    fn events_match_by_name() {
        let s = parse("template = 'x'\nevents = ['purchase']").unwrap();
        assert!(s.matches(Some("purchase")));
        assert!(!s.matches(Some("page_view")));
        assert!(!s.matches(None));
    }

    #[test]
    fn every_error_names_its_key() {
        assert!(err("").contains("notify.template"));
        assert!(err("template = 'x'\nbody = 'xml'").contains("notify.body"));
        assert!(err("body = 'json'\ntemplate = 'x'").contains("notify.template"));
        assert!(err("template = 'x'\ntimeout_ms = 0").contains("notify.timeout_ms"));
        assert!(err("template = '{{a'").contains("notify.template"));
        assert!(err("template = 'x'\nwebhook_url_env = 'A-B'").contains("webhook_url_env"));
        assert!(err("template = 'x'\nwebhook_url = 'https://x'").contains("webhook_url"));
        assert!(err("template = 'x'\nevents = ['']").contains("notify.events[0]"));
        assert!(err("template = 'x'\npush_service_account = 'a@b'").contains("push_audience"));
    }

    /// Settings that would make notify useless or surprising stop start-up:
    /// `events = []` (which notified every event), a blank template (blank
    /// messages), a call longer than Pub/Sub ever waits for a push.
    #[test]
    fn settings_that_cannot_work_stop_start_up() {
        assert!(err("template = 'x'\nevents = []").contains("notify.events"));
        assert!(err("template = 'x'\nevents = [' ']").contains("notify.events[0]"));
        assert!(err("template = ''").contains("notify.template"));
        assert!(err("template = '   '").contains("notify.template"));
        assert!(err("template = 'x'\ntimeout_ms = 999999999999").contains("notify.timeout_ms"));
        assert!(parse("template = 'x'\ntimeout_ms = 600000").is_ok());
    }

    #[test]
    fn the_shared_configuration_keeps_notify_for_notify() {
        let text = "[counters]\nshards = 2\n[notify]\ntemplate = 'x'\ntimeout_ms = 500\n";
        let config = hermes_core::config::Config::parse(text, Some("p")).unwrap();
        let s = crate::Notify::settings_from(&config).unwrap().unwrap();
        assert_eq!(s.timeout, Duration::from_millis(500));
        assert_eq!(
            config
                .section(hermes_core::config::Section::Counters)
                .get("shards")
                .and_then(|v| v.as_integer()),
            Some(2)
        );
        // No section: no notify.
        let none = hermes_core::config::Config::parse("", Some("p")).unwrap();
        assert!(crate::Notify::settings_from(&none).unwrap().is_none());
        // A bad key inside [notify] is notify's error, named.
        let bad = hermes_core::config::Config::parse("[notify]\ntemplat = 'x'", Some("p")).unwrap();
        assert!(crate::Notify::settings_from(&bad)
            .unwrap_err()
            .to_string()
            .contains("templat"));
    }
}
