//! Contract test: every Pub/Sub request our client builds matches Google's own
//! discovery document (`pubsub.v1.json`, shipped by PyPI google-api-python-client
//! in `.tools/venv`): method, URL path (`v1/{+topic}:publish` and its flatPath,
//! the parameter pattern), and the body against `PublishRequest` → `PubsubMessage`
//! (no unknown fields, right types, `data` base64, `attributes` a map of strings,
//! nothing output-only). The response we answer is checked against `PublishResponse`.
//!
//! Requests are captured for real: `PubSubRest` (and the `hermes-ingest` binary)
//! talk to a local wiremock server used purely as a recorder.

mod support;

use base64::Engine;
use hermes_core::gcp::{Auth, Endpoint};
use hermes_core::hermes::Message;
use hermes_core::pubsub::{PubSubRest, Publisher};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::{binary, free_port, tool, wait_http, Proc};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const PUBLISH: &str = "projects.topics.publish";

// =====================================================================================
// A validator for Google API discovery documents (generic: any service, any method).
// =====================================================================================
mod discovery {
    use serde_json::{json, Map, Value};
    use std::collections::BTreeMap;

    /// Whether a body is a request (stricter: required fields, no output-only ones).
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub enum Direction {
        Request,
        Response,
    }

    pub struct Doc {
        pub doc: Value,
    }

    impl Doc {
        pub fn new(doc: Value) -> Self {
            Self { doc }
        }

        /// `https://pubsub.googleapis.com/` + `servicePath`.
        pub fn base_url(&self) -> String {
            format!(
                "{}{}",
                self.doc["rootUrl"].as_str().unwrap_or_default(),
                self.doc["servicePath"].as_str().unwrap_or_default()
            )
        }

        /// A method by its id without the service prefix: `projects.topics.publish`.
        pub fn method(&self, dotted: &str) -> &Value {
            let mut parts: Vec<&str> = dotted.split('.').collect();
            let name = parts.pop().expect("method name");
            let mut node = &self.doc;
            for r in parts {
                node = &node["resources"][r];
            }
            let m = &node["methods"][name];
            assert!(
                m.is_object(),
                "no method {dotted} in the discovery document"
            );
            m
        }

        pub fn schema(&self, name: &str) -> Result<&Value, String> {
            let s = &self.doc["schemas"][name];
            if s.is_object() {
                Ok(s)
            } else {
                Err(format!("schema {name} is not in the discovery document"))
            }
        }

        /// Checks an HTTP request (method, path relative to the service root with its
        /// query, JSON body) against a discovery method. Returns every problem found.
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
            let service_path = self.doc["servicePath"].as_str().unwrap_or_default();
            let Some(rel) = path
                .strip_prefix('/')
                .and_then(|p| p.strip_prefix(service_path))
            else {
                errors.push(format!("path {path} is not under /{service_path}"));
                return errors;
            };
            let template = m["path"].as_str().unwrap_or_default();
            match match_template(template, rel) {
                None => errors.push(format!("path {rel} does not match {template}")),
                Some(vars) => {
                    for (name, value) in vars {
                        let p = &m["parameters"][&name];
                        if p["location"] != "path" {
                            errors.push(format!("{name} is not a path parameter"));
                        }
                        if let Some(pattern) = p["pattern"].as_str() {
                            match pattern_matches(pattern, &value) {
                                Ok(true) => {}
                                Ok(false) => errors.push(format!(
                                    "path parameter {name}={value} does not match {pattern}"
                                )),
                                Err(e) => errors.push(e),
                            }
                        }
                    }
                }
            }
            if let Some(flat) = m["flatPath"].as_str() {
                if match_template(flat, rel).is_none() {
                    errors.push(format!("path {rel} does not match flatPath {flat}"));
                }
            }
            for kv in query.split('&').filter(|kv| !kv.is_empty()) {
                let key = kv.split('=').next().unwrap_or_default();
                let local = &m["parameters"][key];
                let global = &self.doc["parameters"][key];
                if local["location"] != "query" && global["location"] != "query" {
                    errors.push(format!("unknown query parameter {key}"));
                }
            }
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

