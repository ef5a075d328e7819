//! One validator of HTTP requests against Google's API discovery documents
//! (<https://developers.google.com/discovery/v1/reference/apis>), as shipped by the
//! PyPI package google-api-python-client (`pubsub.v1.json`, `firestore.v1.json`),
//! which `scripts/install-test-tools` installs into the tools venv. It checks:
//!
//! - which method a request is: its HTTP method, the URI templates of the method's
//!   `path` and `flatPath`, and each path parameter against its `pattern`;
//! - its query parameters: documented for the method (or for every method), of
//!   their type;
//! - its JSON body against the method's request schema, recursively: every field
//!   exists, with the right JSON type and format (int64 as a string, bytes as
//!   base64, enums within `enum`); in a request, nothing output-only and every field
//!   Google marks "Required." present.
//!
//! Bodies of answers are checked with [`Direction::Response`] (output-only fields
//! allowed, nothing required).

use crate::ci::skip;
use crate::emulator::tools_dir;
use base64::Engine;
use regex::Regex;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// Whether a body is a request (stricter: required fields, no output-only ones).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Direction {
    Request,
    Response,
}

/// Where google-api-python-client keeps its documents, below the venv's `lib/python*/`.
const DOCUMENTS: &str = "site-packages/googleapiclient/discovery_cache/documents";

/// `.tools/venv/lib/python*/site-packages/googleapiclient/discovery_cache/documents/{file}`.
pub fn document_path(file: &str) -> Option<PathBuf> {
    let lib = tools_dir().join("venv").join("lib");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&lib)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
        .map(|e| e.path().join(DOCUMENTS).join(file))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop()
}

/// Path parameters whose documented formats are wider than their `pattern`: the
/// discovery format keeps the pattern of the first HTTP binding only. runQuery's
/// `parent` also takes the database root, `projects/{project_id}/databases/{database_id}/documents`
/// (its description says so; google/firestore/v1/firestore.proto has that binding),
/// which collection-group queries need.
const DESCRIBED_BINDINGS: &[(&str, &str)] =
    &[("firestore.projects.databases.documents.runQuery", "parent")];

/// One-of groups of the protos that the discovery format cannot express, by service
/// and schema: exactly one of these fields is set.
fn one_of(service: &str, schema: &str) -> Option<&'static [&'static str]> {
    match (service, schema) {
        ("firestore", "Value") => Some(&[
            "nullValue",
            "booleanValue",
            "integerValue",
            "doubleValue",
            "timestampValue",
            "stringValue",
            "bytesValue",
            "referenceValue",
            "geoPointValue",
            "arrayValue",
            "mapValue",
            "fieldReferenceValue",
            "functionValue",
            "pipelineValue",
            "variableReferenceValue",
        ]),
        ("firestore", "Write") => Some(&["update", "delete", "transform"]),
        ("firestore", "FieldTransform") => Some(&[
            "setToServerValue",
            "increment",
            "maximum",
            "minimum",
            "appendMissingElements",
            "removeAllFromArray",
        ]),
        _ => None,
    }
}

/// A discovery document.
pub struct Discovery {
    doc: Value,
}

/// How a request's path variables fit a method's path parameters.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fit {
    /// Each by its `pattern`.
    Pattern,
    /// One through a format its description lists ([`DESCRIBED_BINDINGS`]).
    Described,
    No,
}

impl Discovery {
    /// `file` (`pubsub.v1.json`) from the tools venv. Missing: the calling test is
    /// skipped ([`skip`]; a failure under CI).
    pub fn load(file: &str) -> Option<Self> {
        let Some(path) = document_path(file) else {
            skip(format!(
                "{file} not found under {}/python*/{DOCUMENTS}: run scripts/install-test-tools \
                 (scripts/test does it for you)",
                tools_dir().join("venv/lib").display()
            ));
            return None;
        };
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let doc = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        Some(Self::new(doc))
    }

    pub fn new(doc: Value) -> Self {
        Self { doc }
    }

