//! Configuration: one TOML document (`HERMES_CONFIG` path or `HERMES_CONFIG_TOML`
//! text) shared by every function. Parsed once at start-up into typed values;
//! anything invalid is one error line naming the key.
//!
//! Every function checks the common keys here (`schema`, `destinations`,
//! `[limits]`, `[preview]`, …); each function's own section ([`Section`]) and
//! the user's `[jobs.<name>]` tables are kept as written, for their owners to
//! parse, so that hermes-core knows only their names.

pub mod error;
mod project;
pub mod section;
pub mod source;

pub use error::ConfigError;
pub use project::{project_from_env, ENV_PROJECT};
pub use section::{event_names, non_empty, parse_section, Section, JOBS};
pub use source::{source_from_env, ENV_CONFIG_PATH, ENV_CONFIG_TOML};

use crate::destination::{Destination, RawDestination, TopicName};
use crate::field_path::FieldPath;
use crate::schema::{fields_from_json, parse_required, FieldType, Rule, Schema};
use serde::Deserialize;
use source::hash_key_from_env;
use std::collections::BTreeMap;
use std::time::Duration;

pub const DEFAULT_CONTAINER_ID: &str = "hermes";
pub const DEFAULT_IDEMPOTENCY_FIELD: &str = "event_id";
pub const DEFAULT_MAX_BODY_BYTES: usize = 1_048_576;
pub const DEFAULT_PUBLISH_DEADLINE_MS: u64 = 10_000;
/// Cloud Run's largest request (HTTP/1): no larger body can reach a function.
pub const MAX_BODY_BYTES_LIMIT: usize = 32 * 1024 * 1024;
/// Past Cloud Run's default request timeout (5 min) the client has gone.
pub const MAX_PUBLISH_DEADLINE_MS: u64 = 300_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    container_id: Option<String>,
    idempotency_field: Option<String>,
    max_body_bytes: Option<u64>,
    reject_unauthorized: Option<bool>,
    publish_deadline_ms: Option<u64>,
    schema: Option<RawSchema>,
    destinations: Option<Vec<RawDestination>>,
    /// Every function's `[limits]` (crate::limits), checked by all of them.
    limits: Option<toml::Table>,
    preview: Option<crate::preview::RawPreview>,
    // The functions' own sections (`Section`), kept as written for their owners.
    counters: Option<toml::Table>,
    dashboard: Option<toml::Table>,
    notify: Option<toml::Table>,
    enrich: Option<toml::Table>,
    quarantine: Option<toml::Table>,
    dev: Option<toml::Table>,
    /// `[jobs.<name>]`: the user's own push jobs.
    jobs: Option<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchema {
    primitive: Option<Vec<RawPrimitive>>,
    /// JSON text in the template's structural format, or the same as a TOML table.
    structural: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrimitive {
    field: String,
    #[serde(rename = "type")]
    ty: String,
    required: Option<toml::Value>,
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub container_id: String,
    /// Where an event carries its own identity (`event_id` unless configured).
    pub idempotency_field: FieldPath,
    pub max_body_bytes: usize,
    pub reject_unauthorized: bool,
    pub publish_deadline: Duration,
    pub schema: Schema,
    pub destinations: Vec<Destination>,
    /// `[limits]`: what one request and all of them at once may cost.
    pub limits: crate::limits::Limits,
    /// The functions' own sections, as written: each is parsed by its owner.
    sections: BTreeMap<Section, toml::Table>,
    /// `[jobs.<name>]`, as written: each is read by the user's own job.
    jobs: BTreeMap<String, toml::Table>,
    /// `[preview]`: the inspector's settings, which every function shares.
    pub preview: crate::preview::PreviewSettings,
    /// `HERMES_HASH_KEY` as read at parse time, for the transforms of the
    /// functions' own sections ([`Config::section_transform`]).
    hash_key: HashKeyBytes,
    /// The project that completes bare topic ids, for the functions' own sections.
    project: Option<String>,
}

/// The raw key bytes, never printed.
#[derive(Clone, Default)]
struct HashKeyBytes {
    bytes: Option<Vec<u8>>,
    /// A function that encodes events: `hmac` without a key is an error.
    needed: bool,
}

impl std::fmt::Debug for HashKeyBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.bytes.is_some() {
            "HashKey(set)"
        } else {
            "HashKey(unset)"
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            container_id: DEFAULT_CONTAINER_ID.into(),
            idempotency_field: FieldPath::field(DEFAULT_IDEMPOTENCY_FIELD),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            reject_unauthorized: true,
            publish_deadline: Duration::from_millis(DEFAULT_PUBLISH_DEADLINE_MS),
            schema: Schema::default(),
            destinations: Vec::new(),
            limits: crate::limits::Limits::default(),
            sections: BTreeMap::new(),
            jobs: BTreeMap::new(),
            preview: crate::preview::PreviewSettings::default(),
            hash_key: HashKeyBytes::default(),
            project: None,
        }
    }
}

