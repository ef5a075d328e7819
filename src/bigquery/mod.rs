//! `hermes schema bigquery`: the BigQuery table schema of what a destination
//! publishes, of the quarantine's bad rows and of the enriched events, for a
//! Pub/Sub BigQuery subscription with `use_table_schema`, `write_metadata` and
//! `drop_unknown_fields` (README, "The warehouse"). The output is a JSON array
//! of columns, the format of `bq mk --schema` and of Terraform's
//! `google_bigquery_table.schema`.
//!
//! It lives in the `hermes` package rather than in hermes-core: hermes-core
//! holds the configuration, the schema and the encoding, but the bad row's
//! shape is hermes-ingest's and the enrichments are hermes-enrich's, and
//! hermes-core sits below both. Nothing here describes an event type twice:
//! the columns come from the [`Config`] ingest runs with (its schema, each
//! destination's mapping and `_int` / `_num` conversions, its transforms); the
//! only types stated here are those no configuration states — GA4's
//! e-commerce parameters and the Pub/Sub metadata columns; the device and the
//! place are read from hermes-enrich's own output.
//!
//! How JSON values land in the columns (Google's rules for a BigQuery
//! subscription that uses the table schema,
//! <https://cloud.google.com/pubsub/docs/bigquery#schema_compatibility> and
//! <https://cloud.google.com/pubsub/docs/bigquery#properties_subscription>, which
//! writes through the Storage Write API,
//! <https://cloud.google.com/bigquery/docs/write-api#data_type_conversions>):
//!
//! | what the message holds                          | column                    |
//! |-------------------------------------------------|---------------------------|
//! | schema `string`                                 | STRING                    |
//! | schema `number` (integer or not: JSON says which only per value) | FLOAT     |
//! | schema `boolean`                                | BOOLEAN                   |
//! | schema `object` with `value` (its fields)       | RECORD                    |
//! | schema `array` whose `value` is a scalar/object | REPEATED of that type     |
//! | schema `object`/`array` without `value`, array of arrays, unknown path | JSON |
//! | mapping key `…_int`                             | INTEGER                   |
//! | mapping key `…_num`                             | FLOAT                     |
//! | other mapping key                               | the type of the path read |
//! | a `hash` / `hmac` transformed number            | STRING (the digest)       |
//! | GA4 e-commerce parameters (whole events)        | [`GA4_EVENT`], [`GA4_ITEM`] |
//! | `write_metadata`                                | [`metadata_columns`]      |
//!
//! A field the schema requires is REQUIRED (for a whole event, unless a
//! transform can remove it); every other column is NULLABLE or REPEATED: a
//! mapping writes nothing for a missing path, and Pub/Sub writes a missing
//! field as NULL. Fields the table lacks are dropped (`drop_unknown_fields`).

use hermes_core::config::Config;
use hermes_core::destination::{Conversion, Destination, MappingRow};
use hermes_core::schema::{FieldType, Nested, Rule};
use hermes_core::transform::Transform;
use hermes_enrich::settings::Settings as Enrich;
use serde::Serialize;

#[cfg(test)]
mod check;
#[cfg(test)]
mod tests;

/// A BigQuery column type, by the legacy names the BigQuery API answers with
/// (so a schema read back equals the one written: no perpetual Terraform diff).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Type {
    String,
    Integer,
    Float,
    Boolean,
    Timestamp,
    Json,
    Record,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Mode {
    Nullable,
    Required,
    Repeated,
}

/// One column of a table schema, as `bq` and Terraform write it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: Type,
    pub mode: Mode,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Column>,
}

impl Column {
    fn new(name: &str, ty: Type, mode: Mode) -> Self {
        Self {
            name: name.to_string(),
            ty,
            mode,
            fields: Vec::new(),
        }
    }

    fn record(name: &str, mode: Mode, fields: Vec<Column>) -> Self {
        Self {
            name: name.to_string(),
            ty: Type::Record,
            mode,
            fields,
        }
    }
}

/// Which table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Table {
    /// What destination NAME publishes.
    Destination(String),
    /// The quarantine's bad rows.
    Quarantine,
    /// The enrich function's output: whole events (or what destination
    /// `source` publishes) plus the enriched fields.
    Enriched { source: Option<String> },
}