    pub fn doc(&self) -> &Value {
        &self.doc
    }

    /// `pubsub.v1.json`, for messages.
    fn title(&self) -> String {
        format!(
            "{}.{}.json",
            self.doc["name"].as_str().unwrap_or("?"),
            self.doc["version"].as_str().unwrap_or("?")
        )
    }

    /// `rootUrl` + `servicePath`: `https://pubsub.googleapis.com/`.
    pub fn base_url(&self) -> String {
        format!(
            "{}{}",
            self.doc["rootUrl"].as_str().unwrap_or_default(),
            self.doc["servicePath"].as_str().unwrap_or_default()
        )
    }

    /// A method by its id, with or without the service prefix:
    /// `projects.topics.publish` or `pubsub.projects.topics.publish`.
    pub fn method(&self, id: &str) -> &Value {
        let service = self.doc["name"].as_str().unwrap_or_default();
        let dotted = id
            .strip_prefix(service)
            .and_then(|rest| rest.strip_prefix('.'))
            .unwrap_or(id);
        let mut parts: Vec<&str> = dotted.split('.').collect();
        let name = parts.pop().expect("method name");
        let mut node = &self.doc;
        for r in parts {
            node = &node["resources"][r];
        }
        let m = &node["methods"][name];
        assert!(m.is_object(), "no method {id} in {}", self.title());
        m
    }

