//! The Hermes encoding: how an event becomes a Pub/Sub message (transforms
//! first, then the whole event or the key/value table with its `_int` / `_num`
//! suffixes, compact JSON, the Hermes and static attributes).

use super::message::{LimitExceeded, Message};
use super::Destination;
use crate::field_path::FieldPath;
use crate::json::{Element, Json};
use bytes::Bytes;
use serde_json::Number;
use std::borrow::Cow;

/// Attribute every message carries: the event's name.
pub const ATTR_EVENT_NAME: &str = "event_name";
/// Attribute carried by messages published for preview requests.
pub const ATTR_PREVIEW: &str = "hermes_preview";
/// Attribute every message carries: the event's identity, fixed before the
/// first publish attempt so every retry resends it (README, "Delivery guarantees").
pub const ATTR_EVENT_ID: &str = "hermes_event_id";
/// Attribute carried by messages of a backfill request (`X-Hermes-Backfill:
/// true`): old events sent again, which each push job counts or skips as it declares.
pub const ATTR_BACKFILL: &str = "hermes_backfill";

/// What a request says of all its messages, carried as attributes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Marks {
    /// Sent by a preview request: [`ATTR_PREVIEW`].
    pub preview: bool,
    /// Sent by a backfill request: [`ATTR_BACKFILL`].
    pub backfill: bool,
}

impl Marks {
    /// The attributes these marks add to a message.
    pub fn attributes(self) -> impl Iterator<Item = (String, String)> {
        let preview = self
            .preview
            .then(|| (ATTR_PREVIEW.to_string(), "true".to_string()));
        let backfill = self
            .backfill
            .then(|| (ATTR_BACKFILL.to_string(), "true".to_string()));
        preview.into_iter().chain(backfill)
    }
}

/// How a mapped value is converted, from its key's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    Keep,
    Int,
    Num,
}

impl Conversion {
    /// Splits a mapping key into the payload key and its conversion; only the
    /// final suffix is stripped (`a_int_b_int` → `a_int_b`).
    pub fn from_key(key: &str) -> (&str, Self) {
        if let Some(stripped) = key.strip_suffix("_int").filter(|s| !s.is_empty()) {
            (stripped, Self::Int)
        } else if let Some(stripped) = key.strip_suffix("_num").filter(|s| !s.is_empty()) {
            (stripped, Self::Num)
        } else {
            (key, Self::Keep)
        }
    }

    /// Writes the converted value: as written for `Keep`, else the number.
    fn write(self, value: &Json<'_>, out: &mut Vec<u8>) -> Result<(), ConversionError> {
        match self {
            Self::Keep => value.write(out),
            Self::Int => out.extend_from_slice(to_int(value)?.to_string().as_bytes()),
            Self::Num => out.extend_from_slice(to_num(value)?.to_string().as_bytes()),
        }
        Ok(())
    }
}

/// A number as `f64`, or an integral number as itself, from a JSON number or a numeric string.
enum Numeric {
    Int(i64),
    Uint(u64),
    Float(f64),
}

/// Why a mapped value could not be converted to a number.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConversionError {
    /// A string that is no finite decimal number (its preview).
    #[error("the string \"{0}\" is not a number")]
    NotANumber(String),
    #[error("a {0} cannot be converted to a number")]
    NotNumeric(&'static str),
    /// A number beyond `i64` (as written).
    #[error("{0} does not fit in a 64-bit integer")]
    OutOfRange(String),
    #[error("{0} is not a finite number")]
    NotFinite(f64),
    /// A `user_data` value that cannot be converted: error texts never quote one.
    #[error("a user_data value (not shown) is not a number that fits")]
    Personal,
}

impl ConversionError {
    /// The same failure without the value it quotes, for a `user_data` path.
    fn unquoted(self) -> Self {
        match self {
            Self::NotNumeric(kind) => Self::NotNumeric(kind),
            Self::NotANumber(_) | Self::OutOfRange(_) | Self::NotFinite(_) | Self::Personal => {
                Self::Personal
            }
        }
    }
}

fn numeric(value: &Json<'_>) -> Result<Numeric, ConversionError> {
    match value {
        // JSON number syntax is a subset of Rust's: the text parses as serde_json would.
        Json::Number(n) => Ok(if let Ok(i) = n.parse::<i64>() {
            Numeric::Int(i)
        } else if let Ok(u) = n.parse::<u64>() {
            Numeric::Uint(u)
        } else {
            Numeric::Float(n.parse::<f64>().unwrap_or(f64::NAN))
        }),
        Json::String(s) => {
            let s = s.as_cow();
            let t = s.trim();
            if let Ok(i) = t.parse::<i64>() {
                return Ok(Numeric::Int(i));
            }
            // Rust's float parser also takes "inf" and "NaN": only finite decimals count.
            match t.parse::<f64>() {
                Ok(f) if f.is_finite() => Ok(Numeric::Float(f)),
                _ => Err(ConversionError::NotANumber(crate::excerpt::short(&s))),
            }
        }
        other => Err(ConversionError::NotNumeric(other.type_name())),
    }
}