/// Why there is no schema to print; each is a usage or configuration error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("unknown destination \"{name}\" (the configuration's destinations: {known})")]
    UnknownDestination { name: String, known: String },
    #[error("the configuration has no [enrich] section: there are no enriched events")]
    NoEnrich,
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A column BigQuery would not take (its path, why).
    #[error("`{path}` cannot be a BigQuery column: {reason}")]
    Column { path: String, reason: String },
}

/// GA4's event-level e-commerce parameters (besides `value` and `currency`,
/// which Common Event Data types), with the types GA4 gives them:
/// <https://developers.google.com/analytics/devguides/collection/ga4/reference/events>.
/// Whole events carry them as the client wrote them: ingest checks them only
/// when the configured schema names them (and then the schema's type wins).
pub const GA4_EVENT: &[(&str, Type)] = &[
    ("transaction_id", Type::String),
    ("affiliation", Type::String),
    ("coupon", Type::String),
    ("shipping", Type::Float),
    ("tax", Type::Float),
    ("payment_type", Type::String),
    ("shipping_tier", Type::String),
    ("item_list_id", Type::String),
    ("item_list_name", Type::String),
    ("creative_name", Type::String),
    ("creative_slot", Type::String),
    ("promotion_id", Type::String),
    ("promotion_name", Type::String),
];

/// GA4's item parameters (the elements of `items`), same page.
pub const GA4_ITEM: &[(&str, Type)] = &[
    ("item_id", Type::String),
    ("item_name", Type::String),
    ("affiliation", Type::String),
    ("coupon", Type::String),
    ("discount", Type::Float),
    ("index", Type::Integer),
    ("item_brand", Type::String),
    ("item_category", Type::String),
    ("item_category2", Type::String),
    ("item_category3", Type::String),
    ("item_category4", Type::String),
    ("item_category5", Type::String),
    ("item_list_id", Type::String),
    ("item_list_name", Type::String),
    ("item_variant", Type::String),
    ("location_id", Type::String),
    ("price", Type::Float),
    ("quantity", Type::Integer),
    ("creative_name", Type::String),
    ("creative_slot", Type::String),
    ("promotion_id", Type::String),
    ("promotion_name", Type::String),
];

/// The field GA4's item list is in.
pub const ITEMS: &str = "items";

/// The metadata columns of a subscription with `write_metadata` (Google's
/// table of them: <https://cloud.google.com/pubsub/docs/bigquery#write-metadata>):
/// `subscription_name` and `message_id` STRING, `publish_time` TIMESTAMP,
/// `attributes` STRING or JSON — JSON here, so that a query reads
/// `JSON_VALUE(attributes, '$.hermes_event_id')`. Pub/Sub writes the
/// message's attributes (and its ordering key) there as one JSON object. The
/// `data` column is only for tables that take the payload whole; with
/// `use_table_schema` its fields are the other columns.
pub fn metadata_columns() -> Vec<Column> {
    vec![
        Column::new("subscription_name", Type::String, Mode::Nullable),
        Column::new("message_id", Type::String, Mode::Nullable),
        Column::new("publish_time", Type::Timestamp, Mode::Nullable),
        Column::new("attributes", Type::Json, Mode::Nullable),
    ]
}

/// The table schema of `table` under `config`: the metadata columns, then the
/// payload's.
pub fn schema(config: &Config, table: &Table) -> Result<Vec<Column>, TableError> {
    let payload = match table {
        Table::Destination(name) => destination_columns(config, find(config, name)?),
        Table::Quarantine => bad_row_columns(),
        Table::Enriched { source } => {
            let enrich = Enrich::from_config(config)
                .map_err(|e| TableError::Config(e.to_string()))?
                .ok_or(TableError::NoEnrich)?;
            let base = match source {
                Some(name) => destination_columns(config, find(config, name)?),
                None => event_columns(config),
            };
            enriched_columns(base, &enrich)?
        }
    };
    let metadata = metadata_columns();
    let mut columns = metadata.clone();
    for column in payload {
        if metadata
            .iter()
            .any(|m| m.name.eq_ignore_ascii_case(&column.name))
        {
            return Err(TableError::Column {
                path: column.name,
                reason: "a Pub/Sub metadata column has this name (write_metadata)".into(),
            });
        }
        columns.push(column);
    }
    check_names(&columns, "", 1)?;
    Ok(columns)
}

