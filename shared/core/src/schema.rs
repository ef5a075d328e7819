//! Type checking of events against the Server-to-Server client's schema format
//! (`field → { type, required, value }`), with the Common Event Data defaults.
//!
//! The rules are parsed once, at start-up, into [`Schema`]; checking an event
//! never fails on the schema itself, only on the event.

use crate::json::{Element, Json, Str};
use serde::Serialize;
use serde_json::Value;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    Number,
    Boolean,
    Object,
    Array,
}

impl FieldType {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "string" => Self::String,
            "number" => Self::Number,
            "boolean" => Self::Boolean,
            "object" => Self::Object,
            "array" => Self::Array,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Object => "object",
            Self::Array => "array",
        }
    }

    fn matches(self, value: &Json<'_>) -> bool {
        matches!(
            (self, value),
            (Self::String, Json::String(_))
                | (Self::Number, Json::Number(_))
                | (Self::Boolean, Json::Bool(_))
                | (Self::Object, Json::Object(_))
                | (Self::Array, Json::Array(_))
        )
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON type name of a value, as reported in errors (`null` included).
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// One field's rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub ty: FieldType,
    pub required: bool,
    pub nested: Nested,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Nested {
    /// No nested checking (primitives, or an object / array without `value`).
    None,
    /// The fields of an object.
    Fields(Fields),
    /// The rule every element of an array must follow.
    Element(Box<Rule>),
}

/// Ordered field rules; a later rule for the same name replaces the earlier one in place.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fields(Vec<(String, Rule)>);

impl Fields {
    pub fn set(&mut self, name: String, rule: Rule) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = rule,
            None => self.0.push((name, rule)),
        }
    }

    pub fn get(&self, name: &str) -> Option<&Rule> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, r)| r)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Rule)> {
        self.0.iter().map(|(n, r)| (n.as_str(), r))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A problem in a `structural` schema document, with the path of the rule at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct RuleError {
    pub path: String,
    pub message: String,
}

impl Rule {
    pub fn primitive(ty: FieldType, required: bool) -> Self {
        Self {
            ty,
            required,
            nested: Nested::None,
        }
    }

    /// Parses one rule of the template's structural format.
    pub fn from_json(value: &Value, path: &str) -> Result<Self, RuleError> {
        let err = |message: String| RuleError {
            path: path.to_string(),
            message,
        };
        let obj = value.as_object().ok_or_else(|| {
            err(format!(
                "a rule must be an object, got {}",
                json_type(value)
            ))
        })?;
        for key in obj.keys() {
            if !matches!(key.as_str(), "type" | "required" | "value") {
                return Err(err(format!(
                    "unknown key `{key}` (expected type, required, value)"
                )));
            }
        }
        let ty = match obj.get("type") {
            Some(Value::String(s)) => FieldType::parse(s).ok_or_else(|| {
                err(format!(
                    "unknown type \"{s}\" (expected string, number, boolean, object or array)"
                ))
            })?,
            Some(other) => {
                return Err(err(format!(
                    "`type` must be a string, got {}",
                    json_type(other)
                )))
            }
            None => return Err(err("missing `type`".into())),
        };
        let required = match obj.get("required") {
            None | Some(Value::Null) => false,
            Some(v) => parse_required(v).ok_or_else(|| {
                err(format!(
                    "`required` must be true, false, \"true\" or \"false\", got {v}"
                ))
            })?,
        };
        let nested = match (ty, obj.get("value")) {
            (_, None | Some(Value::Null)) => Nested::None,
            (FieldType::Object, Some(v)) => Nested::Fields(fields_from_json(v, path)?),
            (FieldType::Array, Some(v)) => {
                Nested::Element(Box::new(Rule::from_json(v, &format!("{path}[]"))?))
            }
            (_, Some(_)) => {
                return Err(err(format!(
                    "`value` is only allowed for object and array rules, not {ty}"
                )))
            }
        };
        Ok(Self {
            ty,
            required,
            nested,
        })
    }
}

/// `required` accepts booleans and the strings "true" / "false" (the template
/// treats the string "false" as true; we do not).
pub fn parse_required(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

/// Parses a map of `field → rule`.
pub fn fields_from_json(value: &Value, path: &str) -> Result<Fields, RuleError> {
    let obj = value.as_object().ok_or_else(|| RuleError {
        path: path.to_string(),
        message: format!(
            "expected an object of field rules, got {}",
            json_type(value)
        ),
    })?;
    let mut fields = Fields::default();
    for (name, rule) in obj {
        let child = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        fields.set(name.clone(), Rule::from_json(rule, &child)?);
    }
    Ok(fields)
}

/// What went wrong with one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Present, but of the wrong type.
    Type,
    /// Required, but null or absent.
    Missing,
    /// The request body is not an array of events.
    NotArray,
    /// An earlier event of the same request has the same identity.
    DuplicateEventId,
    /// An object of the event writes one key twice.
    DuplicateKey,
}

/// One failing leaf, in the shape of the response's `errors` entries.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaError {
    pub event_index: Option<usize>,
    pub path: String,
    pub code: ErrorCode,
    pub expected: &'static str,
    pub actual: &'static str,
    pub required: bool,
    pub message: String,
}

