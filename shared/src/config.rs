//! Configuration: one TOML document (`HERMES_CONFIG` path or `HERMES_CONFIG_TOML`
//! text) shared by every function. Parsed once at start-up into typed values;
//! anything invalid is one error line naming the key.
//!
//! Each function checks the common keys, `schema` and `destinations` here, and
//! its own section (`[counters]`, `[dashboard]`, `[notify]`, `[dev]`, kept raw) itself.

use crate::gcp::project_from_env;
use crate::hermes::{
    Conversion, Destination, FieldPath, MappingRow, ATTR_EVENT_ID, ATTR_EVENT_NAME, ATTR_PREVIEW,
};
use crate::pubsub::{Message, TopicName};
use crate::schema::{fields_from_json, parse_required, FieldType, Rule, Schema};
use crate::transform::{RawTransform, Transform, ENV_HASH_KEY};
use serde::Deserialize;
use std::time::Duration;

pub const ENV_CONFIG_PATH: &str = "HERMES_CONFIG";
pub const ENV_CONFIG_TOML: &str = "HERMES_CONFIG_TOML";

pub const DEFAULT_CONTAINER_ID: &str = "hermes";
pub const DEFAULT_IDEMPOTENCY_FIELD: &str = "event_id";
pub const DEFAULT_MAX_BODY_BYTES: usize = 1_048_576;
pub const DEFAULT_PUBLISH_DEADLINE_MS: u64 = 10_000;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("{ENV_CONFIG_PATH} and {ENV_CONFIG_TOML} are both set: set only one")]
    BothSources,
    #[error("{ENV_CONFIG_PATH}: cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("invalid configuration at line {line} (`{text}`): {message}")]
    Syntax {
        line: usize,
        text: String,
        message: String,
    },
    #[error("invalid configuration: `{key}`: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }

    /// Maps a TOML / serde error onto the line (and so the key) it points at.
    pub fn from_toml(source: &str, err: &toml::de::Error) -> Self {
        let message = err.message().replace('\n', " ");
        match err.span() {
            Some(span) => {
                let start = span.start.min(source.len());
                let line = source[..start].matches('\n').count() + 1;
                let text = source.lines().nth(line - 1).unwrap_or("").trim();
                let text: String = text.chars().take(80).collect();
                Self::Syntax {
                    line,
                    text,
                    message,
                }
            }
            None => Self::invalid("(document)", message),
        }
    }
}

/// Why a function cannot start: its configuration, or Google credentials.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Auth(#[from] crate::gcp::AuthError),
}

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
    counters: Option<toml::Table>,
    dashboard: Option<toml::Table>,
    notify: Option<toml::Table>,
    dev: Option<toml::Table>,
    preview: Option<crate::preview::RawPreview>,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDestination {
    name: String,
    id: Option<String>,
    topic: String,
    events: Option<Vec<String>>,
    require: Option<Vec<String>>,
    mapping: Option<toml::Table>,
    attributes: Option<toml::Table>,
    require_consent: Option<Vec<String>>,
    transform: Option<RawTransform>,
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
    /// Sections owned by the other functions, checked by them.
    pub counters: toml::Table,
    pub dashboard: toml::Table,
    pub notify: toml::Table,
    pub dev: toml::Table,
    /// `[preview]`: the inspector's settings, which every function shares.
    pub preview: crate::preview::PreviewSettings,
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
            counters: toml::Table::new(),
            dashboard: toml::Table::new(),
            notify: toml::Table::new(),
            dev: toml::Table::new(),
            preview: crate::preview::PreviewSettings::default(),
        }
    }
}

