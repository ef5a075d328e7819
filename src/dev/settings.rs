//! What `hermes dev` runs with: the built-in sample configuration, the `[dev]`
//! section of the shared configuration, and the command line.

use hermes_core::config::{Config, ConfigError, Section};
use hermes_core::destination::TopicName;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Used when neither `HERMES_CONFIG` nor `HERMES_CONFIG_TOML` is set: every
/// event carrying `items` is published whole and its items are counted; the
/// quarantine is on, so refused events are kept (`/dev/quarantine`).
pub const SAMPLE_CONFIG: &str = r#"
container_id = "hermes-dev"

[[destinations]]
name = "items-realtime"
topic = "items-realtime"
require = ["items"]
[destinations.attributes]
source = "hermes-dev"

[quarantine]
topic = "hermes-quarantine"
"#;

pub const DEFAULT_PROJECT: &str = "hermes-dev";
const DEFAULT_DATABASE: &str = "hermes-data/hermes.db";

/// Why `hermes dev` cannot start: a usage error on the command line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// `[dev]`: settings of `hermes dev` only.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDev {
    database: Option<String>,
    push_topics: Option<Vec<String>>,
    notify_topics: Option<Vec<String>>,
    enrich_topics: Option<Vec<String>>,
    retry_min_ms: Option<u64>,
    retry_max_ms: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct DevSettings {
    /// The SQLite file holding the queue and the counters.
    pub database: PathBuf,
    /// Topics delivered to the counters.
    pub push_topics: Vec<TopicName>,
    /// Topics delivered to notify, when `[notify]` is configured (default: the
    /// topics of whole-event destinations, else every topic).
    pub notify_topics: Vec<TopicName>,
    /// Topics delivered to enrich, when `[enrich]` is configured (default: as notify's).
    pub enrich_topics: Vec<TopicName>,
    pub retry_min: Duration,
    pub retry_max: Duration,
}