impl SchemaError {
    /// The error for a request body that is valid JSON but not an array.
    pub fn not_array(actual: &'static str) -> Self {
        Self {
            event_index: None,
            path: "events".into(),
            code: ErrorCode::NotArray,
            expected: "array",
            actual,
            required: true,
            message: format!(
                "Body: The request body is not of type array. Instead received a type of \"{actual}\". \
                 The sGTM client expects an array of event objects."
            ),
        }
    }

    /// Event `index` writes a key twice in one object, at `path` (cut to a
    /// bounded length): refused, since readers differ on which of the two
    /// values the key has (the check could read one, a consumer the other).
    pub fn duplicate_key(index: usize, mut path: String) -> Self {
        crate::excerpt::truncate_in_place(&mut path, MAX_PATH_CHARS);
        Self {
            event_index: Some(index),
            message: format!(
                "Duplicate Key: The \"{path}\" key is written more than once in its object. \
                 Each key may appear once."
            ),
            path,
            code: ErrorCode::DuplicateKey,
            expected: "unique",
            actual: "duplicate",
            required: false,
        }
    }

    /// Event `index` has the identity of event `first` of the same request,
    /// read from the id field at `field`: it is not published (it would be
    /// counted as the first), and says so.
    pub fn duplicate_event_id(index: usize, first: usize, field: &str) -> Self {
        let path = format!("events[{index}].{field}");
        Self {
            event_index: Some(index),
            message: format!(
                "Duplicate: The \"{path}\" value is the same as that of events[{first}]; \
                 one identity is one event, so this one was not published."
            ),
            path,
            code: ErrorCode::DuplicateEventId,
            expected: "unique",
            actual: "duplicate",
            required: false,
        }
    }
}

/// The event schema: Common Event Data plus the user's extensions.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    fields: Fields,
}

/// The Common Event Data string fields besides `event_name` (all optional).
pub const DEFAULT_STRINGS: &[&str] = &[
    "client_id",
    "ip_override",
    "language",
    "page_encoding",
    "page_hostname",
    "page_location",
    "page_path",
    "page_referrer",
    "page_title",
    "screen_resolution",
    "user_agent",
    "user_id",
    "viewport_size",
    "currency",
];

const USER_DATA_STRINGS: &[&str] = &[
    "email_address",
    "phone_number",
    "first_name",
    "last_name",
    "street",
    "city",
    "region",
    "postal_code",
    "country",
];

impl Default for Schema {
    /// Common Event Data: `event_name` required, everything else optional.
    fn default() -> Self {
        let mut fields = Fields::default();
        fields.set(
            "event_name".into(),
            Rule::primitive(FieldType::String, true),
        );
        for name in DEFAULT_STRINGS {
            fields.set((*name).into(), Rule::primitive(FieldType::String, false));
        }
        fields.set("value".into(), Rule::primitive(FieldType::Number, false));
        let mut user_data = Fields::default();
        for name in USER_DATA_STRINGS {
            user_data.set((*name).into(), Rule::primitive(FieldType::String, false));
        }
        fields.set(
            "user_data".into(),
            Rule {
                ty: FieldType::Object,
                required: false,
                nested: Nested::Fields(user_data),
            },
        );
        Self { fields }
    }
}