    /// Every method of the document.
    pub fn methods(&self) -> Vec<&Value> {
        fn walk<'a>(node: &'a Value, out: &mut Vec<&'a Value>) {
            if let Some(ms) = node.get("methods").and_then(Value::as_object) {
                out.extend(ms.values());
            }
            if let Some(rs) = node.get("resources").and_then(Value::as_object) {
                for r in rs.values() {
                    walk(r, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.doc, &mut out);
        out
    }

    pub fn schema(&self, name: &str) -> Result<&Value, String> {
        let s = &self.doc["schemas"][name];
        if s.is_object() {
            Ok(s)
        } else {
            Err(format!("schema {name} is not in the discovery document"))
        }
    }

    /// The name of a method's response schema.
    pub fn response_schema(&self, id: &str) -> String {
        self.method(id)["response"]["$ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} has no response schema"))
            .to_string()
    }

    /// A URL path relative to the service root, percent-decoded; `None` outside it.
    fn relative(&self, path: &str) -> Option<String> {
        let service_path = self.doc["servicePath"].as_str().unwrap_or_default();
        let path = percent_decode(path);
        path.strip_prefix('/')
            .unwrap_or(&path)
            .strip_prefix(service_path)
            .map(str::to_string)
    }

    /// The methods a request's HTTP method and URL path fit, path parameters included.
    pub fn find_methods(&self, http_method: &str, url_path: &str) -> Vec<&Value> {
        let Some(rel) = self.relative(url_path) else {
            return Vec::new();
        };
        self.methods()
            .into_iter()
            .filter(|m| {
                m["httpMethod"]
                    .as_str()
                    .is_some_and(|h| h.eq_ignore_ascii_case(http_method))
            })
            .filter(|m| {
                let template = m["path"].as_str().unwrap_or("");
                match_template(template, &rel).iter().any(|binding| {
                    binding_fit(m, binding).unwrap_or_else(|e| panic!("{e}")) != Fit::No
                })
            })
            .collect()
    }

    /// Checks an HTTP request (method, path with its query, JSON body) against the
    /// method `method_id`. Returns every problem found.
    pub fn check_request(
        &self,
        method_id: &str,
        http_method: &str,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Vec<String> {
        let m = self.method(method_id);
        let mut errors = Vec::new();
        let want = m["httpMethod"].as_str().unwrap_or_default();
        if !want.eq_ignore_ascii_case(http_method) {
            errors.push(format!("HTTP method {http_method}, expected {want}"));
        }
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let Some(rel) = self.relative(path) else {
            let service_path = self.doc["servicePath"].as_str().unwrap_or_default();
            errors.push(format!("path {path} is not under /{service_path}"));
            return errors;
        };
        let template = m["path"].as_str().unwrap_or_default();
        let bindings = match_template(template, &rel);
        let mut fit = Fit::No;
        for binding in &bindings {
            match binding_fit(m, binding) {
                Ok(Fit::No) => {}
                Ok(found) => {
                    fit = found;
                    if found == Fit::Pattern {
                        break;
                    }
                }
                Err(e) => {
                    errors.push(e);
                    break;
                }
            }
        }
        match bindings.first() {
            None => errors.push(format!("path {rel} does not match {template}")),
            Some(vars) => {
                for name in vars.keys() {
                    if m["parameters"][name]["location"] != "path" {
                        errors.push(format!("{name} is not a path parameter"));
                    }
                }
                if fit == Fit::No {
                    for (name, value) in vars {
                        if param_fit(m, name, value) != Ok(Fit::No) {
                            continue;
                        }
                        match m["parameters"][name]["pattern"].as_str() {
                            Some(pattern) => errors.push(format!(
                                "path parameter {name}={value} does not match {pattern}"
                            )),
                            None => errors.push(format!("path parameter {name}={value:?}")),
                        }
                    }
                }
            }
        }
        // flatPath spells out the first HTTP binding only, as `pattern` does.
        if fit != Fit::Described {
            if let Some(flat) = m["flatPath"].as_str() {
                if match_template(flat, &rel).is_empty() {
                    errors.push(format!("path {rel} does not match flatPath {flat}"));
                }
            }
        }
        let query: Vec<(String, String)> = query
            .split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        self.check_query(m, &query, &mut errors);
        match (m["request"]["$ref"].as_str(), body) {
            (Some(name), Some(b)) => self.validate(
                &json!({ "$ref": name }),
                b,
                "body",
                Direction::Request,
                &mut errors,
            ),
            (Some(name), None) => errors.push(format!("no body, expected {name}")),
            (None, Some(_)) => errors.push("a body, but the method takes none".into()),
            (None, None) => {}
        }
        errors
    }

    /// Which method a request is (its id), or every reason it fits none: the method
    /// found by HTTP method and path, then [`Self::check_request`].
    pub fn identify(
        &self,
        http_method: &str,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<String, Vec<String>> {
        let path = path_and_query.split('?').next().unwrap_or_default();
        let found = self.find_methods(http_method, path);
        let method = match found.as_slice() {
            [m] => *m,
            [] => {
                return Err(vec![format!(
                    "{http_method} {path}: no method of {} has this method and path",
                    self.title()
                )])
            }
            many => {
                let ids: Vec<&Value> = many.iter().map(|m| &m["id"]).collect();
                return Err(vec![format!(
                    "{http_method} {path}: ambiguous, matches {ids:?}"
                )]);
            }
        };
        let id = method["id"].as_str().unwrap_or("?").to_string();
        let errors = self.check_request(&id, http_method, path_and_query, body);
        if errors.is_empty() {
            Ok(id)
        } else {
            Err(errors.into_iter().map(|e| format!("{id}: {e}")).collect())
        }
    }

    /// A request wiremock recorded, through [`Self::identify`], with what HTTP adds: a
    /// body is JSON, sent as `application/json`. Returns the method id.
    pub fn check_recorded(&self, req: &wiremock::Request) -> Result<String, Vec<String>> {
        let path_and_query = match req.url.query() {
            Some(q) => format!("{}?{q}", req.url.path()),
            None => req.url.path().to_string(),
        };
        let mut errors = Vec::new();
        let body = if req.body.is_empty() {
            None
        } else {
            let content_type = req
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !content_type.starts_with("application/json") {
                errors.push(format!(
                    "content-type {content_type:?}, not application/json"
                ));
            }
            match serde_json::from_slice::<Value>(&req.body) {
                Ok(body) => Some(body),
                Err(e) => {
                    errors.push(format!("body is not JSON: {e}"));
                    None
                }
            }
        };
        match self.identify(req.method.as_str(), &path_and_query, body.as_ref()) {
            Ok(id) if errors.is_empty() => Ok(id),
            Ok(_) => Err(errors),
            Err(more) => {
                errors.extend(more);
                Err(errors)
            }
        }
    }

    /// Query parameters: each documented for `method` (or for every method) as a
    /// query parameter, of its type.
    pub fn check_query(
        &self,
        method: &Value,
        query: &[(String, String)],
        errors: &mut Vec<String>,
    ) {
        for (k, v) in query {
            let local = &method["parameters"][k];
            let global = &self.doc["parameters"][k];
            let param = if local["location"] == "query" {
                local
            } else if global["location"] == "query" {
                global
            } else {
                errors.push(format!(
                    "unknown query parameter {k} (not a parameter of {})",
                    method["id"]
                ));
                continue;
            };
            let ok = match param["type"].as_str() {
                Some("integer") => v.parse::<i32>().is_ok(),
                Some("boolean") => v == "true" || v == "false",
                _ => true,
            };
            if !ok {
                errors.push(format!(
                    "query parameter {k}={v:?} is not a {}",
                    param["type"]
                ));
            }
        }
    }

    /// The problems of `value` as a `schema` (a schema name), reported from `schema`.
    pub fn errors(&self, schema: &str, value: &Value, dir: Direction) -> Vec<String> {
        let mut errors = Vec::new();
        self.validate(&json!({ "$ref": schema }), value, schema, dir, &mut errors);
        errors
    }

    /// Validates `value` at `at` against a schema or property spec (with `$ref`s into
    /// `schemas`).
    pub fn validate(
        &self,
        schema: &Value,
        value: &Value,
        at: &str,
        dir: Direction,
        errors: &mut Vec<String>,
    ) {
        if let Some(name) = schema["$ref"].as_str() {
            match self.schema(name) {
                Ok(s) => {
                    self.check_one_of(name, value, at, errors);
                    self.validate(s, value, at, dir, errors);
                }
                Err(e) => errors.push(format!("{at}: {e}")),
            }
            return;
        }
        if value.is_null() {
            errors.push(format!("{at}: null (omit the field instead)"));
            return;
        }
        let ty = schema["type"].as_str().unwrap_or("any");
        match ty {
            "object" => self.validate_object(schema, value, at, dir, errors),
            "array" => match value.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.validate(&schema["items"], item, &format!("{at}[{i}]"), dir, errors);
                    }
                }
                None => errors.push(format!("{at}: expected an array, got {value}")),
            },
            "string" => match value.as_str() {
                Some(s) => {
                    if let Some(e) = check_format(schema["format"].as_str(), s) {
                        errors.push(format!("{at}: {e}"));
                    }
                    if let Some(allowed) = schema["enum"].as_array() {
                        if !allowed.iter().any(|a| a == value) {
                            errors.push(format!("{at}: {s:?} is not one of {allowed:?}"));
                        }
                    }
                }
                None => errors.push(format!("{at}: expected a string, got {value}")),
            },
            "integer" => {
                let ok = match schema["format"].as_str() {
                    Some("int32") => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
                    Some("uint32") => value.as_u64().is_some_and(|n| u32::try_from(n).is_ok()),
                    _ => value.is_i64() || value.is_u64(),
                };
                if !ok {
                    errors.push(format!("{at}: expected an integer, got {value}"));
                }
            }
            "number" => {
                if !value.is_number() {
                    errors.push(format!("{at}: expected a number, got {value}"));
                }
            }
            "boolean" => {
                if !value.is_boolean() {
                    errors.push(format!("{at}: expected a boolean, got {value}"));
                }
            }
            "any" => {}
            other => errors.push(format!("{at}: unsupported schema type {other}")),
        }
    }

