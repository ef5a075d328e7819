//! The `[enrich]` section of the shared configuration, parsed once at start-up
//! into typed values: a topic name, collection ids, field paths, durations.

use hermes_core::config::{event_names, non_empty, Config, ConfigError, Section};
use hermes_core::destination::TopicName;
use hermes_core::field_path::FieldPath;
use hermes_core::store::CollectionId;
use hermes_push::PushAuth;
use serde::Deserialize;
use std::time::Duration;

pub const DEFAULT_CACHE_TTL_SECS: u64 = 60;
/// A day: longer and an edited document would stay unseen for too long.
pub const MAX_CACHE_TTL_SECS: u64 = 86_400;
/// Lookups per message: all of a message's lookups are one `batchGet`.
pub const MAX_LOOKUPS: usize = 16;
pub const DEFAULT_GEO_DATABASE_ENV: &str = "HERMES_GEO_DB";
pub const DEFAULT_PUBLISH_DEADLINE_MS: u64 = 10_000;
/// Pub/Sub waits at most 600 s for a push: a longer publish is redelivered while it runs.
pub const MAX_DEADLINE_MS: u64 = 600_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    output_topic: Option<String>,
    events: Option<Vec<String>>,
    received_at: Option<String>,
    #[serde(default)]
    lookups: Vec<RawLookup>,
    user_agent: Option<RawFromInto>,
    geo: Option<RawGeo>,
    push_audience: Option<String>,
    push_service_account: Option<String>,
    jwks_url: Option<String>,
    database: Option<String>,
    store_deadline_ms: Option<u64>,
    publish_deadline_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLookup {
    collection: String,
    key: String,
    into: String,
    fields: Option<Vec<String>>,
    on_missing: Option<String>,
    cache_ttl_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFromInto {
    from: String,
    into: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGeo {
    from: String,
    into: String,
    database_env: Option<String>,
}

/// What a lookup whose document does not exist does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMissing {
    /// Publish the event without it.
    Skip,
    /// Write `null` under `into`.
    Null,
    /// The message is poison (400): dead-lettered after its attempts.
    Fail,
}

/// `[[enrich.lookups]]`: a Firestore document joined into the event.
#[derive(Debug, Clone, PartialEq)]
pub struct Lookup {
    pub collection: CollectionId,
    /// The payload path whose value (a string or a number) is the document id.
    pub key: FieldPath,
    pub into: FieldPath,
    /// The fields copied; `None`: every field.
    pub fields: Option<Vec<String>>,
    pub on_missing: OnMissing,
    /// How long a document (or its absence) is kept; zero: read every time.
    pub cache_ttl: Duration,
}

/// `[enrich.user_agent]`: the device, from a user agent string.
#[derive(Debug, Clone, PartialEq)]
pub struct UserAgent {
    pub from: FieldPath,
    pub into: FieldPath,
}

/// `[enrich.geo]`: the place of an IP address, from a MaxMind-format file.
#[derive(Debug, Clone, PartialEq)]
pub struct Geo {
    pub from: FieldPath,
    pub into: FieldPath,
    /// The environment variable holding the `.mmdb` file's path.
    pub database_env: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub output_topic: TopicName,
    /// `event_name` attributes enriched; empty: every event.
    pub events: Vec<String>,
    /// The key that receives the message's `publishTime`.
    pub received_at: Option<FieldPath>,
    pub lookups: Vec<Lookup>,
    pub user_agent: Option<UserAgent>,
    pub geo: Option<Geo>,
    pub push: PushAuth,
    /// The Firestore database id of the lookups.
    pub database: String,
    /// Overall time for one Firestore read, retries included.
    pub store_deadline: Duration,
    /// Overall time for the enriched event's publish, retries included.
    pub publish_deadline: Duration,
}

fn path(key: &str, text: &str) -> Result<FieldPath, ConfigError> {
    FieldPath::parse(text).ok_or_else(|| {
        ConfigError::invalid(key, format!("{text:?} is not a dotted path (a.b.0.c)"))
    })
}

fn millis(key: &str, value: Option<u64>, default: u64) -> Result<Duration, ConfigError> {
    match value {
        Some(ms) if ms == 0 || ms > MAX_DEADLINE_MS => Err(ConfigError::invalid(
            key,
            format!(
                "must be from 1 to {MAX_DEADLINE_MS} (Pub/Sub's longest acknowledgement deadline)"
            ),
        )),
        Some(ms) => Ok(Duration::from_millis(ms)),
        None => Ok(Duration::from_millis(default)),
    }
}

fn env_name(key: &str, name: String) -> Result<String, ConfigError> {
    let name = non_empty(key, name)?;
    if name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(name)
    } else {
        Err(ConfigError::invalid(
            key,
            "must be an environment variable name (letters, digits, _)",
        ))
    }
}