fn find<'c>(config: &'c Config, name: &str) -> Result<&'c Destination, TableError> {
    let known = || {
        let names: Vec<&str> = config
            .destinations
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    config
        .destinations
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| TableError::UnknownDestination {
            name: name.to_string(),
            known: known(),
        })
}

/// What `destination` publishes: its mapping's keys, or the whole event as
/// its transforms leave it.
pub fn destination_columns(config: &Config, destination: &Destination) -> Vec<Column> {
    let mut event = event_columns(config);
    if let Some(transform) = &destination.transform {
        apply_transform(&mut event, transform);
    }
    match &destination.mapping {
        None => event,
        Some(rows) => rows.iter().map(|row| mapped_column(&event, row)).collect(),
    }
}

/// A whole event: the configured schema (Common Event Data plus the custom
/// rules), then GA4's e-commerce parameters the schema does not name.
pub fn event_columns(config: &Config) -> Vec<Column> {
    let mut columns: Vec<Column> = config
        .schema
        .fields()
        .iter()
        .map(|(name, rule)| rule_column(name, rule))
        .collect();
    let named = |columns: &[Column], name: &str| columns.iter().any(|c| c.name == name);
    for (name, ty) in GA4_EVENT {
        if !named(&columns, name) {
            columns.push(Column::new(name, *ty, Mode::Nullable));
        }
    }
    if !named(&columns, ITEMS) {
        let item = GA4_ITEM
            .iter()
            .map(|(name, ty)| Column::new(name, *ty, Mode::Nullable))
            .collect();
        columns.push(Column::record(ITEMS, Mode::Repeated, item));
    }
    columns
}

/// The column of one schema rule.
fn rule_column(name: &str, rule: &Rule) -> Column {
    let mode = if rule.required {
        Mode::Required
    } else {
        Mode::Nullable
    };
    match (rule.ty, &rule.nested) {
        (FieldType::Array, Nested::Element(element)) => match element_column(name, element) {
            Some(column) => column,
            // An array of arrays (BigQuery has none), or of anything: one JSON value.
            None => Column::new(name, Type::Json, mode),
        },
        _ => Column {
            mode,
            ..value_column(name, rule)
        },
    }
}

/// The REPEATED column of an array whose elements follow `element`, when
/// BigQuery can hold it.
fn element_column(name: &str, element: &Rule) -> Option<Column> {
    let column = value_column(name, element);
    match (element.ty, column.ty) {
        (FieldType::Array, _) | (_, Type::Json) => None,
        _ => Some(Column {
            mode: Mode::Repeated,
            ..column
        }),
    }
}

/// The type (and fields) of a single value following `rule`; NULLABLE.
fn value_column(name: &str, rule: &Rule) -> Column {
    let ty = match rule.ty {
        FieldType::String => Type::String,
        // JSON tells an integer from a fraction per value, the schema does not.
        FieldType::Number => Type::Float,
        FieldType::Boolean => Type::Boolean,
        FieldType::Object => match &rule.nested {
            // BigQuery takes no RECORD without fields.
            Nested::Fields(fields) if !fields.is_empty() => {
                let fields = fields.iter().map(|(n, r)| rule_column(n, r)).collect();
                return Column::record(name, Mode::Nullable, fields);
            }
            _ => Type::Json,
        },
        FieldType::Array => Type::Json,
    };
    Column::new(name, ty, Mode::Nullable)
}

/// The column of one mapping row: the conversion's type, or the type of the
/// path it reads (JSON when nothing states one).
fn mapped_column(event: &[Column], row: &MappingRow) -> Column {
    let ty = match row.conversion {
        Conversion::Int => Some(Type::Integer),
        Conversion::Num => Some(Type::Float),
        Conversion::Keep => None,
    };
    if let Some(ty) = ty {
        return Column::new(&row.key, ty, Mode::Nullable);
    }
    let segments: Vec<&str> = row.path.segments().collect();
    match lookup(event, &segments) {
        Some(found) => Column {
            name: row.key.clone(),
            // A missing path writes nothing: never REQUIRED.
            mode: match found.mode {
                Mode::Repeated => Mode::Repeated,
                _ => Mode::Nullable,
            },
            ..found
        },
        None => Column::new(&row.key, Type::Json, Mode::Nullable),
    }
}

