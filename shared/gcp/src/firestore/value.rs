//! Plain JSON ↔ Firestore's typed `Value` JSON (`{"integerValue": "3"}`, …)
//! and field-path quoting.

use hermes_core::time::{format_timestamp, normalize_timestamp};
use serde_json::{json, Map, Value};
use std::io::Write as _;
use std::time::SystemTime;

/// A Firestore `Value` for a JSON value.
///
/// Integers that fit i64 become `integerValue` (a string, as proto3 JSON writes
/// int64); other numbers `doubleValue`. JSON strings stay `stringValue` (use
/// [`timestamp_value`] for timestamps). Standard-edition Firestore rejects an
/// array directly inside an array, so such an inner array is stored as its JSON
/// text rather than failing the whole commit. Map keys Firestore reserves or
/// forbids (see [`valid_field_name`]) are dropped for the same reason.
pub fn to_value(v: &Value) -> Value {
    to_value_in(v, false)
}

fn to_value_in(v: &Value, in_array: bool) -> Value {
    match v {
        Value::Null => json!({ "nullValue": "NULL_VALUE" }),
        Value::Bool(b) => json!({ "booleanValue": b }),
        Value::Number(n) => match n.as_i64() {
            Some(i) => json!({ "integerValue": i.to_string() }),
            None => json!({ "doubleValue": n.as_f64().unwrap_or(0.0) }),
        },
        Value::String(s) => json!({ "stringValue": s }),
        Value::Array(items) if in_array => {
            json!({ "stringValue": Value::Array(items.clone()).to_string() })
        }
        Value::Array(items) => {
            let values: Vec<Value> = items.iter().map(|i| to_value_in(i, true)).collect();
            json!({ "arrayValue": { "values": values } })
        }
        Value::Object(m) => json!({ "mapValue": { "fields": to_fields(m) } }),
    }
}

/// Writes [`to_value`]`(v)` as compact JSON to `out`, byte for byte what
/// `serde_json::to_vec(&to_value(v))` gives, without building the tree.
pub(crate) fn write_value(out: &mut Vec<u8>, v: &Value) {
    write_value_in(out, v, false);
}