impl Settings {
    /// `[enrich]` of the shared configuration; `None` when the section is absent.
    pub fn from_config(config: &Config) -> Result<Option<Self>, ConfigError> {
        if !config.has_section(Section::Enrich) {
            return Ok(None);
        }
        Self::parse(config, config.section(Section::Enrich)).map(Some)
    }

    /// Parses `[enrich]`; every key is checked, unknown keys are errors.
    /// `config` completes a bare `output_topic` with the project.
    pub fn parse(config: &Config, section: &toml::Table) -> Result<Self, ConfigError> {
        let raw: Raw = hermes_core::config::parse_section("enrich", section)?;
        let topic = raw.output_topic.ok_or_else(|| {
            ConfigError::invalid(
                "enrich.output_topic",
                "is required (the enriched events' topic)",
            )
        })?;
        let output_topic = config.section_topic(&topic, "enrich.output_topic")?;
        if config.topics().contains(&&output_topic) {
            // Enrich reads what a destination publishes: writing back to it loops.
            return Err(ConfigError::invalid(
                "enrich.output_topic",
                format!("{output_topic} is a destination's topic: the enriched copies would be enriched again"),
            ));
        }
        let events = event_names("enrich.events", "enrich", raw.events)?;
        let received_at = raw
            .received_at
            .map(|p| path("enrich.received_at", &p))
            .transpose()?;
        if raw.lookups.len() > MAX_LOOKUPS {
            return Err(ConfigError::invalid(
                "enrich.lookups",
                format!(
                    "at most {MAX_LOOKUPS} lookups (one Firestore read per message holds them all)"
                ),
            ));
        }
        let lookups = raw
            .lookups
            .into_iter()
            .enumerate()
            .map(|(i, l)| Lookup::parse(i, l))
            .collect::<Result<Vec<_>, _>>()?;
        let user_agent = raw
            .user_agent
            .map(|u| {
                Ok::<_, ConfigError>(UserAgent {
                    from: path("enrich.user_agent.from", &u.from)?,
                    into: path("enrich.user_agent.into", &u.into)?,
                })
            })
            .transpose()?;
        let geo = raw
            .geo
            .map(|g| {
                Ok::<_, ConfigError>(Geo {
                    from: path("enrich.geo.from", &g.from)?,
                    into: path("enrich.geo.into", &g.into)?,
                    database_env: env_name(
                        "enrich.geo.database_env",
                        g.database_env
                            .unwrap_or_else(|| DEFAULT_GEO_DATABASE_ENV.into()),
                    )?,
                })
            })
            .transpose()?;
        let settings = Self {
            output_topic,
            events,
            received_at,
            lookups,
            user_agent,
            geo,
            push: PushAuth::parse(
                "enrich",
                raw.push_audience,
                raw.push_service_account,
                raw.jwks_url,
            )?,
            database: raw
                .database
                .map(|v| non_empty("enrich.database", v))
                .transpose()?
                .unwrap_or_else(|| "(default)".into()),
            store_deadline: millis("enrich.store_deadline_ms", raw.store_deadline_ms, 10_000)?,
            publish_deadline: millis(
                "enrich.publish_deadline_ms",
                raw.publish_deadline_ms,
                DEFAULT_PUBLISH_DEADLINE_MS,
            )?,
        };
        settings.check_targets()?;
        Ok(settings)
    }