        /// Validates `value` against a discovery schema (with `$ref`s into `schemas`).
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
                    Ok(s) => self.validate(s, value, at, dir, errors),
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
                            self.validate(
                                &schema["items"],
                                item,
                                &format!("{at}[{i}]"),
                                dir,
                                errors,
                            );
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
        use base64::Engine;
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
                let b = s.as_bytes();
                let ok = b.len() >= 20
                    && b[4] == b'-'
                    && b[7] == b'-'
                    && b[10] == b'T'
                    && (s.ends_with('Z') || s.get(19..).is_some_and(|t| t.contains(['+', '-'])));
                (!ok).then(|| format!("{s:?} is not an RFC 3339 timestamp"))
            }
            _ => None,
        }
    }

    /// Matches a URI template of discovery (`v1/{+topic}:publish`, `v1/projects/{projectsId}`):
    /// `{+x}` takes any non-empty text, `{x}` a non-empty text without `/`.
    pub fn match_template(template: &str, path: &str) -> Option<BTreeMap<String, String>> {
        #[derive(Debug)]
        enum Piece<'a> {
            Lit(&'a str),
            Var(&'a str, bool),
        }
        let mut pieces = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Lit(&rest[..open]));
            }
            let close = rest[open..].find('}')? + open;
            let name = &rest[open + 1..close];
            pieces.push(match name.strip_prefix('+') {
                Some(n) => Piece::Var(n, true),
                None => Piece::Var(name, false),
            });
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Lit(rest));
        }
        fn go(pieces: &[Piece<'_>], s: &str, out: &mut BTreeMap<String, String>) -> bool {
            let Some((first, more)) = pieces.split_first() else {
                return s.is_empty();
            };
            match first {
                Piece::Lit(l) => s.strip_prefix(l).is_some_and(|r| go(more, r, out)),
                Piece::Var(name, reserved) => {
                    for end in (1..=s.len()).rev().filter(|&i| s.is_char_boundary(i)) {
                        let value = &s[..end];
                        if !reserved && value.contains('/') {
                            continue;
                        }
                        if go(more, &s[end..], out) {
                            out.insert(name.to_string(), value.to_string());
                            return true;
                        }
                    }
                    false
                }
            }
        }
        let mut out = BTreeMap::new();
        go(&pieces, path, &mut out).then_some(out)
    }

    /// The regular expressions of discovery `pattern`s, the subset Google uses there:
    /// `^…$`, literals (and `\x` escapes), `.`, `[…]` / `[^…]` sets, `+`, `*`, `?`.
    pub fn pattern_matches(pattern: &str, text: &str) -> Result<bool, String> {
        #[derive(Debug, Clone)]
        enum Atom {
            Char(char),
            Any,
            Set(Vec<char>, bool),
        }
        #[derive(Debug, Clone, Copy)]
        enum Rep {
            One,
            Plus,
            Star,
            Opt,
        }
        let unsupported = || format!("unsupported construct in pattern {pattern}");
        let body = pattern
            .strip_prefix('^')
            .and_then(|p| p.strip_suffix('$'))
            .ok_or_else(|| format!("pattern {pattern} is not anchored"))?;
        let chars: Vec<char> = body.chars().collect();
        let mut atoms: Vec<(Atom, Rep)> = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let atom = match chars[i] {
                '.' => Atom::Any,
                '\\' => {
                    i += 1;
                    Atom::Char(*chars.get(i).ok_or_else(unsupported)?)
                }
                '[' => {
                    let mut j = i + 1;
                    let negated = chars.get(j) == Some(&'^');
                    if negated {
                        j += 1;
                    }
                    let mut set = Vec::new();
                    while j < chars.len() && chars[j] != ']' {
                        if chars[j] == '\\' || chars.get(j + 1) == Some(&'-') {
                            return Err(unsupported());
                        }
                        set.push(chars[j]);
                        j += 1;
                    }
                    if j >= chars.len() {
                        return Err(unsupported());
                    }
                    i = j;
                    Atom::Set(set, negated)
                }
                '(' | ')' | '|' | '{' | '}' | '+' | '*' | '?' => return Err(unsupported()),
                c => Atom::Char(c),
            };
            i += 1;
            let rep = match chars.get(i) {
                Some('+') => Rep::Plus,
                Some('*') => Rep::Star,
                Some('?') => Rep::Opt,
                _ => Rep::One,
            };
            if !matches!(rep, Rep::One) {
                i += 1;
            }
            atoms.push((atom, rep));
        }
        fn hit(a: &Atom, c: char) -> bool {
            match a {
                Atom::Char(x) => *x == c,
                Atom::Any => c != '\n',
                Atom::Set(set, negated) => set.contains(&c) != *negated,
            }
        }
        fn go(atoms: &[(Atom, Rep)], s: &[char]) -> bool {
            let Some(((atom, rep), more)) = atoms.split_first() else {
                return s.is_empty();
            };
            let (min, max) = match rep {
                Rep::One => (1, 1),
                Rep::Plus => (1, usize::MAX),
                Rep::Star => (0, usize::MAX),
                Rep::Opt => (0, 1),
            };
            let mut n = 0;
            while n < max && n < s.len() && hit(atom, s[n]) {
                n += 1;
            }
            (min..=n).rev().any(|k| go(more, &s[k..]))
        }
        let text: Vec<char> = text.chars().collect();
        Ok(go(&atoms, &text))
    }
}