fn write_value_in(out: &mut Vec<u8>, v: &Value, in_array: bool) {
    match v {
        Value::Null => out.extend_from_slice(br#"{"nullValue":"NULL_VALUE"}"#),
        Value::Bool(true) => out.extend_from_slice(br#"{"booleanValue":true}"#),
        Value::Bool(false) => out.extend_from_slice(br#"{"booleanValue":false}"#),
        Value::Number(n) => match n.as_i64() {
            Some(i) => {
                out.extend_from_slice(br#"{"integerValue":""#);
                // Writing to a Vec cannot fail.
                let _ = write!(out, "{i}");
                out.extend_from_slice(br#""}"#);
            }
            None => {
                out.extend_from_slice(br#"{"doubleValue":"#);
                write_f64(out, n.as_f64().unwrap_or(0.0));
                out.push(b'}');
            }
        },
        Value::String(s) => {
            out.extend_from_slice(br#"{"stringValue":"#);
            write_str(out, s);
            out.push(b'}');
        }
        Value::Array(_) if in_array => {
            out.extend_from_slice(br#"{"stringValue":"#);
            write_str(out, &v.to_string());
            out.push(b'}');
        }
        Value::Array(items) => {
            out.extend_from_slice(br#"{"arrayValue":{"values":["#);
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value_in(out, item, true);
            }
            out.extend_from_slice(b"]}}");
        }
        Value::Object(m) => {
            out.extend_from_slice(br#"{"mapValue":{"fields":"#);
            write_fields(out, m.iter());
            out.extend_from_slice(b"}}");
        }
    }
}

/// Writes the `fields` object of `entries` ([`to_fields`], as compact JSON):
/// keys Firestore refuses are dropped.
pub(crate) fn write_fields<'a>(
    out: &mut Vec<u8>,
    entries: impl Iterator<Item = (&'a String, &'a Value)>,
) {
    out.push(b'{');
    let mut first = true;
    for (k, v) in entries.filter(|(k, _)| valid_field_name(k)) {
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(out, k);
        out.push(b':');
        write_value(out, v);
    }
    out.push(b'}');
}

/// A JSON string, escaped as serde_json escapes it.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing to a Vec cannot fail, and a &str always serialises.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// A finite f64 as serde_json writes it (`10.0`, `1e300`); `null` otherwise,
/// as `json!` would turn it.
pub(crate) fn write_f64(out: &mut Vec<u8>, f: f64) {
    let _ = serde_json::to_writer(&mut *out, &f);
}

/// A document's `fields` for a JSON object (keys Firestore refuses are dropped).
pub fn to_fields(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .filter(|(k, _)| valid_field_name(k))
        .map(|(k, v)| (k.clone(), to_value(v)))
        .collect()
}

/// The JSON value of a Firestore `Value`.
///
/// Timestamps, bytes (base64) and references become strings, geo points
/// `{latitude, longitude}`; non-finite doubles (which JSON cannot hold) and
/// unknown kinds become `null`.
pub fn from_value(v: &Value) -> Value {
    let Some(obj) = v.as_object() else {
        return Value::Null;
    };
    if let Some(b) = obj.get("booleanValue") {
        return Value::Bool(b.as_bool().unwrap_or(false));
    }
    if let Some(i) = obj.get("integerValue") {
        return int_of(i).map(Value::from).unwrap_or(Value::Null);
    }
    if let Some(d) = obj.get("doubleValue") {
        return double_of(d)
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::Null);
    }
    if let Some(t) = obj.get("timestampValue") {
        let t = t.as_str().unwrap_or_default();
        return Value::String(normalize_timestamp(t).unwrap_or_else(|| t.to_string()));
    }
    for kind in ["stringValue", "bytesValue", "referenceValue"] {
        if let Some(s) = obj.get(kind) {
            return Value::String(s.as_str().unwrap_or_default().to_string());
        }
    }
    if let Some(a) = obj.get("arrayValue") {
        let values = a.get("values").and_then(Value::as_array);
        return Value::Array(
            values
                .map(|vs| vs.iter().map(from_value).collect())
                .unwrap_or_default(),
        );
    }
    if let Some(m) = obj.get("mapValue") {
        let fields = m.get("fields").and_then(Value::as_object);
        return Value::Object(fields.map(from_fields).unwrap_or_default());
    }
    if let Some(g) = obj.get("geoPointValue") {
        let coord = |k| g.get(k).and_then(double_of).unwrap_or(0.0);
        return json!({ "latitude": coord("latitude"), "longitude": coord("longitude") });
    }
    Value::Null
}

/// A JSON object for a document's `fields`.
pub fn from_fields(fields: &Map<String, Value>) -> Map<String, Value> {
    fields
        .iter()
        .map(|(k, v)| (k.clone(), from_value(v)))
        .collect()
}

/// An `integerValue`: proto3 JSON writes int64 as a string, but accept a number too.
pub(crate) fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// A `doubleValue`: a number, or `"NaN"` / `"Infinity"` / `"-Infinity"` as strings.
pub(crate) fn double_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Whether Firestore accepts `name` as a field name: not empty, not `__.*__`
/// (reserved), at most 1,500 bytes.
pub fn valid_field_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 1500
        && !(name.len() >= 4 && name.starts_with("__") && name.ends_with("__"))
}

/// The field path of a top-level field: as is when it is a simple name
/// (`[A-Za-z_][A-Za-z0-9_]*`), else quoted in backticks with `` ` `` and `\`
/// escaped — a dot in a name must not read as a path into a map.
pub fn field_path(name: &str) -> String {
    let mut chars = name.chars();
    let simple = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if simple {
        return name.to_string();
    }
    let mut out = String::with_capacity(name.len() + 2);
    out.push('`');
    for c in name.chars() {
        if c == '`' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('`');
    out
}

/// `{"timestampValue": "…"}` for a point in time.
pub fn timestamp_value(t: SystemTime) -> Value {
    json!({ "timestampValue": format_timestamp(t) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_through_values() {
        let v = json!({
            "null": null, "t": true, "i": -42, "big": u64::MAX, "d": 1.5, "s": "x",
            "a": [1, "two", [3]], "m": { "k": { "deep": [] } }, "__reserved__": 1, "": 2
        });
        let fields = to_fields(v.as_object().unwrap());
        assert_eq!(fields["i"], json!({ "integerValue": "-42" }));
        assert_eq!(fields["big"], json!({ "doubleValue": u64::MAX as f64 }));
        assert_eq!(fields["null"], json!({ "nullValue": "NULL_VALUE" }));
        assert_eq!(
            fields["a"]["arrayValue"]["values"][2],
            json!({ "stringValue": "[3]" })
        );
        assert!(!fields.contains_key("__reserved__") && !fields.contains_key(""));
        let back = Value::Object(from_fields(&fields));
        assert_eq!(
            back,
            json!({
                "null": null, "t": true, "i": -42, "big": u64::MAX as f64, "d": 1.5, "s": "x",
                "a": [1, "two", "[3]"], "m": { "k": { "deep": [] } }
            })
        );
    }

    #[test]
    fn reads_what_firestore_writes() {
        assert_eq!(from_value(&json!({ "integerValue": 7 })), json!(7));
        assert_eq!(from_value(&json!({ "doubleValue": "NaN" })), Value::Null);
        assert_eq!(from_value(&json!({ "doubleValue": 2 })), json!(2.0));
        assert_eq!(
            from_value(&json!({ "timestampValue": "2026-01-02T03:04:05.1Z" })),
            json!("2026-01-02T03:04:05.100000Z")
        );
        assert_eq!(from_value(&json!({ "arrayValue": {} })), json!([]));
        assert_eq!(from_value(&json!({ "mapValue": {} })), json!({}));
        assert_eq!(
            from_value(&json!({ "geoPointValue": { "latitude": 1.5, "longitude": -2 } })),
            json!({ "latitude": 1.5, "longitude": -2.0 })
        );
        assert_eq!(from_value(&json!({ "weird": 1 })), Value::Null);
        assert_eq!(from_value(&json!("bare")), Value::Null);
    }

    #[test]
    fn field_paths_are_quoted_when_not_simple() {
        assert_eq!(field_path("item_name"), "item_name");
        assert_eq!(field_path("_x9"), "_x9");
        assert_eq!(field_path("9x"), "`9x`");
        assert_eq!(field_path("a.b"), "`a.b`");
        assert_eq!(field_path("a`b\\c"), "`a\\`b\\\\c`");
        assert_eq!(field_path("é"), "`é`");
    }

    proptest::proptest! {
        #[test]
        fn any_json_converts_without_panicking(s in ".{0,20}", i in proptest::num::i64::ANY, d in proptest::num::f64::NORMAL) {
            let v = json!({ s.clone(): [i, d, [s.clone()], { "k": null }] });
            let back = Value::Object(from_fields(&to_fields(v.as_object().unwrap())));
            if valid_field_name(&s) {
                proptest::prop_assert_eq!(&back[&s][0], &json!(i));
                proptest::prop_assert_eq!(&back[&s][1], &json!(d));
            }
        }
    }
}