impl Schema {
    /// Adds a field or replaces a default field's rule whole.
    pub fn set(&mut self, name: String, rule: Rule) {
        self.fields.set(name, rule);
    }

    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// Checks one event; appends one error per failing leaf and returns whether it passed.
    pub fn check_event(
        &self,
        event: &Json<'_>,
        index: usize,
        errors: &mut Vec<SchemaError>,
    ) -> bool {
        self.check_event_capped(event, index, errors, usize::MAX)
            .passed
    }

    /// Checks one event of a request's array, as [`Schema::check_event_capped`]
    /// does, after refusing one that writes a key twice in an object (one
    /// error, and no type check: which value would it check?).
    pub fn check_element(
        &self,
        element: &Element<'_>,
        index: usize,
        errors: &mut Vec<SchemaError>,
        cap: usize,
    ) -> Checked {
        if element.repeated_key {
            let prefix = format!("events[{index}]");
            let path = element.value.repeated_key_path(&prefix).unwrap_or(prefix);
            if errors.len() < cap {
                errors.push(SchemaError::duplicate_key(index, path));
            }
            return Checked {
                passed: false,
                failed_leaves: 1,
            };
        }
        self.check_event_capped(&element.value, index, errors, cap)
    }

    /// Like [`Schema::check_event`], but `errors` never grows past `cap`
    /// entries: the errors beyond it are only counted, so an event with a
    /// million bad leaves costs a count, not a million messages.
    pub fn check_event_capped(
        &self,
        event: &Json<'_>,
        index: usize,
        errors: &mut Vec<SchemaError>,
        cap: usize,
    ) -> Checked {
        let mut sink = Sink {
            errors,
            cap,
            failed: 0,
        };
        // The path is only written out when an error needs it (most events have none).
        let path = Path::Event(index);
        match event {
            Json::Object(map) => check_fields(&self.fields, map, &path, &mut sink),
            other => sink.push(|| type_error(&path, FieldType::Object, other, true)),
        }
        Checked {
            passed: sink.failed == 0,
            failed_leaves: sink.failed,
        }
    }
}

/// The longest path an error about a repeated key quotes.
const MAX_PATH_CHARS: usize = 200;

/// What [`Schema::check_event_capped`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    pub passed: bool,
    /// Every failing leaf, kept or not.
    pub failed_leaves: usize,
}

/// Where the failing leaves go: kept up to `cap`, counted always. An error
/// past the cap is never built (its path and message cost allocations).
struct Sink<'a> {
    errors: &'a mut Vec<SchemaError>,
    cap: usize,
    failed: usize,
}

impl Sink<'_> {
    fn push(&mut self, error: impl FnOnce() -> SchemaError) {
        self.failed += 1;
        if self.errors.len() < self.cap {
            self.errors.push(error());
        }
    }
}

/// Where the checker is (`events[2].user_data.city`): a chain on the stack,
/// written out only for an error.
#[derive(Clone, Copy)]
enum Path<'p> {
    Event(usize),
    Field(&'p Path<'p>, &'p str),
    Element(&'p Path<'p>, usize),
}

impl Path<'_> {
    fn index(&self) -> usize {
        match self {
            Self::Event(i) => *i,
            Self::Field(parent, _) | Self::Element(parent, _) => parent.index(),
        }
    }
}

impl Path<'_> {
    /// The path's text, written once per error (its message quotes it).
    fn text(&self) -> String {
        let mut out = String::with_capacity(32);
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        use fmt::Write;
        match self {
            Self::Event(i) => {
                let _ = write!(out, "events[{i}]");
            }
            Self::Field(parent, name) => {
                parent.write(out);
                out.push('.');
                out.push_str(name);
            }
            Self::Element(parent, i) => {
                parent.write(out);
                let _ = write!(out, "[{i}]");
            }
        }
    }
}

fn check_fields(
    fields: &Fields,
    map: &[(Str<'_>, Json<'_>)],
    path: &Path<'_>,
    errors: &mut Sink<'_>,
) {
    for (name, rule) in fields.iter() {
        let value = field(map, name);
        // An absent optional field (most of the schema, for most events) costs a scan.
        if !rule.required && value.is_none_or(Json::is_null) {
            continue;
        }
        check_value(rule, value, &Path::Field(path, name), errors);
    }
}