impl Config {
    /// Loads from `HERMES_CONFIG` / `HERMES_CONFIG_TOML` and `GOOGLE_CLOUD_PROJECT`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let text = source_from_env()?.unwrap_or_default();
        Self::parse(&text, project_from_env().as_deref())
    }

    /// [`Config::from_env`] for a function that never encodes events (counters,
    /// dashboard, notify): the whole file is still checked, but
    /// `HERMES_HASH_KEY` is not needed, so those services never hold that
    /// secret. Without the key, `hmac` paths are removed rather than keyed, so
    /// even a misuse of such a `Config` could not publish them in clear text.
    pub fn from_env_without_hash_key() -> Result<Self, ConfigError> {
        let text = source_from_env()?.unwrap_or_default();
        let project = project_from_env();
        Self::parse_inner(
            &text,
            project.as_deref(),
            hash_key_from_env().as_deref(),
            false,
        )
    }

    /// [`Config::from_env_without_hash_key`] for a reader of the document's
    /// shape only (`hermes schema`), to which topic names do not matter: bare
    /// topic ids are completed with `GOOGLE_CLOUD_PROJECT`, or else with
    /// `fallback_project` rather than refused.
    pub fn from_env_for_shape(fallback_project: &str) -> Result<Self, ConfigError> {
        let text = source_from_env()?.unwrap_or_default();
        let project = project_from_env().unwrap_or_else(|| fallback_project.to_string());
        Self::parse_inner(&text, Some(&project), hash_key_from_env().as_deref(), false)
    }

    /// Parses and validates a TOML document. `project` completes bare topic ids;
    /// `HERMES_HASH_KEY` is read when a destination's `hmac` needs it.
    pub fn parse(text: &str, project: Option<&str>) -> Result<Self, ConfigError> {
        Self::parse_with_hash_key(text, project, hash_key_from_env().as_deref())
    }

    /// [`Config::parse`] with the `hmac` key given (the raw bytes of
    /// `HERMES_HASH_KEY`) rather than read from the environment.
    pub fn parse_with_hash_key(
        text: &str,
        project: Option<&str>,
        hash_key: Option<&[u8]>,
    ) -> Result<Self, ConfigError> {
        Self::parse_inner(text, project, hash_key, true)
    }

    /// `need_key`: a destination's `hmac` makes a missing or short key an error.
    fn parse_inner(
        text: &str,
        project: Option<&str>,
        hash_key: Option<&[u8]>,
        need_key: bool,
    ) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::from_toml(text, &e))?;
        let mut config = Config::default();
        if let Some(id) = raw.container_id {
            config.container_id = non_empty("container_id", id)?;
        }
        if let Some(field) = raw.idempotency_field {
            config.idempotency_field = FieldPath::parse(&field).ok_or_else(|| {
                ConfigError::invalid(
                    "idempotency_field",
                    format!("\"{field}\" is not a dotted path"),
                )
            })?;
        }
        if let Some(max) = raw.max_body_bytes {
            config.max_body_bytes = usize::try_from(max)
                .ok()
                .filter(|m| (1..=MAX_BODY_BYTES_LIMIT).contains(m))
                .ok_or_else(|| {
                    ConfigError::invalid(
                        "max_body_bytes",
                        format!(
                            "must be from 1 to {MAX_BODY_BYTES_LIMIT} bytes \
                             (Cloud Run's limit on a request)"
                        ),
                    )
                })?;
        }
        if let Some(reject) = raw.reject_unauthorized {
            config.reject_unauthorized = reject;
        }
        if let Some(ms) = raw.publish_deadline_ms {
            if ms == 0 || ms > MAX_PUBLISH_DEADLINE_MS {
                return Err(ConfigError::invalid(
                    "publish_deadline_ms",
                    format!(
                        "must be from 1 to {MAX_PUBLISH_DEADLINE_MS} \
                         (Cloud Run's default request timeout)"
                    ),
                ));
            }
            config.publish_deadline = Duration::from_millis(ms);
        }
        if let Some(schema) = raw.schema {
            apply_schema(&mut config.schema, schema)?;
        }
        for (i, dest) in raw.destinations.unwrap_or_default().into_iter().enumerate() {
            let dest = crate::destination::parse(dest, i, project, hash_key, need_key)?;
            if config.destinations.iter().any(|d| d.name == dest.name) {
                return Err(ConfigError::invalid(
                    format!("destinations[{i}].name"),
                    format!("\"{}\" is used by another destination", dest.name),
                ));
            }
            config.destinations.push(dest);
        }
        config.limits = crate::limits::Limits::parse(&raw.limits.unwrap_or_default())?;
        if config.limits.max_inflight_bytes < config.max_body_bytes {
            return Err(ConfigError::invalid(
                "limits.max_inflight_bytes",
                format!(
                    "{} is below max_body_bytes ({}): a request of the largest allowed body \
                     could never be held, and every request would wait for room that never comes",
                    config.limits.max_inflight_bytes, config.max_body_bytes
                ),
            ));
        }
        let owned = [
            (Section::Counters, raw.counters),
            (Section::Dashboard, raw.dashboard),
            (Section::Notify, raw.notify),
            (Section::Enrich, raw.enrich),
            (Section::Quarantine, raw.quarantine),
            (Section::Dev, raw.dev),
        ];
        config.sections = owned
            .into_iter()
            .filter_map(|(section, table)| Some((section, table?)))
            .collect();
        for (name, job) in raw.jobs.unwrap_or_default() {
            let toml::Value::Table(table) = job else {
                return Err(ConfigError::invalid(
                    format!("{JOBS}.{name}"),
                    "must be a table: [jobs.<name>] holds the settings of one job of yours",
                ));
            };
            config.jobs.insert(name, table);
        }
        config.preview =
            crate::preview::PreviewSettings::parse(raw.preview.unwrap_or_default(), project)?;
        config.hash_key = HashKeyBytes {
            bytes: hash_key.map(<[u8]>::to_vec),
            needed: need_key,
        };
        config.project = project.map(str::to_string);
        Ok(config)
    }

    /// Whether the file has the section (even empty).
    pub fn has_section(&self, section: Section) -> bool {
        self.sections.contains_key(&section)
    }

    /// A function's own section as written; empty when the file has none.
    pub fn section(&self, section: Section) -> &toml::Table {
        static EMPTY: std::sync::OnceLock<toml::Table> = std::sync::OnceLock::new();
        self.sections
            .get(&section)
            .unwrap_or_else(|| EMPTY.get_or_init(toml::Table::new))
    }

    /// A topic of a function's own section (`quarantine.topic`): a full name,
    /// or a bare id completed with the project, as the destinations' topics.
    pub fn section_topic(
        &self,
        topic: &str,
        key: &str,
    ) -> Result<crate::destination::TopicName, ConfigError> {
        crate::destination::TopicName::parse(topic, self.project.as_deref())
            .map_err(|e| ConfigError::invalid(key, e.to_string()))
    }

    /// A transform table of a function's own section (`[quarantine.transform]`),
    /// with the keys of a destination's and the same `HERMES_HASH_KEY`; `key`
    /// names it in errors. `None` when it asks for nothing.
    pub fn section_transform(
        &self,
        value: &toml::Value,
        key: &str,
    ) -> Result<Option<crate::transform::Transform>, ConfigError> {
        let raw: crate::transform::RawTransform =
            value.clone().try_into().map_err(|e: toml::de::Error| {
                ConfigError::invalid(key, e.message().replace('\n', " "))
            })?;
        crate::transform::Transform::parse(
            raw,
            key,
            self.hash_key.bytes.as_deref(),
            self.hash_key.needed,
        )
    }

    /// `[jobs.<name>]` as written, for the user's own job of that name.
    pub fn job(&self, name: &str) -> Option<&toml::Table> {
        self.jobs.get(name)
    }

    /// The distinct topics the destinations publish to, in configuration order.
    pub fn topics(&self) -> Vec<&TopicName> {
        let mut topics: Vec<&TopicName> = Vec::new();
        for d in &self.destinations {
            if !topics.contains(&&d.topic) {
                topics.push(&d.topic);
            }
        }
        topics
    }
}

