//! A checker of Pub/Sub messages against a table schema, written from
//! Google's rules for a BigQuery subscription with `use_table_schema`
//! (<https://cloud.google.com/pubsub/docs/bigquery#schema_compatibility>,
//! <https://cloud.google.com/pubsub/docs/bigquery#properties_subscription>,
//! and the Storage Write API's conversions the subscription writes with,
//! <https://cloud.google.com/bigquery/docs/write-api#data_type_conversions>):
//!
//! - the message data is one JSON object; its fields are matched to columns by name;
//! - a field the table lacks fails the write, unless `drop_unknown_fields`,
//!   which drops it (at any depth);
//! - REQUIRED: present and not null; NULLABLE: absent or null is NULL;
//!   REPEATED: a JSON array whose elements are not null (absent or null: empty);
//! - STRING takes JSON strings; INTEGER JSON numbers that are integers in the
//!   64-bit range; FLOAT JSON numbers; BOOLEAN JSON booleans; TIMESTAMP an RFC
//!   3339 string or an integer of microseconds since the epoch; JSON any value
//!   (as we read the pages; the Write API's Java client takes JSON columns as
//!   strings of JSON text, README "Limits");
//!   RECORD a JSON object, field by field;
//! - with `write_metadata`, Pub/Sub fills `subscription_name`, `message_id`,
//!   `publish_time` and `attributes` itself: a payload field of one of those
//!   names collides with them.
//!
//! Where Google accepts more (numeric strings for numbers, say) the checker
//! does not: a message it accepts is one BigQuery takes by every reading of
//! those pages.

use super::{metadata_columns, Column, Mode, Type};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub drop_unknown_fields: bool,
}

/// The subscription's settings in Terraform (warehouse.tf).
pub const SUBSCRIPTION: Options = Options {
    drop_unknown_fields: true,
};

/// Why the row of a message with `data` and `attributes` would not be
/// written to `table` (empty: it would be).
pub fn check_message(
    table: &[Column],
    data: &[u8],
    attributes: &[(String, String)],
    options: Options,
) -> Vec<String> {
    let mut errors = Vec::new();
    let payload = match serde_json::from_slice::<Value>(data) {
        Ok(Value::Object(map)) => map,
        Ok(other) => return vec![format!("the data is JSON but not an object: {other}")],
        Err(e) => return vec![format!("the data is not JSON: {e}")],
    };
    let metadata = metadata_columns();
    let mut row = Map::new();
    for (key, value) in payload {
        if metadata.iter().any(|m| m.name == key) {
            errors.push(format!("`{key}`: a metadata column has this name"));
        }
        row.insert(key, value);
    }
    // What Pub/Sub writes with write_metadata.
    row.insert(
        "subscription_name".into(),
        "projects/p/subscriptions/warehouse".into(),
    );
    row.insert("message_id".into(), "1234567890".into());
    row.insert("publish_time".into(), "2026-12-07T10:00:00.123Z".into());
    row.insert(
        "attributes".into(),
        Value::Object(
            attributes
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                .collect(),
        ),
    );
    record(table, &row, "", options, &mut errors);
    errors
}

fn record(
    columns: &[Column],
    object: &Map<String, Value>,
    path: &str,
    options: Options,
    errors: &mut Vec<String>,
) {
    let at = |name: &str| {
        if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        }
    };
    for key in object.keys() {
        if !options.drop_unknown_fields && !columns.iter().any(|c| c.name == *key) {
            errors.push(format!("`{}`: no such column", at(key)));
        }
    }
    for column in columns {
        value(
            column,
            object.get(&column.name),
            &at(&column.name),
            options,
            errors,
        );
    }
}

fn value(
    column: &Column,
    found: Option<&Value>,
    path: &str,
    options: Options,
    errors: &mut Vec<String>,
) {
    let found = match found {
        None | Some(Value::Null) => {
            if column.mode == Mode::Required {
                errors.push(format!("`{path}`: REQUIRED, but missing or null"));
            }
            return;
        }
        Some(v) => v,
    };
    if column.mode == Mode::Repeated {
        let Value::Array(items) = found else {
            errors.push(format!("`{path}`: REPEATED, but {found} is no array"));
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let at = format!("{path}[{i}]");
            if item.is_null() {
                errors.push(format!("`{at}`: a REPEATED column holds no null"));
            } else {
                single(column, item, &at, options, errors);
            }
        }
    } else {
        single(column, found, path, options, errors);
    }
}

fn single(column: &Column, v: &Value, path: &str, options: Options, errors: &mut Vec<String>) {
    let ok = match column.ty {
        Type::String => v.is_string(),
        Type::Integer => v.as_i64().is_some(),
        Type::Float => v.is_number(),
        Type::Boolean => v.is_boolean(),
        Type::Timestamp => match v {
            Value::String(s) => is_rfc3339(s),
            Value::Number(n) => n.as_i64().is_some(),
            _ => false,
        },
        Type::Json => true,
        Type::Record => match v {
            Value::Object(map) => {
                record(&column.fields, map, path, options, errors);
                true
            }
            _ => false,
        },
    };
    if !ok {
        errors.push(format!("`{path}`: {:?} does not take {v}", column.ty));
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, the timestamps of RFC 3339
/// (`t` / `z` and a space for `T` too, as RFC 3339 allows).
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let two = |i: usize| -> u32 { ((b[i] - b'0') * 10 + (b[i + 1] - b'0')) as u32 };
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !matches!(b[10], b'T' | b't' | b' ')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    if !(1..=12).contains(&two(5)) || !(1..=31).contains(&two(8)) {
        return false;
    }
    if two(11) > 23 || two(14) > 59 || two(17) > 60 {
        return false;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()),
        _ => false,
    }
}