/// The column a mapping path reaches, as the encoding reads it: a key names a
/// field of a record, a number an element of a REPEATED column.
fn lookup(columns: &[Column], segments: &[&str]) -> Option<Column> {
    let (first, rest) = segments.split_first()?;
    let column = columns.iter().find(|c| c.name == *first)?;
    let mut column = column.clone();
    let mut rest = rest;
    loop {
        let Some((next, after)) = rest.split_first() else {
            return Some(column);
        };
        column = match (column.mode, column.ty) {
            (Mode::Repeated, _) if next.parse::<usize>().is_ok() => Column {
                mode: Mode::Nullable,
                ..column
            },
            (Mode::Repeated, _) => return None,
            (_, Type::Record) => column.fields.iter().find(|c| c.name == *next)?.clone(),
            _ => return None,
        };
        rest = after;
    }
}

/// What a destination's transforms do to the columns of a whole event:
/// `drop` removes a column (or makes it NULLABLE when only one element of
/// an array loses it), `hash` / `hmac` make digests (strings) of numbers,
/// `mask_ip` may remove `ip_override`; `redact` keeps types.
fn apply_transform(columns: &mut Vec<Column>, transform: &Transform) {
    for path in &transform.drop {
        let segments: Vec<Option<&str>> = path.segments().collect();
        drop_path(columns, &segments);
    }
    for (path, _) in transform.hash.iter().chain(&transform.hmac) {
        let segments: Vec<Option<&str>> = path.segments().collect();
        for_path(columns, &segments, &mut digest_types);
    }
    if transform.mask_ip {
        let ip = [Some(hermes_core::transform::IP_FIELD)];
        for_path(columns, &ip, &mut |c| relax(c));
    }
    drop_empty_records(columns);
}

fn relax(column: &mut Column) {
    if column.mode == Mode::Required {
        column.mode = Mode::Nullable;
    }
}

/// A digest replaces every string and number (Google-normalised SHA-256 or
/// HMAC hex); booleans, nulls and JSON values stay what they were.
fn digest_types(column: &mut Column) {
    match column.ty {
        Type::Integer | Type::Float => column.ty = Type::String,
        Type::Record => column.fields.iter_mut().for_each(digest_types),
        _ => {}
    }
}

fn drop_path(columns: &mut Vec<Column>, segments: &[Option<&str>]) {
    let Some((Some(first), rest)) = segments.split_first() else {
        return;
    };
    let Some(i) = columns.iter().position(|c| c.name == *first) else {
        return;
    };
    if rest.is_empty() {
        columns.remove(i);
        return;
    }
    let column = &mut columns[i];
    match (column.mode, column.ty, rest[0]) {
        // Every element loses the field: the element record goes without it.
        (Mode::Repeated, Type::Record, None) => drop_path(&mut column.fields, &rest[1..]),
        // One element does (`items.0.x`): the others keep it.
        (Mode::Repeated, _, Some(_)) => {
            for_path(&mut column.fields, &rest[1..], &mut |c| relax(c));
        }
        (Mode::Repeated, _, None) => {}
        (_, Type::Record, _) => drop_path(&mut column.fields, rest),
        _ => {}
    }
}

/// Calls `f` on every column `segments` reaches (`*` and numbers step into a
/// REPEATED column's elements).
fn for_path(columns: &mut [Column], segments: &[Option<&str>], f: &mut dyn FnMut(&mut Column)) {
    let Some((Some(first), rest)) = segments.split_first() else {
        return;
    };
    let Some(column) = columns.iter_mut().find(|c| c.name == *first) else {
        return;
    };
    let rest = match (column.mode, rest.first()) {
        (Mode::Repeated, Some(step)) if step.is_none_or(|s| s.parse::<usize>().is_ok()) => {
            &rest[1..]
        }
        _ => rest,
    };
    if rest.is_empty() {
        f(column);
    } else if column.ty == Type::Record {
        for_path(&mut column.fields, rest, f);
    }
}