    /// Every key an enrichment writes, with the key of the setting that names it.
    pub fn targets(&self) -> Vec<(String, &FieldPath)> {
        let mut out = Vec::new();
        if let Some(p) = &self.received_at {
            out.push(("enrich.received_at".to_string(), p));
        }
        for (i, l) in self.lookups.iter().enumerate() {
            out.push((format!("enrich.lookups[{i}].into"), &l.into));
        }
        if let Some(u) = &self.user_agent {
            out.push(("enrich.user_agent.into".to_string(), &u.into));
        }
        if let Some(g) = &self.geo {
            out.push(("enrich.geo.into".to_string(), &g.into));
        }
        out
    }

    /// Two enrichments writing the same key (or one inside the other's) would
    /// overwrite each other in an order nobody chose: refused.
    fn check_targets(&self) -> Result<(), ConfigError> {
        let targets = self.targets();
        for (i, (key, a)) in targets.iter().enumerate() {
            for (other, b) in &targets[..i] {
                let (a, b) = (a.as_str(), b.as_str());
                let nested = |outer: &str, inner: &str| {
                    inner.len() > outer.len()
                        && inner.starts_with(outer)
                        && inner.as_bytes()[outer.len()] == b'.'
                };
                if a == b || nested(a, b) || nested(b, a) {
                    return Err(ConfigError::invalid(
                        key.as_str(),
                        format!(
                            "{a:?} overlaps {other} ({b:?}): each enrichment needs its own key"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether an event of this name is enriched.
    pub fn matches(&self, event_name: Option<&str>) -> bool {
        self.events.is_empty() || event_name.is_some_and(|n| self.events.iter().any(|e| e == n))
    }
}

impl Lookup {
    fn parse(i: usize, raw: RawLookup) -> Result<Self, ConfigError> {
        let key = |k: &str| format!("enrich.lookups[{i}].{k}");
        let collection = CollectionId::parse(raw.collection)
            .map_err(|e| ConfigError::invalid(key("collection"), e.to_string()))?;
        let fields = match raw.fields {
            Some(f) if f.is_empty() => {
                return Err(ConfigError::invalid(
                    key("fields"),
                    "must list at least one field (leave it out to copy every field)",
                ))
            }
            Some(f) => {
                if let Some(j) = f.iter().position(|x| x.is_empty()) {
                    return Err(ConfigError::invalid(
                        format!("enrich.lookups[{i}].fields[{j}]"),
                        "must not be empty",
                    ));
                }
                Some(f)
            }
            None => None,
        };
        let on_missing = match raw.on_missing.as_deref().unwrap_or("skip") {
            "skip" => OnMissing::Skip,
            "null" => OnMissing::Null,
            "fail" => OnMissing::Fail,
            other => {
                return Err(ConfigError::invalid(
                    key("on_missing"),
                    format!("\"{other}\": expected \"skip\", \"null\" or \"fail\""),
                ))
            }
        };
        let cache_ttl = match raw.cache_ttl_secs {
            Some(s) if s > MAX_CACHE_TTL_SECS => {
                return Err(ConfigError::invalid(
                    key("cache_ttl_secs"),
                    format!("must be at most {MAX_CACHE_TTL_SECS} (a day)"),
                ))
            }
            Some(s) => Duration::from_secs(s),
            None => Duration::from_secs(DEFAULT_CACHE_TTL_SECS),
        };
        Ok(Self {
            collection,
            key: path(&key("key"), &raw.key)?,
            into: path(&key("into"), &raw.into)?,
            fields,
            on_missing,
            cache_ttl,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[[destinations]]\nname = 'all'\ntopic = 'events'\n";

    fn parse(enrich: &str) -> Result<Settings, ConfigError> {
        let text = format!("{BASE}[enrich]\n{enrich}");
        let config = Config::parse(&text, Some("p"))?;
        Ok(Settings::from_config(&config)?.expect("the section is there"))
    }

    fn err(enrich: &str) -> String {
        parse(enrich).unwrap_err().to_string()
    }

    #[test]
    fn the_contract_example_parses() {
        let s = parse(
            r#"
output_topic = "events-enriched"
events = ["purchase"]
received_at = "received_at"
[[enrich.lookups]]
collection = "customers"
key = "user_id"
into = "customer"
fields = ["segment", "lifetime_value"]
on_missing = "skip"
cache_ttl_secs = 60
[enrich.user_agent]
from = "user_agent"
into = "device"
[enrich.geo]
from = "ip_override"
into = "geo"
database_env = "HERMES_GEO_DB"
"#,
        )
        .unwrap();
        assert_eq!(s.output_topic.as_str(), "projects/p/topics/events-enriched");
        assert_eq!(s.lookups.len(), 1);
        assert_eq!(s.lookups[0].collection.as_str(), "customers");
        assert_eq!(s.lookups[0].on_missing, OnMissing::Skip);
        assert_eq!(s.lookups[0].cache_ttl, Duration::from_secs(60));
        assert_eq!(s.user_agent.as_ref().unwrap().into.as_str(), "device");
        assert_eq!(s.geo.as_ref().unwrap().database_env, "HERMES_GEO_DB");
        assert!(s.matches(Some("purchase")));
        assert!(!s.matches(Some("page_view")));
        assert!(!s.matches(None));
    }

    #[test]
    fn absent_section_is_no_enrich() {
        let config = Config::parse(BASE, Some("p")).unwrap();
        assert!(Settings::from_config(&config).unwrap().is_none());
    }

    #[test]
    fn every_error_names_its_key() {
        assert!(err("events = ['purchase']").contains("enrich.output_topic"));
        assert!(err("output_topic = 'a b'").contains("enrich.output_topic"));
        assert!(err("output_topic = 'out'\nevents = []").contains("enrich.events"));
        assert!(err("output_topic = 'out'\nevents = ['']").contains("enrich.events[0]"));
        assert!(err("output_topic = 'out'\nreceived_at = 'a..b'").contains("enrich.received_at"));
        assert!(err("output_topic = 'out'\nunknown = 1").contains("unknown"));
        let lookup = |extra: &str| {
            err(&format!(
                "output_topic = 'out'\n[[enrich.lookups]]\ncollection = 'c'\nkey = 'k'\ninto = 'i'\n{extra}"
            ))
        };
        assert!(lookup("on_missing = 'drop'").contains("enrich.lookups[0].on_missing"));
        assert!(lookup("fields = []").contains("enrich.lookups[0].fields"));
        assert!(lookup("cache_ttl_secs = 100000").contains("enrich.lookups[0].cache_ttl_secs"));
        assert!(err(
            "output_topic = 'out'\n[[enrich.lookups]]\ncollection = 'a/b'\nkey = 'k'\ninto = 'i'"
        )
        .contains("enrich.lookups[0].collection"));
        assert!(err(
            "output_topic = 'out'\n[enrich.geo]\nfrom = 'ip'\ninto = 'geo'\ndatabase_env = 'A-B'"
        )
        .contains("enrich.geo.database_env"));
        assert!(
            err("output_topic = 'out'\npublish_deadline_ms = 0").contains("publish_deadline_ms")
        );
    }

    #[test]
    fn settings_that_cannot_work_stop_start_up() {
        // Publishing back to the topic enrich reads loops for ever.
        assert!(err("output_topic = 'events'").contains("enrich.output_topic"));
        // Two enrichments writing one key, or one inside the other.
        let e = err(
            "output_topic = 'out'\nreceived_at = 'geo'\n[enrich.geo]\nfrom = 'ip'\ninto = 'geo'",
        );
        assert!(e.contains("enrich.geo.into"), "{e}");
        let e = err(
            "output_topic = 'out'\nreceived_at = 'geo.at'\n[enrich.geo]\nfrom = 'ip'\ninto = 'geo'",
        );
        assert!(e.contains("overlaps"), "{e}");
        // A common prefix is no overlap.
        assert!(parse("output_topic = 'out'\nreceived_at = 'geography'\n[enrich.geo]\nfrom = 'ip'\ninto = 'geo'").is_ok());
        let many: String = (0..=MAX_LOOKUPS)
            .map(|i| format!("[[enrich.lookups]]\ncollection = 'c'\nkey = 'k'\ninto = 'i{i}'\n"))
            .collect();
        assert!(err(&format!("output_topic = 'out'\n{many}")).contains("enrich.lookups"));
    }
}