fn to_int(value: &Json<'_>) -> Result<i64, ConversionError> {
    match numeric(value)? {
        Numeric::Int(i) => Ok(i),
        Numeric::Uint(u) => Err(ConversionError::OutOfRange(u.to_string())),
        Numeric::Float(f) => {
            let t = f.trunc();
            // i64::MAX as f64 rounds up to 2^63, which is out of range.
            if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&t) {
                Ok(t as i64)
            } else {
                Err(ConversionError::OutOfRange(f.to_string()))
            }
        }
    }
}

fn to_num(value: &Json<'_>) -> Result<Number, ConversionError> {
    Ok(match numeric(value)? {
        Numeric::Int(i) => Number::from(i),
        Numeric::Uint(u) => Number::from(u),
        Numeric::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Number::from(f as i64),
        Numeric::Float(f) => Number::from_f64(f).ok_or(ConversionError::NotFinite(f))?,
    })
}

/// One row of the Hermes key/value table.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingRow {
    /// The payload key, suffix stripped.
    pub key: String,
    pub conversion: Conversion,
    pub path: FieldPath,
}

/// Why a tag failed for an event before anything was sent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EncodeError {
    #[error("cannot convert `{key}` (from `{path}`): {reason}")]
    Conversion {
        key: String,
        path: String,
        reason: ConversionError,
    },
    #[error(transparent)]
    Limit(#[from] LimitExceeded),
}

impl Destination {
    /// The event as this destination sees it: transformed on a copy when it
    /// has transforms, borrowed as it is otherwise.
    pub fn transformed<'v, 'a>(&self, event: &'v Json<'a>) -> Cow<'v, Json<'a>> {
        match &self.transform {
            None => Cow::Borrowed(event),
            Some(t) => {
                let mut copy = event.clone();
                t.apply(&mut copy);
                Cow::Owned(copy)
            }
        }
    }

    /// Builds the message for one event whose identity is `event_id`. `body`
    /// is the text the event was parsed from: a whole, already minified event
    /// is published as a slice of it, without a copy.
    pub fn encode(
        &self,
        event: &Element<'_>,
        body: &Bytes,
        event_id: &str,
        marks: Marks,
    ) -> Result<Message, EncodeError> {
        // Transforms first: nothing below (payload, attributes, errors) sees clear text.
        let value = self.transformed(&event.value);
        let value = value.as_ref();
        let data = match (&self.mapping, &self.transform) {
            (None, None) if event.minified => crate::json::share(body, event.text.as_bytes()),
            (None, _) => Bytes::from(value.to_vec()),
            (Some(rows), _) => Bytes::from(self.mapped(rows, value)?),
        };
        let mut attributes = Vec::with_capacity(self.attributes.len() + 4);
        if let Some(name) = value.get("event_name").and_then(Json::as_str) {
            attributes.push((ATTR_EVENT_NAME.to_string(), name.into_owned()));
        }
        attributes.push((ATTR_EVENT_ID.to_string(), event_id.to_string()));
        attributes.extend(self.attributes.iter().cloned());
        attributes.extend(marks.attributes());
        let message = Message { data, attributes };
        message.check_limits()?;
        Ok(message)
    }

