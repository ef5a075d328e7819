//! A destination's settings: one `[[destinations]]` table, parsed once at
//! start-up into a [`Destination`]; anything invalid names its key.

use super::encode::{
    Conversion, MappingRow, ATTR_BACKFILL, ATTR_EVENT_ID, ATTR_EVENT_NAME, ATTR_PREVIEW,
};
use super::message::Message;
use super::topic::TopicName;
use super::Destination;
use crate::config::error::ConfigError;
use crate::field_path::FieldPath;
use crate::transform::{RawTransform, Transform};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDestination {
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

pub(crate) fn parse(
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
        // `hermes_*` are Hermes' marks (identity, preview, backfill, quarantine
        // reason): a static `hermes_backfill` would make notify skip every message.
        if k == ATTR_EVENT_NAME || k.starts_with("hermes_") {
            return Err(ConfigError::invalid(
                attr_key,
                "this attribute name is set by Hermes (event_name and every hermes_* name)",
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
    // The static attributes plus the ones Hermes sets must fit Pub/Sub's limits on their own.
    let probe = Message {
        data: bytes::Bytes::new(),
        attributes: attributes
            .iter()
            .cloned()
            .chain([
                (ATTR_EVENT_NAME.into(), String::new()),
                (ATTR_EVENT_ID.into(), String::new()),
                (ATTR_PREVIEW.into(), "true".into()),
                (ATTR_BACKFILL.into(), "true".into()),
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