    /// The proto one-of groups of [`one_of`].
    fn check_one_of(&self, name: &str, value: &Value, at: &str, errors: &mut Vec<String>) {
        let service = self.doc["name"].as_str().unwrap_or_default();
        let (Some(group), Some(obj)) = (one_of(service, name), value.as_object()) else {
            return;
        };
        let set: Vec<&str> = group
            .iter()
            .copied()
            .filter(|k| obj.contains_key(*k))
            .collect();
        // An empty Write is no write at all, which the proto allows.
        if set.len() != 1 && !(name == "Write" && set.is_empty() && obj.is_empty()) {
            errors.push(format!(
                "{at}: a {name} needs exactly one of {group:?}, has {set:?}"
            ));
        }
    }

    fn validate_object(
        &self,
        schema: &Value,
        value: &Value,
        at: &str,
        dir: Direction,
        errors: &mut Vec<String>,
    ) {
        let Some(obj) = value.as_object() else {
            errors.push(format!("{at}: expected an object, got {value}"));
            return;
        };
        let empty = Map::new();
        let props = schema["properties"].as_object().unwrap_or(&empty);
        let extra = schema.get("additionalProperties");
        for (key, v) in obj {
            let here = format!("{at}.{key}");
            match (props.get(key), extra) {
                (Some(p), _) => {
                    if dir == Direction::Request && output_only(p) {
                        errors.push(format!("{here}: output only, must not be sent"));
                    }
                    self.validate(p, v, &here, dir, errors);
                }
                (None, Some(e)) => self.validate(e, v, &here, dir, errors),
                (None, None) => errors.push(format!(
                    "{here}: unknown field (schema {} has {:?})",
                    schema["id"].as_str().unwrap_or("?"),
                    props.keys().collect::<Vec<_>>()
                )),
            }
        }
        if dir == Direction::Request {
            for (key, p) in props {
                let required = p["description"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("Required."));
                if required && obj.get(key).is_none_or(Value::is_null) {
                    errors.push(format!("{at}.{key}: required, missing"));
                }
            }
        }
    }
}