/// The value of field `name` (the last one when the key repeats, as a map keeps it).
fn field<'v, 'a>(map: &'v [(Str<'a>, Json<'a>)], name: &str) -> Option<&'v Json<'a>> {
    map.iter().rev().find(|(k, _)| k.is(name)).map(|(_, v)| v)
}

fn check_value(rule: &Rule, value: Option<&Json<'_>>, path: &Path<'_>, errors: &mut Sink<'_>) {
    let value = match value {
        None | Some(Json::Null) => {
            if rule.required {
                errors.push(|| {
                    let index = path.index();
                    let path = path.text();
                    SchemaError {
                        event_index: Some(index),
                        message: format!(
                            "Missing Field: The \"{path}\" value is required but was not found."
                        ),
                        path,
                        code: ErrorCode::Missing,
                        expected: rule.ty.as_str(),
                        actual: "null",
                        required: true,
                    }
                });
            }
            return;
        }
        Some(v) => v,
    };
    if !rule.ty.matches(value) {
        errors.push(|| type_error(path, rule.ty, value, rule.required));
        return;
    }
    match (&rule.nested, value) {
        (Nested::Fields(fields), Json::Object(map)) => check_fields(fields, map, path, errors),
        (Nested::Element(element), Json::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                check_value(element, Some(item), &Path::Element(path, i), errors);
            }
        }
        _ => {}
    }
}