fn drop_empty_records(columns: &mut Vec<Column>) {
    for column in columns.iter_mut() {
        drop_empty_records(&mut column.fields);
    }
    columns.retain(|c| c.ty != Type::Record || !c.fields.is_empty());
}

/// The bad row the quarantine publishes (hermes-ingest's `Quarantine::bad_row`):
/// the event as JSON (it failed the schema: its types are not the schema's),
/// its schema errors (the `errors` entries of ingest's answer), the
/// destinations that refused it and when it arrived.
pub fn bad_row_columns() -> Vec<Column> {
    let s = |name: &str| Column::new(name, Type::String, Mode::Nullable);
    vec![
        // NULLABLE: a request's array may hold a null where an event belongs.
        Column::new("event", Type::Json, Mode::Nullable),
        Column::record(
            "errors",
            Mode::Repeated,
            vec![
                Column::new("eventIndex", Type::Integer, Mode::Nullable),
                s("path"),
                s("code"),
                s("expected"),
                s("actual"),
                Column::new("required", Type::Boolean, Mode::Nullable),
                s("message"),
            ],
        ),
        Column::record(
            "failedDestinations",
            Mode::Repeated,
            vec![s("name"), s("error")],
        ),
        Column::new("receivedAt", Type::Timestamp, Mode::Required),
    ]
}

/// The columns of an object an enrichment writes, read from hermes-enrich's
/// own JSON of a fully known value: its strings STRING, its booleans
/// BOOLEAN, its numbers FLOAT, anything else (a field a later version adds
/// and the sample leaves null) JSON.
fn sample_columns(sample: &serde_json::Value) -> Vec<Column> {
    use serde_json::Value;
    let Value::Object(map) = sample else {
        return Vec::new();
    };
    map.iter()
        .map(|(name, value)| {
            let ty = match value {
                Value::String(_) => Type::String,
                Value::Bool(_) => Type::Boolean,
                Value::Number(_) => Type::Float,
                _ => Type::Json,
            };
            Column::new(name, ty, Mode::Nullable)
        })
        .collect()
}

/// The device `[enrich.user_agent]` writes under its `into`
/// (`{browser, browser_version, os, os_version, device_type, is_bot}`).
pub fn device_columns() -> Vec<Column> {
    let known = Some(String::new());
    let device = hermes_enrich::device::Device {
        browser: known.clone(),
        browser_version: known.clone(),
        os: known.clone(),
        os_version: known,
        ..Default::default()
    };
    sample_columns(&device.to_json())
}

/// The place `[enrich.geo]` writes under its `into` (`{country, region, city}`).
pub fn place_columns() -> Vec<Column> {
    let known = Some(String::new());
    let place = hermes_enrich::place::Place {
        country: known.clone(),
        region: known.clone(),
        city: known,
    };
    sample_columns(&place.to_json())
}

/// `base` plus what `[enrich]` writes: `received_at` (the RFC 3339 publish
/// time), each lookup's document fields under its `into` (their types are
/// the documents', which no configuration states: JSON), the device and the
/// place. An enrichment replaces what the event had at its key.
pub fn enriched_columns(mut base: Vec<Column>, enrich: &Enrich) -> Result<Vec<Column>, TableError> {
    if let Some(path) = &enrich.received_at {
        place(
            &mut base,
            path,
            Column::new("", Type::Timestamp, Mode::Nullable),
        )?;
    }
    for lookup in &enrich.lookups {
        let column = match &lookup.fields {
            Some(fields) => Column::record(
                "",
                Mode::Nullable,
                fields
                    .iter()
                    .map(|f| Column::new(f, Type::Json, Mode::Nullable))
                    .collect(),
            ),
            None => Column::new("", Type::Json, Mode::Nullable),
        };
        place(&mut base, &lookup.into, column)?;
    }
    if let Some(ua) = &enrich.user_agent {
        place(
            &mut base,
            &ua.into,
            Column::record("", Mode::Nullable, device_columns()),
        )?;
    }
    if let Some(geo) = &enrich.geo {
        place(
            &mut base,
            &geo.into,
            Column::record("", Mode::Nullable, place_columns()),
        )?;
    }
    Ok(base)
}