/// How the variables of one template match fit `method`'s path parameters.
fn binding_fit(method: &Value, binding: &BTreeMap<String, String>) -> Result<Fit, String> {
    let mut fit = Fit::Pattern;
    for (name, value) in binding {
        match param_fit(method, name, value)? {
            Fit::No => return Ok(Fit::No),
            Fit::Described => fit = Fit::Described,
            Fit::Pattern => {}
        }
    }
    Ok(fit)
}

/// Whether a path parameter's value is allowed: by its `pattern` (any value without
/// `/` when it has none), or, for [`DESCRIBED_BINDINGS`], by a format its own
/// description lists in backticks.
fn param_fit(method: &Value, name: &str, value: &str) -> Result<Fit, String> {
    let param = &method["parameters"][name];
    match param.get("pattern").and_then(Value::as_str) {
        Some(p) if pattern_matches(p, value)? => return Ok(Fit::Pattern),
        Some(_) => {}
        None if !value.is_empty() && !value.contains('/') => return Ok(Fit::Pattern),
        None => return Ok(Fit::No),
    }
    let id = method["id"].as_str().unwrap_or("");
    if !DESCRIBED_BINDINGS.contains(&(id, name)) {
        return Ok(Fit::No);
    }
    let description = param
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("");
    let described = description
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|f| f.contains('{'))
        .any(|format| format_regex(format).is_match(value));
    Ok(if described { Fit::Described } else { Fit::No })
}

/// Output-only fields, as Google's descriptions mark them.
fn output_only(p: &Value) -> bool {
    p["readOnly"] == true
        || p["description"].as_str().is_some_and(|d| {
            d.starts_with("Output only")
                || d.contains("must not be populated")
                || d.contains("Output-only")
        })
}