fn type_error(
    path: &Path<'_>,
    expected: FieldType,
    value: &Json<'_>,
    required: bool,
) -> SchemaError {
    let actual = value.type_name();
    let text = path.text();
    SchemaError {
        event_index: Some(path.index()),
        message: format!(
            "Schema: The \"{text}\" field was not of expected type \"{expected}\". \
             Instead received the value type \"{actual}\". This field is{} required.",
            if required { "" } else { " not" }
        ),
        path: text,
        code: ErrorCode::Type,
        expected: expected.as_str(),
        actual,
        required,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors_of(schema: &Schema, event: Value) -> Vec<SchemaError> {
        let text = event.to_string();
        let mut errors = Vec::new();
        schema.check_event(&crate::json::parse(&text).unwrap(), 0, &mut errors);
        errors
    }

    #[test]
    fn required_string_false_is_false() {
        let rule = Rule::from_json(&json!({"type": "string", "required": "false"}), "x").unwrap();
        assert!(!rule.required);
        let rule = Rule::from_json(&json!({"type": "string", "required": "true"}), "x").unwrap();
        assert!(rule.required);
    }

    #[test]
    fn unknown_rule_keys_and_types_are_errors() {
        let e = Rule::from_json(&json!({"type": "string", "requird": true}), "a.b").unwrap_err();
        assert_eq!(e.path, "a.b");
        assert!(e.message.contains("requird"));
        assert!(Rule::from_json(&json!({"type": "int"}), "a").is_err());
        assert!(Rule::from_json(&json!({"type": "string", "value": {}}), "a").is_err());
    }

    #[test]
    fn array_is_never_an_object() {
        let errors = errors_of(
            &Schema::default(),
            json!({"event_name": "x", "user_data": []}),
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "events[0].user_data");
        assert_eq!(errors[0].actual, "array");
    }

    #[test]
    fn each_bad_element_is_its_own_error() {
        let mut schema = Schema::default();
        schema.set(
            "tags".into(),
            Rule::from_json(
                &json!({"type": "array", "value": {"type": "string"}}),
                "tags",
            )
            .unwrap(),
        );
        let errors = errors_of(&schema, json!({"event_name": "x", "tags": [1, "a", false]}));
        let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["events[0].tags[0]", "events[0].tags[2]"]);
    }

    #[test]
    fn non_object_event_is_one_type_error() {
        for event in [json!(1), json!("x"), json!([]), json!(true)] {
            let errors = errors_of(&Schema::default(), event);
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].path, "events[0]");
            assert_eq!(errors[0].code, ErrorCode::Type);
        }
    }

    /// The checker as it was over `serde_json::Value`, kept as the reference
    /// the borrowed-tree checker must agree with.
    mod value_oracle {
        use super::super::*;
        use serde_json::{Map, Value};

        pub fn check(schema: &Schema, event: &Value, index: usize) -> Vec<SchemaError> {
            let mut errors = Vec::new();
            let path = format!("events[{index}]");
            match event {
                Value::Object(map) => fields(&schema.fields, map, &path, index, &mut errors),
                other => errors.push(error(&path, index, FieldType::Object, other, true)),
            }
            errors
        }

        fn fields(
            f: &Fields,
            map: &Map<String, Value>,
            path: &str,
            i: usize,
            out: &mut Vec<SchemaError>,
        ) {
            for (name, rule) in f.iter() {
                let value = map.get(name);
                if !rule.required && value.is_none_or(Value::is_null) {
                    continue;
                }
                value_of(rule, value, &format!("{path}.{name}"), i, out);
            }
        }

        fn value_of(
            rule: &Rule,
            value: Option<&Value>,
            path: &str,
            i: usize,
            out: &mut Vec<SchemaError>,
        ) {
            let value = match value {
                None | Some(Value::Null) => {
                    if rule.required {
                        out.push(SchemaError {
                            event_index: Some(i),
                            path: path.to_string(),
                            code: ErrorCode::Missing,
                            expected: rule.ty.as_str(),
                            actual: "null",
                            required: true,
                            message: format!(
                                "Missing Field: The \"{path}\" value is required but was not found."
                            ),
                        });
                    }
                    return;
                }
                Some(v) => v,
            };
            let matches = matches!(
                (rule.ty, value),
                (FieldType::String, Value::String(_))
                    | (FieldType::Number, Value::Number(_))
                    | (FieldType::Boolean, Value::Bool(_))
                    | (FieldType::Object, Value::Object(_))
                    | (FieldType::Array, Value::Array(_))
            );
            if !matches {
                out.push(error(path, i, rule.ty, value, rule.required));
                return;
            }
            match (&rule.nested, value) {
                (Nested::Fields(f), Value::Object(map)) => fields(f, map, path, i, out),
                (Nested::Element(element), Value::Array(items)) => {
                    for (j, item) in items.iter().enumerate() {
                        value_of(element, Some(item), &format!("{path}[{j}]"), i, out);
                    }
                }
                _ => {}
            }
        }

        fn error(
            path: &str,
            i: usize,
            expected: FieldType,
            value: &Value,
            required: bool,
        ) -> SchemaError {
            let actual = json_type(value);
            SchemaError {
                event_index: Some(i),
                path: path.to_string(),
                code: ErrorCode::Type,
                expected: expected.as_str(),
                actual,
                required,
                message: format!(
                    "Schema: The \"{path}\" field was not of expected type \"{expected}\". \
                     Instead received the value type \"{actual}\". This field is{} required.",
                    if required { "" } else { " not" }
                ),
            }
        }
    }

    /// Any JSON value, small.
    fn any_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "[a-z]{0,3}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-z]{1,2}", inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// Events whose fields are the schema's (and some others), of any type.
    fn event() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let names: Vec<&'static str> = ["event_name", "value", "user_data", "tags", "extra"]
            .into_iter()
            .chain(DEFAULT_STRINGS.iter().copied())
            .chain(USER_DATA_STRINGS.iter().copied())
            .collect();
        let user_data = prop::collection::vec(
            (
                prop::sample::select(USER_DATA_STRINGS.to_vec()),
                any_value(),
            ),
            0..5,
        )
        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()));
        let field = prop_oneof![any_value(), user_data];
        prop_oneof![
            1 => any_value(),
            8 => prop::collection::vec((prop::sample::select(names), field), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

        /// The checker over the borrowed tree gives exactly the errors the
        /// checker over `serde_json::Value` gave (paths, codes, messages, order).
        #[test]
        fn same_errors_as_the_value_checker(event in event(), index in 0usize..20) {
            let mut schema = Schema::default();
            schema.set(
                "tags".into(),
                Rule::from_json(&json!({"type": "array", "required": true, "value": {"type": "string"}}), "tags").unwrap(),
            );
            let text = event.to_string();
            let mut errors = Vec::new();
            let passed = schema.check_event(&crate::json::parse(&text).unwrap(), index, &mut errors);
            let expected = value_oracle::check(&schema, &event, index);
            proptest::prop_assert_eq!(passed, expected.is_empty());
            proptest::prop_assert_eq!(errors, expected);
        }
    }
}
