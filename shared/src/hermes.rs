//! Destinations ("tags") and the Hermes encoding: which events a destination
//! takes, and how an event becomes a Pub/Sub message (`_int` / `_num` key
//! suffixes, compact JSON payload, static attributes).

use crate::json::{Element, Json};
use crate::pubsub::{LimitExceeded, Message, TopicName};
use crate::transform::Transform;
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

/// A dotted path (`items.0.quantity`); numeric segments index arrays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    text: String,
    segments: Vec<String>,
}

impl FieldPath {
    pub fn parse(text: &str) -> Option<Self> {
        if text.is_empty() || text.split('.').any(str::is_empty) {
            return None;
        }
        Some(Self {
            text: text.to_string(),
            segments: text.split('.').map(str::to_string).collect(),
        })
    }

    /// A one-segment path: a top-level field.
    pub fn field(name: &str) -> Self {
        Self {
            text: name.to_string(),
            segments: vec![name.to_string()],
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value at this path; `None` when any segment is missing or the value is null.
    pub fn lookup<'v, 'a>(&self, root: &'v Json<'a>) -> Option<&'v Json<'a>> {
        let mut cur = root;
        for seg in &self.segments {
            cur = match cur {
                Json::Object(_) => cur.get(seg)?,
                Json::Array(items) => items.get(seg.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        (!cur.is_null()).then_some(cur)
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
    fn write(self, value: &Json<'_>, out: &mut Vec<u8>) -> Result<(), String> {
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

fn numeric(value: &Json<'_>) -> Result<Numeric, String> {
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
                _ => Err(format!(
                    "the string \"{}\" is not a number",
                    truncate(&s, 40)
                )),
            }
        }
        other => Err(format!(
            "a {} cannot be converted to a number",
            other.type_name()
        )),
    }
}

fn to_int(value: &Json<'_>) -> Result<i64, String> {
    match numeric(value)? {
        Numeric::Int(i) => Ok(i),
        Numeric::Uint(u) => Err(format!("{u} does not fit in a 64-bit integer")),
        Numeric::Float(f) => {
            let t = f.trunc();
            // i64::MAX as f64 rounds up to 2^63, which is out of range.
            if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&t) {
                Ok(t as i64)
            } else {
                Err(format!("{f} does not fit in a 64-bit integer"))
            }
        }
    }
}

fn to_num(value: &Json<'_>) -> Result<Number, String> {
    Ok(match numeric(value)? {
        Numeric::Int(i) => Number::from(i),
        Numeric::Uint(u) => Number::from(u),
        Numeric::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Number::from(f as i64),
        Numeric::Float(f) => {
            Number::from_f64(f).ok_or_else(|| format!("{f} is not a finite number"))?
        }
    })
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// One row of the Hermes key/value table.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingRow {
    /// The payload key, suffix stripped.
    pub key: String,
    pub conversion: Conversion,
    pub path: FieldPath,
}

/// A destination: a Pub/Sub topic and the rules that put events on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    pub name: String,
    pub id: String,
    pub topic: TopicName,
    /// Trigger: `event_name` in this list (empty: every event).
    pub events: Vec<String>,
    /// Trigger: these paths present and not null.
    pub require: Vec<FieldPath>,
    /// The key/value table; `None`: the whole event is the payload.
    pub mapping: Option<Vec<MappingRow>>,
    /// Static attributes, validated against Pub/Sub's limits at start-up.
    pub attributes: Vec<(String, String)>,
    /// Trigger: the event's `consent` grants all of these (`"GRANTED"`).
    pub require_consent: Vec<String>,
    /// Personal-data transforms, applied before encoding; `None`: none at all.
    pub transform: Option<Transform>,
}

/// Whether a destination triggers for an event, and if not, why (shown by the
/// preview inspector). Not triggering is never a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger<'a> {
    Fired,
    /// `event_name` is not one of the destination's `events`.
    EventNotMatched,
    /// A `require` path is missing or null.
    RequiredFieldMissing(&'a FieldPath),
    /// A `require_consent` entry is not `"GRANTED"` in the event's `consent`
    /// (absent, denied, or malformed).
    NoConsent(&'a str),
}

impl Trigger<'_> {
    pub fn fired(&self) -> bool {
        matches!(self, Self::Fired)
    }

    /// A stable code for the reason: `fired`, `not_matched`, `required_missing`, `no_consent`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Fired => "fired",
            Self::EventNotMatched => "not_matched",
            Self::RequiredFieldMissing(_) => "required_missing",
            Self::NoConsent(_) => "no_consent",
        }
    }
}

impl std::fmt::Display for Trigger<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fired => f.write_str("triggered"),
            Self::EventNotMatched => f.write_str("not matched: event_name is not in `events`"),
            Self::RequiredFieldMissing(path) => {
                write!(
                    f,
                    "not matched: required field `{}` is missing",
                    path.as_str()
                )
            }
            Self::NoConsent(kind) => write!(f, "no consent: `consent.{kind}` is not \"GRANTED\""),
        }
    }
}