/// Puts `column` at `path`, creating the records on the way, replacing what was there.
fn place(
    columns: &mut Vec<Column>,
    path: &hermes_core::field_path::FieldPath,
    column: Column,
) -> Result<(), TableError> {
    let segments: Vec<&str> = path.segments().collect();
    let mut level = columns;
    let (last, parents) = segments.split_last().ok_or_else(|| TableError::Column {
        path: path.as_str().to_string(),
        reason: "empty path".into(),
    })?;
    for segment in parents {
        let i = match level.iter().position(|c| c.name == *segment) {
            Some(i) => i,
            None => {
                level.push(Column::record(segment, Mode::Nullable, Vec::new()));
                level.len() - 1
            }
        };
        let parent = &mut level[i];
        if parent.ty != Type::Record || parent.mode == Mode::Repeated {
            return Err(TableError::Column {
                path: path.as_str().to_string(),
                reason: format!(
                    "its parent `{segment}` is a {:?} {:?} column, not a record",
                    parent.mode, parent.ty
                ),
            });
        }
        level = &mut parent.fields;
    }
    let column = Column {
        name: last.to_string(),
        ..column
    };
    match level.iter_mut().find(|c| c.name == *last) {
        Some(slot) => *slot = column,
        None => level.push(column),
    }
    Ok(())
}

/// BigQuery's rules for column names
/// (<https://cloud.google.com/bigquery/docs/schemas#column_names>): letters,
/// digits and underscores, not starting with a digit, at most 300
/// characters, unique among their siblings whatever their case, none of the
/// reserved prefixes; records nest at most 15 levels deep.
fn check_names(columns: &[Column], parent: &str, depth: usize) -> Result<(), TableError> {
    const RESERVED: &[&str] = &[
        "_table_",
        "_file_",
        "_partition",
        "_row_timestamp",
        "__root__",
        "_colon_",
    ];
    for (i, column) in columns.iter().enumerate() {
        let path = if parent.is_empty() {
            column.name.clone()
        } else {
            format!("{parent}.{}", column.name)
        };
        let bad = |reason: &str| {
            Err(TableError::Column {
                path: path.clone(),
                reason: reason.to_string(),
            })
        };
        let name = &column.name;
        let lower = name.to_ascii_lowercase();
        if name.is_empty()
            || name.len() > 300
            || name.starts_with(|c: char| c.is_ascii_digit())
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return bad("a column name is 1 to 300 letters, digits and underscores, not starting with a digit");
        }
        if let Some(prefix) = RESERVED.iter().find(|p| lower.starts_with(**p)) {
            return bad(&format!("BigQuery reserves the prefix {prefix}"));
        }
        if columns[..i]
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(name))
        {
            return bad("another column has this name (BigQuery ignores case in column names)");
        }
        if column.ty == Type::Record {
            if depth >= 15 {
                return bad("records nest at most 15 levels deep in BigQuery");
            }
            check_names(&column.fields, &path, depth + 1)?;
        }
    }
    Ok(())
}

/// `hermes schema bigquery` arguments: `--destination NAME`, `--quarantine`,
/// `--enrich [--destination NAME]`.
pub fn parse_args(args: &[String]) -> Result<Table, String> {
    let mut destination = None;
    let mut quarantine = false;
    let mut enrich = false;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--destination" => {
                let name = args
                    .get(i + 1)
                    .ok_or("--destination needs a destination name")?;
                if destination.replace(name.clone()).is_some() {
                    return Err("--destination is given twice".into());
                }
                i += 2;
            }
            "--quarantine" => {
                quarantine = true;
                i += 1;
            }
            "--enrich" => {
                enrich = true;
                i += 1;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    match (destination, quarantine, enrich) {
        (Some(name), false, false) => Ok(Table::Destination(name)),
        (None, true, false) => Ok(Table::Quarantine),
        (source, false, true) => Ok(Table::Enriched { source }),
        (None, false, false) => {
            Err("say which table: --destination NAME, --quarantine or --enrich".into())
        }
        _ => Err("--quarantine goes alone; --enrich takes an optional --destination".into()),
    }
}

/// The schema as `bq mk --schema` and Terraform read it: a JSON array, pretty.
pub fn render(columns: &[Column]) -> String {
    // Serializing plain strings and enums cannot fail.
    serde_json::to_string_pretty(columns).unwrap_or_default()
}