use discovery::{Direction, Doc};

/// `pubsub.v1.json` from the venv's google-api-python-client (None: skipped).
fn pubsub_discovery() -> Option<Doc> {
    let venv = tool("venv")?;
    let lib = venv.join("lib");
    let mut found: Option<PathBuf> = None;
    for entry in std::fs::read_dir(&lib).expect("venv/lib").flatten() {
        let candidate = entry
            .path()
            .join("site-packages/googleapiclient/discovery_cache/documents/pubsub.v1.json");
        if candidate.exists() {
            found = Some(candidate);
        }
    }
    let path = match found {
        Some(p) => p,
        None => {
            let msg = format!(
                "pubsub.v1.json not found under {}/python*/site-packages/googleapiclient",
                lib.display()
            );
            assert!(!support::in_ci(), "{msg}");
            eprintln!("SKIPPED: {msg}");
            return None;
        }
    };
    let text = std::fs::read_to_string(&path).expect("read pubsub.v1.json");
    Some(Doc::new(
        serde_json::from_str(&text).expect("pubsub.v1.json is JSON"),
    ))
}

/// Answers every publish with a valid `PublishResponse`: one id per message, `m-<n>`.
struct PublishAnswer;

impl Respond for PublishAnswer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let count = serde_json::from_slice::<Value>(&request.body)
            .ok()
            .and_then(|b| b["messages"].as_array().map(Vec::len))
            .unwrap_or(0);
        let ids: Vec<String> = (0..count).map(|i| format!("m-{i}")).collect();
        ResponseTemplate::new(200).set_body_json(json!({ "messageIds": ids }))
    }
}

async fn recorder() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(PublishAnswer)
        .mount(&server)
        .await;
    server
}

fn client(server: &MockServer) -> PubSubRest {
    PubSubRest::new(
        Endpoint {
            base: server.uri(),
            auth: Auth::None,
        },
        Duration::from_secs(5),
    )
}

fn message(data: &[u8], attributes: &[(&str, &str)]) -> Message {
    Message {
        data: data.to_vec(),
        attributes: attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// Everything checked about one recorded publish request; returns its body.
fn check_publish(doc: &Doc, req: &Request) -> Value {
    let path_and_query = match req.url.query() {
        Some(q) => format!("{}?{q}", req.url.path()),
        None => req.url.path().to_string(),
    };
    let body: Value = serde_json::from_slice(&req.body).unwrap_or_else(|e| {
        panic!(
            "publish body is not JSON ({e}): {}",
            String::from_utf8_lossy(&req.body)
        )
    });
    let errors = doc.check_request(PUBLISH, req.method.as_str(), &path_and_query, Some(&body));
    assert!(
        errors.is_empty(),
        "{} {path_and_query} breaks the discovery document:\n  {}\nbody: {body}",
        req.method,
        errors.join("\n  ")
    );
    let content_type = req
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type:?}"
    );
    // Semantic rules of PubsubMessage the schema cannot state.
    let messages = body["messages"].as_array().expect("messages");
    assert!(!messages.is_empty(), "Required. The messages to publish.");
    for (i, m) in messages.iter().enumerate() {
        let has_data = m["data"].as_str().is_some_and(|d| !d.is_empty());
        let has_attrs = m["attributes"].as_object().is_some_and(|a| !a.is_empty());
        assert!(
            has_data || has_attrs,
            "messages[{i}]: must contain non-empty data or at least one attribute: {m}"
        );
    }
    body
}