/// Whether the event's `consent` object (GA4 Measurement Protocol style)
/// grants `kind`: exactly the string `"GRANTED"`; anything else is no consent.
fn granted(event: &Json<'_>, kind: &str) -> bool {
    event
        .get("consent")
        .and_then(|c| c.get(kind))
        .is_some_and(|v| v.is_str("GRANTED"))
}

/// Why a tag failed for an event before anything was sent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EncodeError {
    #[error("cannot convert `{key}` (from `{path}`): {reason}")]
    Conversion {
        key: String,
        path: String,
        reason: String,
    },
    #[error(transparent)]
    Limit(#[from] LimitExceeded),
}

impl Destination {
    /// Whether this destination's trigger fires for a (schema-valid) event.
    pub fn triggers(&self, event: &Json<'_>) -> bool {
        self.trigger(event).fired()
    }

    /// The trigger decision for a (schema-valid) event, with its reason.
    pub fn trigger(&self, event: &Json<'_>) -> Trigger<'_> {
        if !self.events.is_empty() {
            let name = event.get("event_name");
            if !name.is_some_and(|n| self.events.iter().any(|e| n.is_str(e))) {
                return Trigger::EventNotMatched;
            }
        }
        if let Some(path) = self.require.iter().find(|p| p.lookup(event).is_none()) {
            return Trigger::RequiredFieldMissing(path);
        }
        if let Some(kind) = self.require_consent.iter().find(|k| !granted(event, k)) {
            return Trigger::NoConsent(kind);
        }
        Trigger::Fired
    }

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
        preview: bool,
    ) -> Result<Message, EncodeError> {
        // Transforms first: nothing below (payload, attributes, errors) sees clear text.
        let value = self.transformed(&event.value);
        let value = value.as_ref();
        let data = match (&self.mapping, &self.transform) {
            (None, None) if event.minified => share(body, event.text.as_bytes()),
            (None, _) => Bytes::from(value.to_vec()),
            (Some(rows), _) => Bytes::from(self.mapped(rows, value)?),
        };
        let mut attributes = Vec::with_capacity(self.attributes.len() + 3);
        if let Some(name) = value.get("event_name").and_then(Json::as_str) {
            attributes.push((ATTR_EVENT_NAME.to_string(), name.into_owned()));
        }
        attributes.push((ATTR_EVENT_ID.to_string(), event_id.to_string()));
        attributes.extend(self.attributes.iter().cloned());
        if preview {
            attributes.push((ATTR_PREVIEW.to_string(), "true".to_string()));
        }
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
                    reason,
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

/// `part` of `body` as a slice sharing its memory; a copy when `part` lies elsewhere.
fn share(body: &Bytes, part: &[u8]) -> Bytes {
    let range = body.as_ptr_range();
    let inside = range.start <= part.as_ptr() && part.as_ptr_range().end <= range.end;
    if inside && !part.is_empty() {
        body.slice_ref(part)
    } else {
        Bytes::copy_from_slice(part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// The trigger decision for an event written as a `Value`.
    fn trigger_of<'d>(d: &'d Destination, event: &Value) -> Trigger<'d> {
        let text = event.to_string();
        d.trigger(&crate::json::parse(&text).unwrap())
    }

    fn convert(conversion: Conversion, value: Value) -> Result<Value, String> {
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

    fn destination(toml: &str) -> Destination {
        let text =
            format!("[[destinations]]\nname = \"d\"\ntopic = \"projects/p/topics/dest\"\n{toml}");
        crate::config::Config::parse_with_hash_key(&text, None, None)
            .unwrap()
            .destinations
            .remove(0)
    }

    #[test]
    fn consent_matrix() {
        let d = destination(
            "events = [\"purchase\"]\nrequire_consent = [\"ad_user_data\", \"ad_personalization\"]",
        );
        let both = json!({"ad_user_data": "GRANTED", "ad_personalization": "GRANTED"});
        let with = |consent: Value| json!({"event_name": "purchase", "consent": consent});
        assert_eq!(trigger_of(&d, &with(both.clone())), Trigger::Fired);
        for (consent, missing) in [
            (
                json!({"ad_user_data": "GRANTED", "ad_personalization": "DENIED"}),
                "ad_personalization",
            ),
            (
                json!({"ad_user_data": "DENIED", "ad_personalization": "GRANTED"}),
                "ad_user_data",
            ),
            (json!({"ad_user_data": "GRANTED"}), "ad_personalization"),
            (json!({}), "ad_user_data"),
            (
                json!({"ad_user_data": "granted", "ad_personalization": "GRANTED"}),
                "ad_user_data",
            ),
            (
                json!({"ad_user_data": true, "ad_personalization": "GRANTED"}),
                "ad_user_data",
            ),
            (
                json!({"ad_user_data": ["GRANTED"], "ad_personalization": "GRANTED"}),
                "ad_user_data",
            ),
            (json!("GRANTED"), "ad_user_data"),
            (json!(["GRANTED"]), "ad_user_data"),
            (Value::Null, "ad_user_data"),
        ] {
            assert_eq!(
                trigger_of(&d, &with(consent.clone())),
                Trigger::NoConsent(missing),
                "{consent}"
            );
        }
        assert_eq!(
            trigger_of(&d, &json!({"event_name": "purchase"})),
            Trigger::NoConsent("ad_user_data")
        );
        assert_eq!(
            trigger_of(&d, &json!({"event_name": "page_view", "consent": both})),
            Trigger::EventNotMatched
        );
        // Without require_consent, consent plays no part.
        assert!(trigger_of(&destination(""), &json!({"consent": "nonsense"})).fired());
    }

    #[test]
    fn trigger_reasons() {
        let d = destination("require = [\"items\"]\nrequire_consent = [\"ad_user_data\"]");
        let missing = trigger_of(&d, &json!({"consent": {"ad_user_data": "GRANTED"}}));
        assert_eq!(missing.code(), "required_missing");
        assert_eq!(
            missing.to_string(),
            "not matched: required field `items` is missing"
        );
        let no_consent = trigger_of(&d, &json!({"items": []}));
        assert_eq!(no_consent.code(), "no_consent");
        assert!(no_consent.to_string().contains("consent.ad_user_data"));
        assert!(!no_consent.fired());
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
        let message = destination("").encode(event, &body, "e1", false).unwrap();
        assert_eq!(message.data.as_ptr(), body[1..].as_ptr());
        let d = destination("[destinations.transform]\ndrop = [\"user_data\"]");
        assert_eq!(d.transformed(&event.value).to_vec(), b"{}");
        let message = d.encode(event, &body, "e1", false).unwrap();
        assert_eq!(message.data, &b"{}"[..]);
    }

    #[test]
    fn paths_index_arrays() {
        let event = crate::json::parse(r#"{"items": [{"quantity": 3}], "n": null}"#).unwrap();
        let p = FieldPath::parse("items.0.quantity").unwrap();
        assert_eq!(p.lookup(&event), Some(&Json::Number("3")));
        assert_eq!(
            FieldPath::parse("items.1.quantity").unwrap().lookup(&event),
            None
        );
        assert_eq!(FieldPath::parse("n").unwrap().lookup(&event), None);
        assert!(FieldPath::parse("a..b").is_none());
    }
}