fn apply_schema(schema: &mut Schema, raw: RawSchema) -> Result<(), ConfigError> {
    for (i, row) in raw.primitive.unwrap_or_default().into_iter().enumerate() {
        let key = format!("schema.primitive[{i}]");
        if row.field.is_empty() || row.field.contains('.') {
            return Err(ConfigError::invalid(
                format!("{key}.field"),
                "must name a top-level field (deeper rules go in schema.structural)",
            ));
        }
        let ty = match FieldType::parse(&row.ty) {
            Some(t @ (FieldType::String | FieldType::Number | FieldType::Boolean)) => t,
            _ => {
                return Err(ConfigError::invalid(
                    format!("{key}.type"),
                    format!("\"{}\" is not one of string, number, boolean", row.ty),
                ))
            }
        };
        let required = match row.required {
            None => false,
            Some(v) => {
                let json = serde_json::to_value(&v).unwrap_or(serde_json::Value::Null);
                parse_required(&json).ok_or_else(|| {
                    ConfigError::invalid(
                        format!("{key}.required"),
                        "must be true, false, \"true\" or \"false\"",
                    )
                })?
            }
        };
        schema.set(row.field, Rule::primitive(ty, required));
    }
    if let Some(structural) = raw.structural {
        let json = match structural {
            toml::Value::String(text) if text.trim().is_empty() => return Ok(()),
            toml::Value::String(text) => serde_json::from_str(&text).map_err(|e| {
                ConfigError::invalid("schema.structural", format!("not valid JSON: {e}"))
            })?,
            table @ toml::Value::Table(_) => serde_json::to_value(&table)
                .map_err(|e| ConfigError::invalid("schema.structural", e.to_string()))?,
            _ => {
                return Err(ConfigError::invalid(
                    "schema.structural",
                    "must be a JSON string or a table of field rules",
                ))
            }
        };
        let fields = fields_from_json(&json, "").map_err(|e| {
            let key = if e.path.is_empty() {
                "schema.structural".to_string()
            } else {
                format!("schema.structural.{}", e.path)
            };
            ConfigError::invalid(key, e.message)
        })?;
        for (name, rule) in fields.iter() {
            schema.set(name.to_string(), rule.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Config::parse(text, Some("p-1")).unwrap_err().to_string()
    }

    #[test]
    fn spec_example_parses() {
        let text = r#"
container_id = "GTM-XXXXXX"
max_body_bytes = 1048576
reject_unauthorized = true
[schema]
primitive = [ { field = "test_num", type = "number", required = true } ]
structural = '''{ "context": { "type": "object", "required": false,
                  "value": { "locale": { "type": "string", "required": false } } } }'''
[[destinations]]
name = "items-realtime"
id = "1"
topic = "projects/my-project/topics/items-realtime"
events = ["purchase"]
require = ["items"]
[destinations.mapping]
transaction_id = "transaction_id"
value_num = "value"
quantity_int = "items.0.quantity"
items = "items"
[destinations.attributes]
source = "s2s"
[counters]
shards = 4
"#;
        let c = Config::parse(text, None).unwrap();
        assert_eq!(c.container_id, "GTM-XXXXXX");
        assert_eq!(c.destinations.len(), 1);
        assert_eq!(c.destinations[0].mapping.as_ref().unwrap().len(), 4);
        assert!(c.schema.fields().get("context").is_some());
        assert_eq!(
            c.section(Section::Counters)
                .get("shards")
                .and_then(|v| v.as_integer()),
            Some(4)
        );
    }

    #[test]
    fn errors_name_the_key() {
        assert!(err("nope = 1").contains("nope"));
        assert!(err("max_body_bytes = \"big\"").contains("max_body_bytes"));
        assert!(
            err("[[destinations]]\nname = \"a\"\ntopic = \"projects/p/topics/ab\"")
                .contains("destinations[0].topic")
        );
        assert!(err("[[destinations]]\nname = \"a\"\ntopic = \"t1x\"\n[destinations.attributes]\nevent_name = \"x\"")
            .contains("destinations[0].attributes.event_name"));
        assert!(
            err("[schema]\nstructural = '{\"a\": {\"type\": \"strin\"}}'")
                .contains("schema.structural.a")
        );
        assert!(err("[schema]\nstructural = '{'").contains("schema.structural"));
        assert!(err("[preview]\nttl_secs = 5").contains("preview.ttl_secs"));
        assert!(err("[preview]\ntopic = \"1x\"").contains("preview.topic"));
        assert!(err("[preview]\nttl = 60").contains("ttl"));
        assert!(
            err("[schema]\nprimitive = [{ field = \"x\", type = \"object\" }]")
                .contains("schema.primitive[0].type")
        );
        assert!(err("[[destinations]]\nname = \"a\"\ntopic = \"abc\"\n[destinations.mapping]\nv_num = \"a\"\nv = \"b\"")
            .contains("destinations[0].mapping"));
        let dest = "[[destinations]]\nname = \"a\"\ntopic = \"abc\"\n";
        assert!(err(&format!("{dest}require_consent = [\"ad user\"]"))
            .contains("destinations[0].require_consent[0]"));
        assert!(err(&format!(
            "{dest}[destinations.transform]\nhash = [\"user_data.city\"]"
        ))
        .contains("destinations[0].transform.hash[0]"));
        assert!(err(&format!("{dest}[destinations.transform]\nmask = true")).contains("mask"));
        let no_key = Config::parse_with_hash_key(
            &format!("{dest}[destinations.transform]\nhmac = [\"user_id\"]"),
            Some("p-1"),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(no_key.contains("HERMES_HASH_KEY"), "{no_key}");
    }

    /// Settings that would make a function useless stop start-up, naming the key.
    #[test]
    fn settings_that_cannot_work_stop_start_up() {
        let inflight = err("[limits]\nmax_inflight_bytes = 100");
        assert!(inflight.contains("limits.max_inflight_bytes"), "{inflight}");
        assert!(
            err("max_body_bytes = 2000\n[limits]\nmax_inflight_bytes = 1999")
                .contains("limits.max_inflight_bytes")
        );
        assert!(Config::parse(
            "max_body_bytes = 2000\n[limits]\nmax_inflight_bytes = 2000",
            None
        )
        .is_ok());
        assert!(err("max_body_bytes = 1099511627776").contains("max_body_bytes"));
        assert!(err("max_body_bytes = 0").contains("max_body_bytes"));
        assert!(err("publish_deadline_ms = 999999999999").contains("publish_deadline_ms"));
        assert!(err("publish_deadline_ms = 0").contains("publish_deadline_ms"));
        assert!(Config::parse("publish_deadline_ms = 300000\nmax_body_bytes = 33554432\n[limits]\nmax_inflight_bytes = 67108864", None).is_ok());
    }

    /// Every function's section is kept as written for its owner, whatever it
    /// holds; `[jobs.<name>]` tables are the user's; a misspelt table is refused.
    #[test]
    fn sections_are_kept_for_their_owners_and_jobs_for_the_user() {
        for section in Section::ALL {
            let name = section.name();
            let c = Config::parse(&format!("[{name}]\nanything = [1, \"x\"]"), None)
                .unwrap_or_else(|e| panic!("[{name}]: {e}"));
            assert!(c.section(section).contains_key("anything"), "[{name}]");
        }
        let c = Config::parse("[jobs.my_job]\nurl = \"u\"\n[jobs.other]\n", None).unwrap();
        assert_eq!(
            c.job("my_job").and_then(|t| t.get("url")?.as_str()),
            Some("u")
        );
        assert!(c.job("other").is_some_and(|t| t.is_empty()));
        assert!(c.job("absent").is_none());
        assert!(c.section(Section::Counters).is_empty());
        assert!(err("[countres]\nshards = 4").contains("countres"));
        assert!(err("jobs = 5").contains("jobs"));
        assert!(err("[jobs]\nurl = \"u\"").contains("jobs"));
    }

    /// Counters, dashboard and notify check the same file but never encode, so
    /// they start without the key; their `hmac` paths are removed, never kept.
    #[test]
    fn functions_that_never_encode_need_no_hash_key() {
        let text = "[[destinations]]\nname = \"a\"\ntopic = \"abc\"\n[destinations.transform]\nhmac = [\"user_id\"]";
        let config = Config::parse_inner(text, Some("p-1"), None, false).expect("no key needed");
        let transform = config.destinations[0].transform.as_ref().expect("kept");
        let mut event = crate::json::parse(r#"{"user_id": "u-1", "event_name": "x"}"#).unwrap();
        transform.apply(&mut event);
        assert_eq!(event.to_vec(), br#"{"event_name":"x"}"#);
        // A short key is still refused: it is a mistake whoever reads it.
        let short = Config::parse_inner(text, Some("p-1"), Some(b"short"), false);
        assert!(short.is_err());
    }
}