fn decode(data: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(data.as_str().expect("data is a string"))
        .expect("data is standard base64, padded")
}

#[tokio::test(flavor = "multi_thread")]
async fn publish_requests_match_the_discovery_document() {
    let Some(doc) = pubsub_discovery() else {
        return;
    };
    // The production base of our client is the discovery root.
    assert_eq!(
        format!("{}/", hermes_core::pubsub::rest::PRODUCTION_BASE),
        doc.base_url(),
        "PRODUCTION_BASE differs from rootUrl + servicePath"
    );
    let publish = doc.method(PUBLISH);
    assert_eq!(publish["httpMethod"], "POST");
    assert_eq!(publish["path"], "v1/{+topic}:publish");
    assert_eq!(publish["request"]["$ref"], "PublishRequest");
    assert_eq!(publish["response"]["$ref"], "PublishResponse");

    let server = recorder().await;
    let pubsub = client(&server);
    let cases: Vec<(&str, Vec<Message>)> = vec![
        (
            "projects/hermes-test/topics/items-realtime",
            vec![
                message(
                    br#"{"transaction_id":"T1","value":150}"#,
                    &[("event_name", "purchase"), ("source", "s2s")],
                ),
                message(
                    br#"{"items":[]}"#,
                    &[("event_name", "purchase"), ("hermes_preview", "true")],
                ),
            ],
        ),
        (
            "projects/my-project-123/topics/events.v1_raw-~+x",
            vec![message(
                "{\"city\":\"Zürich\",\"n\":\"\\u0000\"}".as_bytes(),
                &[("event_name", "page_view")],
            )],
        ),
        // No attributes at all: the field is left out, not sent empty.
        (
            "projects/p-1/topics/only-data",
            vec![message(b"{}", &[]), message(b"x", &[])],
        ),
        // Every byte value and a long payload (padding variants of base64).
        (
            "projects/p-1/topics/binary",
            vec![
                message(&(0u8..=255).collect::<Vec<_>>(), &[("k", "")]),
                message(&[7u8; 1], &[("a", "b")]),
                message(&[7u8; 2], &[("a", "b")]),
                message(&vec![b'x'; 200_000], &[("a", "b")]),
            ],
        ),
    ];
    for (topic, messages) in &cases {
        let ids = pubsub
            .publish(topic, messages)
            .await
            .unwrap_or_else(|e| panic!("publish to {topic}: {e}"));
        let expected: Vec<String> = (0..messages.len()).map(|i| format!("m-{i}")).collect();
        assert_eq!(ids, expected, "message ids in message order");
    }

    let recorded = server.received_requests().await.expect("recording on");
    assert_eq!(recorded.len(), cases.len(), "one publish call per batch");
    for (req, (topic, messages)) in recorded.iter().zip(&cases) {
        let body = check_publish(&doc, req);
        assert_eq!(req.url.path(), format!("/v1/{topic}:publish"));
        // What we sent is what we meant: data bytes and attributes round-trip.
        assert_eq!(
            req.body,
            PubSubRest::request_body(messages),
            "request_body() is the body sent"
        );
        let sent = body["messages"].as_array().expect("messages");
        assert_eq!(sent.len(), messages.len());
        for (wire, m) in sent.iter().zip(messages) {
            assert_eq!(decode(&wire["data"]), m.data);
            let attrs: BTreeMap<String, String> = m.attributes.iter().cloned().collect();
            match wire.get("attributes") {
                None => assert!(attrs.is_empty(), "attributes left out: {wire}"),
                Some(a) => {
                    let wire_attrs: BTreeMap<String, String> =
                        serde_json::from_value(a.clone()).expect("attributes: map of strings");
                    assert_eq!(wire_attrs, attrs);
                }
            }
        }
        // Our recorder's answer is itself a valid PublishResponse.
        let answer = json!({ "messageIds": (0..messages.len()).map(|i| format!("m-{i}")).collect::<Vec<_>>() });
        let mut errors = Vec::new();
        doc.validate(
            &json!({ "$ref": "PublishResponse" }),
            &answer,
            "response",
            Direction::Response,
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
    }
}

/// The requests `hermes-ingest` itself sends, end to end, for a realistic payload.
#[tokio::test(flavor = "multi_thread")]
async fn ingest_binary_publish_requests_match_the_discovery_document() {
    let Some(doc) = pubsub_discovery() else {
        return;
    };
    let server = recorder().await;
    let port = free_port();
    let config = r#"
[[destinations]]
name = "events"
topic = "events"

[[destinations]]
name = "items-realtime"
topic = "projects/hermes-test/topics/items-realtime"
events = ["purchase"]
require = ["items"]
[destinations.mapping]
transaction_id = "transaction_id"
value_num = "value"
quantity_int = "items.0.quantity"
items = "items"
[destinations.attributes]
source = "s2s"
"#;
    let host = server.uri().trim_start_matches("http://").to_string();
    let mut cmd = Command::new(binary("hermes-ingest"));
    cmd.env("PORT", port.to_string())
        .env("GOOGLE_CLOUD_PROJECT", "hermes-test")
        .env("PUBSUB_EMULATOR_HOST", &host)
        .env("HERMES_CONFIG_TOML", config)
        .env_remove("HERMES_CONFIG")
        .env_remove("HERMES_BEARER_TOKEN")
        .env_remove("HERMES_PREVIEW_BEARER_TOKEN")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .stdout(Stdio::null());
    let _ingest = Proc::spawn("hermes-ingest", &mut cmd);
    let base = format!("http://127.0.0.1:{port}");
    wait_http(&format!("{base}/healthz"), Duration::from_secs(30)).await;

    let events = json!([
        { "event_name": "purchase", "transaction_id": "T1", "value": 9.5,
          "items": [ { "item_id": "SKU-1", "quantity": 3, "price": 3.1 } ] },
        { "event_name": "page_view", "page_location": "https://example.com/ü" },
        { "event_name": "purchase", "transaction_id": "T2", "value": 12,
          "items": [ { "item_id": "SKU-2" } ] }
    ]);
    let http = reqwest::Client::new();
    for headers in [vec![], vec![("x-gtm-server-preview", "abc")]] {
        let mut req = http.post(format!("{base}/")).body(events.to_string());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let resp = req.send().await.expect("POST to ingest");
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.expect("JSON answer");
        assert_eq!(status, 200, "{body}");
    }

    let recorded = server.received_requests().await.expect("recording on");
    // Two requests × two topics: one publish call per topic per request (SPEC 3.4).
    assert_eq!(recorded.len(), 4, "{recorded:?}");
    let mut paths: Vec<String> = recorded.iter().map(|r| r.url.path().to_string()).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/v1/projects/hermes-test/topics/events:publish",
            "/v1/projects/hermes-test/topics/events:publish",
            "/v1/projects/hermes-test/topics/items-realtime:publish",
            "/v1/projects/hermes-test/topics/items-realtime:publish",
        ]
    );
    for req in &recorded {
        let body = check_publish(&doc, req);
        let n = body["messages"].as_array().map(Vec::len).unwrap_or(0);
        let want = if req.url.path().contains("items-realtime") {
            2
        } else {
            3
        };
        assert_eq!(n, want, "{body}");
        assert!(
            req.headers.get("authorization").is_none(),
            "no Google auth against an emulator host"
        );
    }
}