    /// The payload of a mapping: `{key: value}` in the table's order, the
    /// values as written unless converted. A key that comes again (`n` and
    /// `n_int`) keeps its first place and takes the later value.
    fn mapped(&self, rows: &[MappingRow], event: &Json<'_>) -> Result<Vec<u8>, EncodeError> {
        let mut values: Vec<(&str, Vec<u8>)> = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(value) = row.path.lookup(event) else {
                continue;
            };
            let mut text = Vec::new();
            row.conversion
                .write(value, &mut text)
                .map_err(|reason| EncodeError::Conversion {
                    key: row.key.clone(),
                    path: row.path.as_str().to_string(),
                    reason: if row.path.is_personal() {
                        reason.unquoted()
                    } else {
                        reason
                    },
                })?;
            match values.iter_mut().find(|(k, _)| *k == row.key) {
                Some(slot) => slot.1 = text,
                None => values.push((&row.key, text)),
            }
        }
        let size: usize = values.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
        let mut out = Vec::with_capacity(size + 2);
        out.push(b'{');
        for (i, (key, text)) in values.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            crate::json::write_escaped(&mut out, key);
            out.push(b':');
            out.extend_from_slice(text);
        }
        out.push(b'}');
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::for_tests::destination;
    use serde_json::{json, Value};

    fn convert(conversion: Conversion, value: Value) -> Result<Value, ConversionError> {
        let text = value.to_string();
        let mut out = Vec::new();
        conversion.write(&crate::json::parse(&text).unwrap(), &mut out)?;
        Ok(serde_json::from_slice(&out).unwrap())
    }

    #[test]
    fn only_the_final_suffix_is_stripped() {
        assert_eq!(
            Conversion::from_key("a_int_b_int"),
            ("a_int_b", Conversion::Int)
        );
        assert_eq!(
            Conversion::from_key("value_num"),
            ("value", Conversion::Num)
        );
        assert_eq!(
            Conversion::from_key("value_num_x"),
            ("value_num_x", Conversion::Keep)
        );
        assert_eq!(Conversion::from_key("_int"), ("_int", Conversion::Keep));
    }

    /// An error text quotes a value that is not a number, but never a
    /// `user_data` one (it reaches the answer and the preview trace).
    #[test]
    fn conversion_errors_never_quote_user_data() {
        let d = destination(
            "[destinations.mapping]\na_int = \"user_data.email_address\"\nb_int = \"note\"",
        );
        let encode = |event: &str| {
            let text = format!("[{event}]");
            let events = crate::json::parse_array(&text, 10).unwrap();
            let body = Bytes::from(text.clone());
            d.encode(&events.items[0], &body, "id", Marks::default())
                .unwrap_err()
                .to_string()
        };
        let personal = encode(r#"{"user_data":{"email_address":"LEAKEMAIL@x.com"}}"#);
        assert!(!personal.contains("LEAKEMAIL"), "{personal}");
        assert!(personal.contains("user_data.email_address"), "{personal}");
        let big = encode(r#"{"user_data":{"email_address":18446744073709551616}}"#);
        assert!(!big.contains("18446744073709551616"), "{big}");
        // Elsewhere the value is quoted, short, to help whoever sent it.
        let other = encode(r#"{"note":"not-a-number"}"#);
        assert!(other.contains("not-a-number"), "{other}");
    }

    #[test]
    fn conversions() {
        let int = |v: Value| convert(Conversion::Int, v);
        let num = |v: Value| convert(Conversion::Num, v);
        assert_eq!(int(json!(2.9)), Ok(json!(2)));
        assert_eq!(int(json!(-2.9)), Ok(json!(-2)));
        assert_eq!(int(json!(" 2.9 ")), Ok(json!(2)));
        assert_eq!(int(json!("1e3")), Ok(json!(1000)));
        assert!(int(json!(1e19)).is_err());
        assert!(int(json!(u64::MAX)).is_err());
        assert!(int(json!(true)).is_err());
        assert!(int(json!("abc")).is_err());
        assert!(int(json!("inf")).is_err());
        assert!(int(json!("NaN")).is_err());
        assert!(int(json!([1])).is_err());
        assert_eq!(num(json!(150)), Ok(json!(150)));
        assert_eq!(num(json!("150")), Ok(json!(150)));
        assert_eq!(num(json!("150.0")), Ok(json!(150)));
        assert_eq!(num(json!("7.77")), Ok(json!(7.77)));
        assert!(num(json!({})).is_err());
    }

    #[test]
    fn destinations_without_transforms_borrow_the_event() {
        let body = Bytes::from_static(br#"[{"user_data":{"email_address":"a@b.io"}}]"#);
        let text = std::str::from_utf8(&body).unwrap();
        let events = crate::json::parse_array(text, 10).unwrap();
        let event = &events.items[0];
        assert!(matches!(
            destination("").transformed(&event.value),
            Cow::Borrowed(_)
        ));
        // A whole, minified event is published as a slice of the body itself.
        let message = destination("")
            .encode(event, &body, "e1", Marks::default())
            .unwrap();
        assert_eq!(message.data.as_ptr(), body[1..].as_ptr());
        let d = destination("[destinations.transform]\ndrop = [\"user_data\"]");
        assert_eq!(d.transformed(&event.value).to_vec(), b"{}");
        let message = d.encode(event, &body, "e1", Marks::default()).unwrap();
        assert_eq!(message.data, &b"{}"[..]);
    }
}