impl DevSettings {
    pub fn parse(config: &Config, project: &str) -> Result<Self, ConfigError> {
        let raw: RawDev = hermes_core::config::parse_section("dev", config.section(Section::Dev))?;
        let topics = |key: &str, list: Vec<String>| {
            list.iter()
                .enumerate()
                .map(|(i, t)| {
                    TopicName::parse(t, Some(project))
                        .map_err(|e| ConfigError::invalid(format!("dev.{key}[{i}]"), e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        // The topics that carry whole events, which notify's template and
        // enrich's paths are written for: a mapped copy of the same event
        // (same identity) would otherwise race it, and whichever came first won.
        let whole_events = || {
            let mut whole: Vec<TopicName> = Vec::new();
            for d in config.destinations.iter().filter(|d| d.mapping.is_none()) {
                if !whole.contains(&d.topic) {
                    whole.push(d.topic.clone());
                }
            }
            if whole.is_empty() {
                config.topics().into_iter().cloned().collect()
            } else {
                whole
            }
        };
        let notify_topics = match raw.notify_topics {
            Some(list) => topics("notify_topics", list)?,
            None => whole_events(),
        };
        let enrich_topics = match raw.enrich_topics {
            Some(list) => topics("enrich_topics", list)?,
            None => whole_events(),
        };
        let push_topics = match raw.push_topics {
            Some(list) => topics("push_topics", list)?,
            // The topics whose messages carry items; all topics if none says so.
            None => {
                let with_items: Vec<TopicName> = config
                    .destinations
                    .iter()
                    .filter(|d| d.require.iter().any(|p| p.as_str() == "items"))
                    .map(|d| d.topic.clone())
                    .collect();
                if with_items.is_empty() {
                    config.topics().into_iter().cloned().collect()
                } else {
                    with_items
                }
            }
        };
        let retry_min = Duration::from_millis(raw.retry_min_ms.unwrap_or(1000));
        let retry_max = Duration::from_millis(raw.retry_max_ms.unwrap_or(60_000));
        if retry_max < retry_min {
            return Err(ConfigError::invalid(
                "dev.retry_max_ms",
                "must be at least dev.retry_min_ms",
            ));
        }
        Ok(Self {
            database: PathBuf::from(raw.database.unwrap_or_else(|| DEFAULT_DATABASE.into())),
            push_topics,
            notify_topics,
            enrich_topics,
            retry_min,
            retry_max,
        })
    }
}

/// Refuses a notify template that reads a field no message of a notify topic
/// can have: a topic that only mapped destinations publish to carries their
/// keys, and a placeholder outside them would always render empty (`New
/// order :  ( items)`). `fields` are the template's top-level fields.
pub fn check_notify_fields(
    config: &Config,
    topics: &[TopicName],
    fields: &[&str],
) -> Result<(), ConfigError> {
    for topic in topics {
        let mut keys: Vec<&str> = Vec::new();
        let mut whole = false;
        for d in config.destinations.iter().filter(|d| &d.topic == topic) {
            match &d.mapping {
                None => whole = true,
                Some(rows) => keys.extend(rows.iter().map(|r| r.key.as_str())),
            }
        }
        if whole {
            continue;
        }
        if let Some(missing) = fields.iter().find(|f| !keys.contains(f)) {
            return Err(ConfigError::invalid(
                "notify.template",
                format!(
                    "{{{{{missing}}}}} is in no message of topic {topic}, whose destinations \
                     map only {}; list the topics notify reads in [dev] notify_topics",
                    keys.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Command-line options of `hermes dev`.
#[derive(Debug, Default)]
pub struct Options {
    pub port: Option<u16>,
    /// Interface to listen on; loopback unless asked, since dev has no auth by default.
    pub host: Option<std::net::IpAddr>,
    pub database: Option<PathBuf>,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Self, UsageError> {
        let mut o = Options::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| UsageError(format!("{name} needs a value")))
            };
            match arg.as_str() {
                "--port" => {
                    let v = value("--port")?;
                    o.port = Some(
                        v.parse()
                            .map_err(|_| UsageError(format!("--port {v}: not a port number")))?,
                    );
                }
                "--db" => o.database = Some(PathBuf::from(value("--db")?)),
                "--host" => {
                    let v = value("--host")?;
                    o.host = Some(
                        v.parse()
                            .map_err(|_| UsageError(format!("--host {v}: not an IP address")))?,
                    );
                }
                other => return Err(UsageError(format!("unknown option {other}"))),
            }
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHOLE_AND_MAPPED: &str = r#"
[[destinations]]
name = "events"
topic = "events"
[[destinations]]
name = "orders"
topic = "orders"
[destinations.mapping]
order = "transaction_id"
"#;

    fn config(text: &str) -> Config {
        Config::parse(text, Some("p")).expect("config")
    }

    #[test]
    fn notify_reads_the_whole_event_topics_by_default() {
        let dev = DevSettings::parse(&config(WHOLE_AND_MAPPED), "p").unwrap();
        let names: Vec<String> = dev.notify_topics.iter().map(|t| t.to_string()).collect();
        assert_eq!(names, ["projects/p/topics/events"]);
        // Only mapped destinations: every topic, as before.
        let mapped = "[[destinations]]\nname = \"o\"\ntopic = \"orders\"\n[destinations.mapping]\norder = \"transaction_id\"\n";
        let dev = DevSettings::parse(&config(mapped), "p").unwrap();
        assert_eq!(dev.notify_topics.len(), 1);
    }

    /// The sample turns the quarantine on, without delivering its topic to
    /// the counters or notify; a configuration of one's own only with `[quarantine]`.
    #[test]
    fn the_sample_keeps_bad_rows_and_delivers_them_nowhere() {
        use hermes_ingest::quarantine::Quarantine;
        let sample = config(SAMPLE_CONFIG);
        let topic = Quarantine::from_config(&sample)
            .expect("valid [quarantine]")
            .expect("on in the sample")
            .topic;
        assert_eq!(topic.to_string(), "projects/p/topics/hermes-quarantine");
        let dev = DevSettings::parse(&sample, "p").unwrap();
        assert!(!dev.push_topics.contains(&topic), "{:?}", dev.push_topics);
        assert!(
            !dev.notify_topics.contains(&topic),
            "{:?}",
            dev.notify_topics
        );
        let own = config(WHOLE_AND_MAPPED);
        assert!(Quarantine::from_config(&own).expect("no section").is_none());
    }

    #[test]
    fn a_template_field_no_notify_topic_carries_stops_start_up() {
        let c = config(WHOLE_AND_MAPPED);
        let topic = |id: &str| TopicName::parse(id, Some("p")).unwrap();
        // The mapped topic carries `order` only.
        let err = check_notify_fields(&c, &[topic("orders")], &["order", "items"]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("notify.template")
                && text.contains("{{items}}")
                && text.contains("notify_topics"),
            "{text}"
        );
        assert!(check_notify_fields(&c, &[topic("orders")], &["order"]).is_ok());
        // A whole-event topic can carry anything.
        assert!(check_notify_fields(&c, &[topic("events")], &["anything"]).is_ok());
    }
}