fn check_format(format: Option<&str>, s: &str) -> Option<String> {
    match format {
        Some("byte") => {
            let std = base64::engine::general_purpose::STANDARD.decode(s);
            let url = base64::engine::general_purpose::URL_SAFE.decode(s);
            (std.is_err() && url.is_err()).then(|| format!("{s:?} is not base64"))
        }
        Some("int64") => s
            .parse::<i64>()
            .err()
            .map(|_| format!("{s:?} is not an int64")),
        Some("uint64") => s
            .parse::<u64>()
            .err()
            .map(|_| format!("{s:?} is not a uint64")),
        Some("google-duration") => {
            let ok = s
                .strip_suffix('s')
                .is_some_and(|n| n.trim_start_matches('-').parse::<f64>().is_ok());
            (!ok).then(|| format!("{s:?} is not a duration like \"3.5s\""))
        }
        Some("google-datetime") => {
            let rfc3339 =
                compiled(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
                    .expect("the RFC 3339 regex compiles");
            (!rfc3339.is_match(s)).then(|| format!("{s:?} is not an RFC 3339 timestamp"))
        }
        _ => None,
    }
}

/// Matches a URI template of discovery (`v1/{+topic}:publish`, `v1/projects/{projectsId}`)
/// against a path without its leading `/`: `{+x}` takes any non-empty text, `{x}` a
/// non-empty text without `/`. Returns every way the variables can bind.
pub fn match_template(template: &str, path: &str) -> Vec<BTreeMap<String, String>> {
    fn go(
        t: &str,
        p: &str,
        bound: &mut BTreeMap<String, String>,
        out: &mut Vec<BTreeMap<String, String>>,
    ) {
        if t.is_empty() {
            if p.is_empty() {
                out.push(bound.clone());
            }
            return;
        }
        if let Some(rest) = t.strip_prefix('{') {
            let Some(end) = rest.find('}') else { return };
            let var = &rest[..end];
            let t_rest = &rest[end + 1..];
            let (name, reserved) = match var.strip_prefix('+') {
                Some(n) => (n, true),
                None => (var, false),
            };
            for cut in (1..=p.len()).filter(|&i| p.is_char_boundary(i)) {
                let value = &p[..cut];
                if !reserved && value.contains('/') {
                    break;
                }
                bound.insert(name.to_string(), value.to_string());
                go(t_rest, &p[cut..], bound, out);
                bound.remove(name);
            }
            return;
        }
        let lit_end = t.find('{').unwrap_or(t.len());
        if let Some(p_rest) = p.strip_prefix(&t[..lit_end]) {
            go(&t[lit_end..], p_rest, bound, out);
        }
    }
    let mut out = Vec::new();
    go(template, path, &mut BTreeMap::new(), &mut out);
    out
}

/// Whether `text` matches a discovery `pattern` (a regular expression); a pattern
/// that does not compile is an error, not a mismatch.
pub fn pattern_matches(pattern: &str, text: &str) -> Result<bool, String> {
    Ok(compiled(pattern)?.is_match(text))
}

/// A compiled regex, cached: compiling is slow in debug builds.
fn compiled(pattern: &str) -> Result<Regex, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(re) = cache.get(pattern) {
        return Ok(re.clone());
    }
    let re = Regex::new(pattern).map_err(|e| format!("pattern {pattern:?}: {e}"))?;
    cache.insert(pattern.to_string(), re.clone());
    Ok(re)
}

/// `projects/{project_id}/documents/{document_path}` as an anchored regex.
fn format_regex(format: &str) -> Regex {
    let mut re = String::from("^");
    let mut rest = format;
    while let Some(start) = rest.find('{') {
        re.push_str(&regex::escape(&rest[..start]));
        let end = rest[start..].find('}').map_or(rest.len(), |e| start + e);
        let var = &rest[start + 1..end.min(rest.len())];
        re.push_str(if var.ends_with("_path") {
            ".+"
        } else {
            "[^/]+"
        });
        rest = rest.get(end + 1..).unwrap_or("");
    }
    re.push_str(&regex::escape(rest));
    re.push('$');
    compiled(&re).expect("an escaped format compiles")
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