/// Reads the configuration text named by the environment; `None` when neither variable is set.
pub fn source_from_env() -> Result<Option<String>, ConfigError> {
    let path = std::env::var(ENV_CONFIG_PATH)
        .ok()
        .filter(|s| !s.is_empty());
    let text = std::env::var(ENV_CONFIG_TOML).ok();
    match (path, text) {
        (Some(_), Some(_)) => Err(ConfigError::BothSources),
        (Some(path), None) => {
            std::fs::read_to_string(&path)
                .map(Some)
                .map_err(|e| ConfigError::Unreadable {
                    path,
                    reason: e.to_string(),
                })
        }
        (None, text) => Ok(text),
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
            if id.trim().is_empty() {
                return Err(ConfigError::invalid("container_id", "must not be empty"));
            }
            config.container_id = id;
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
            config.max_body_bytes =
                usize::try_from(max)
                    .ok()
                    .filter(|m| *m > 0)
                    .ok_or_else(|| {
                        ConfigError::invalid("max_body_bytes", "must be a positive number of bytes")
                    })?;
        }
        if let Some(reject) = raw.reject_unauthorized {
            config.reject_unauthorized = reject;
        }
        if let Some(ms) = raw.publish_deadline_ms {
            if ms == 0 {
                return Err(ConfigError::invalid(
                    "publish_deadline_ms",
                    "must be positive",
                ));
            }
            config.publish_deadline = Duration::from_millis(ms);
        }
        if let Some(schema) = raw.schema {
            apply_schema(&mut config.schema, schema)?;
        }
        for (i, dest) in raw.destinations.unwrap_or_default().into_iter().enumerate() {
            let dest = parse_destination(dest, i, project, hash_key, need_key)?;
            if config.destinations.iter().any(|d| d.name == dest.name) {
                return Err(ConfigError::invalid(
                    format!("destinations[{i}].name"),
                    format!("\"{}\" is used by another destination", dest.name),
                ));
            }
            config.destinations.push(dest);
        }
        config.limits = crate::limits::Limits::parse(&raw.limits.unwrap_or_default())?;
        config.counters = raw.counters.unwrap_or_default();
        config.dashboard = raw.dashboard.unwrap_or_default();
        config.notify = raw.notify.unwrap_or_default();
        config.dev = raw.dev.unwrap_or_default();
        config.preview =
            crate::preview::PreviewSettings::parse(raw.preview.unwrap_or_default(), project)?;
        Ok(config)
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

/// The raw bytes of `HERMES_HASH_KEY`, when set.
fn hash_key_from_env() -> Option<Vec<u8>> {
    let value = std::env::var_os(ENV_HASH_KEY)?;
    #[cfg(unix)]
    let bytes = std::os::unix::ffi::OsStringExt::into_vec(value);
    #[cfg(not(unix))]
    let bytes = value.to_string_lossy().into_owned().into_bytes();
    Some(bytes)
}

fn parse_destination(
    raw: RawDestination,
    i: usize,
    project: Option<&str>,
    hash_key: Option<&[u8]>,
    need_key: bool,
) -> Result<Destination, ConfigError> {
    let key = |k: &str| format!("destinations[{i}].{k}");
    if raw.name.trim().is_empty() {
        return Err(ConfigError::invalid(key("name"), "must not be empty"));
    }
    let topic = TopicName::parse(&raw.topic, project)
        .map_err(|e| ConfigError::invalid(key("topic"), e.to_string()))?;
    let events = raw.events.unwrap_or_default();
    if events.iter().any(String::is_empty) {
        return Err(ConfigError::invalid(
            key("events"),
            "event names must not be empty",
        ));
    }
    let require = raw
        .require
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(j, p)| {
            FieldPath::parse(p).ok_or_else(|| {
                ConfigError::invalid(
                    format!("{}[{j}]", key("require")),
                    format!("\"{p}\" is not a dotted path"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mapping = match raw.mapping {
        None => None,
        Some(table) => {
            let mut rows: Vec<MappingRow> = Vec::with_capacity(table.len());
            for (k, v) in table {
                let row_key = format!("{}.{k}", key("mapping"));
                let path = v.as_str().and_then(FieldPath::parse).ok_or_else(|| {
                    ConfigError::invalid(&row_key, "must be a dotted path string")
                })?;
                let (out, conversion) = Conversion::from_key(&k);
                if let Some(other) = rows.iter().find(|r| r.key == out) {
                    return Err(ConfigError::invalid(
                        &row_key,
                        format!(
                            "writes payload key `{out}`, as another row does (`{}`)",
                            other.path.as_str()
                        ),
                    ));
                }
                rows.push(MappingRow {
                    key: out.to_string(),
                    conversion,
                    path,
                });
            }
            Some(rows)
        }
    };
    let mut attributes = Vec::new();
    for (k, v) in raw.attributes.unwrap_or_default() {
        let attr_key = format!("{}.{k}", key("attributes"));
        if k == ATTR_EVENT_NAME || k == ATTR_PREVIEW || k == ATTR_EVENT_ID {
            return Err(ConfigError::invalid(
                attr_key,
                "this attribute name is set by Hermes",
            ));
        }
        if k.is_empty() || k.starts_with("goog") {
            return Err(ConfigError::invalid(
                attr_key,
                "attribute names must be non-empty and not start with \"goog\"",
            ));
        }
        let v = v
            .as_str()
            .ok_or_else(|| ConfigError::invalid(&attr_key, "attribute values must be strings"))?;
        attributes.push((k, v.to_string()));
    }
    // The static attributes plus the two Hermes sets must fit Pub/Sub's limits on their own.
    let probe = Message {
        data: bytes::Bytes::new(),
        attributes: attributes
            .iter()
            .cloned()
            .chain([
                (ATTR_EVENT_NAME.into(), String::new()),
                (ATTR_EVENT_ID.into(), String::new()),
                (ATTR_PREVIEW.into(), "true".into()),
            ])
            .collect(),
    };
    probe
        .check_limits()
        .map_err(|e| ConfigError::invalid(key("attributes"), e.to_string()))?;
    let require_consent = raw.require_consent.unwrap_or_default();
    for (j, kind) in require_consent.iter().enumerate() {
        if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(ConfigError::invalid(
                format!("{}[{j}]", key("require_consent")),
                "must name a consent type such as \"ad_user_data\" (letters, digits, _)",
            ));
        }
    }
    let transform = match raw.transform {
        None => None,
        Some(t) => Transform::parse(t, &key("transform"), hash_key, need_key)?,
    };
    Ok(Destination {
        id: raw.id.unwrap_or_else(|| raw.name.clone()),
        name: raw.name,
        topic,
        events,
        require,
        mapping,
        attributes,
        require_consent,
        transform,
    })
}

/// Parses a function's own section (`[counters]`, `[dashboard]`, `[dev]`) into its
/// raw settings; unknown keys and wrong types are errors naming the section.
pub fn parse_section<T: serde::de::DeserializeOwned>(
    name: &str,
    section: &toml::Table,
) -> Result<T, ConfigError> {
    toml::Value::Table(section.clone())
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::invalid(name, e.message().replace('\n', " ")))
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
            c.counters.get("shards").and_then(|v| v.as_integer()),
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