/// The validator is not a rubber stamp: each mistake is caught, by name.
#[test]
fn the_validator_rejects_what_pubsub_would() {
    let Some(doc) = pubsub_discovery() else {
        return;
    };
    let good = json!({ "messages": [ { "data": "e30=", "attributes": { "event_name": "x" } } ] });
    let path = "/v1/projects/p/topics/t:publish";
    assert_eq!(
        doc.check_request(PUBLISH, "POST", path, Some(&good)),
        Vec::<String>::new()
    );

    let reject = |method: &str, path: &str, body: Value, needle: &str| {
        let errors = doc.check_request(PUBLISH, method, path, Some(&body));
        assert!(
            errors.iter().any(|e| e.contains(needle)),
            "expected an error containing {needle:?} for {method} {path} {body}, got {errors:?}"
        );
    };
    reject(
        "POST",
        path,
        json!({ "messages": [ { "data": "e30=", "payload": "x" } ] }),
        "body.messages[0].payload: unknown field",
    );
    reject(
        "POST",
        path,
        json!({ "messages": [], "topic": "t" }),
        "body.topic: unknown field",
    );
    reject(
        "POST",
        path,
        json!({ "messages": [ { "data": "not base64!" } ] }),
        "is not base64",
    );
    reject(
        "POST",
        path,
        json!({ "messages": [ { "data": "e30=", "attributes": { "n": 1 } } ] }),
        "body.messages[0].attributes.n: expected a string",
    );
    reject(
        "POST",
        path,
        json!({ "messages": [ { "data": "e30=", "attributes": ["a"] } ] }),
        "expected an object",
    );
    reject(
        "POST",
        path,
        json!({ "messages": { "data": "e30=" } }),
        "expected an array",
    );
    reject(
        "POST",
        path,
        json!({ "messages": [ { "data": "e30=", "attributes": null } ] }),
        "null",
    );
    reject(
        "POST",
        path,
        json!({ "messages": [ { "data": "e30=", "messageId": "1" } ] }),
        "output only",
    );
    reject(
        "POST",
        path,
        json!({ "messages": [ { "data": "e30=", "publishTime": "2024-01-01T00:00:00Z" } ] }),
        "output only",
    );
    reject("POST", path, json!({}), "body.messages: required");
    reject("PUT", path, good.clone(), "HTTP method PUT");
    reject(
        "POST",
        "/v1/projects/p/topics/t/publish",
        good.clone(),
        "does not match",
    );
    reject(
        "POST",
        "/v1/projects/p:publish",
        good.clone(),
        "does not match",
    );
    reject(
        "POST",
        "/v1/projects/p/subscriptions/s:publish",
        good.clone(),
        "does not match ^projects/[^/]+/topics/[^/]+$",
    );
    reject(
        "POST",
        "/v1/projects/p/topics/t/x:publish",
        good.clone(),
        "flatPath",
    );
    reject(
        "POST",
        "/v2/projects/p/topics/t:publish",
        good.clone(),
        "does not match",
    );
    reject(
        "POST",
        "/v1/projects/p/topics/t:publish?bogus=1",
        good.clone(),
        "unknown query parameter bogus",
    );
    // Known query parameters (the document's global ones) pass.
    assert!(doc
        .check_request(
            PUBLISH,
            "POST",
            "/v1/projects/p/topics/t:publish?alt=json&prettyPrint=false",
            Some(&good)
        )
        .is_empty());

    // The response side.
    let mut errors = Vec::new();
    doc.validate(
        &json!({ "$ref": "PublishResponse" }),
        &json!({ "messageIds": [1] }),
        "r",
        Direction::Response,
        &mut errors,
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("r.messageIds[0]: expected a string")),
        "{errors:?}"
    );
    let mut errors = Vec::new();
    doc.validate(
        &json!({ "$ref": "NoSuchSchema" }),
        &json!({}),
        "r",
        Direction::Response,
        &mut errors,
    );
    assert!(
        errors.iter().any(|e| e.contains("NoSuchSchema")),
        "{errors:?}"
    );
}

#[test]
fn the_template_and_pattern_matchers() {
    use discovery::{match_template, pattern_matches};
    let vars =
        match_template("v1/{+topic}:publish", "v1/projects/p/topics/t:publish").expect("match");
    assert_eq!(vars["topic"], "projects/p/topics/t");
    assert!(match_template(
        "v1/projects/{projectsId}/topics/{topicsId}:publish",
        "v1/projects/p/topics/a/b:publish"
    )
    .is_none());
    assert!(match_template("v1/{+topic}:publish", "v1/:publish").is_none());
    let p = "^projects/[^/]+/topics/[^/]+$";
    assert_eq!(pattern_matches(p, "projects/p/topics/t"), Ok(true));
    assert_eq!(pattern_matches(p, "projects/p/topics/"), Ok(false));
    assert_eq!(pattern_matches(p, "projects/p/topics/t/u"), Ok(false));
    assert_eq!(
        pattern_matches(
            "^projects/[^/]+/databases/[^/]+/documents/.*$",
            "projects/p/databases/d/documents/a/b"
        ),
        Ok(true)
    );
    assert!(
        pattern_matches("^(a|b)$", "a").is_err(),
        "unsupported constructs fail loudly"
    );
}
