//! Every request `FirestoreStore` builds, checked against Google's own
//! `firestore.v1.json` discovery document (shipped in PyPI
//! `google-api-python-client`, installed into `.tools/venv` by
//! `scripts/install-test-tools`): HTTP method and path against the documented
//! methods and their path-parameter patterns, query parameters against their
//! types, and each body recursively against the `schemas` — every field exists,
//! with the right JSON type (int64 as a string, enums within `enum`).
//!
//! The requests are real ones, recorded by wiremock while `apply`, `catalog` and
//! `items` run; the canned answers are themselves checked against the response
//! schemas, so the client is fed what Firestore would send.
//!
//! No discovery document: a failure when `CI` is set, else a loud skip.

use hermes_core::firestore::FirestoreStore;
use hermes_core::gcp::{Auth, Endpoint};
use hermes_core::store::{CounterCommit, CounterStore, ItemUpdate};
use regex::Regex;
use serde_json::{json, Map, Value};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const PROJECT: &str = "hermes-contract";
const DB: &str = "projects/hermes-contract/databases/(default)";

// ---- locating the discovery document -------------------------------------------------

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn tools_dir() -> PathBuf {
    std::env::var_os("HERMES_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // shared/ is one level below the repository root.
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .unwrap_or(Path::new(env!("CARGO_MANIFEST_DIR")))
                .join(".tools")
        })
}

/// `.tools/venv/lib/python*/site-packages/googleapiclient/discovery_cache/documents/firestore.v1.json`.
fn discovery_path() -> Option<PathBuf> {
    let lib = tools_dir().join("venv").join("lib");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&lib)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
        .map(|e| {
            e.path()
                .join("site-packages/googleapiclient/discovery_cache/documents/firestore.v1.json")
        })
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop()
}

fn discovery() -> Option<Value> {
    match discovery_path() {
        Some(p) => {
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
            Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{p:?}: {e}")))
        }
        None => {
            let msg = format!(
                "firestore.v1.json not found under {}: run scripts/install-test-tools",
                tools_dir().join("venv/lib").display()
            );
            if in_ci() {
                panic!("{msg}");
            }
            eprintln!("SKIPPED: {msg}");
            None
        }
    }
}

// ---- the validator -------------------------------------------------------------------

/// Every method of the document, with its dotted id (`firestore.projects.databases.documents.commit`).
fn methods(doc: &Value) -> Vec<&Value> {
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
    walk(doc, &mut out);
    out
}

/// Matches `path` (no leading `/`) against a URI template like `v1/{+parent}/{collectionId}`:
/// `{+x}` takes any characters, `{x}` no `/`. Returns every way the variables can bind.
fn match_template(template: &str, path: &str) -> Vec<Vec<(String, String)>> {
    fn go(
        t: &str,
        p: &str,
        bound: &mut Vec<(String, String)>,
        out: &mut Vec<Vec<(String, String)>>,
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
                bound.push((name.to_string(), value.to_string()));
                go(t_rest, &p[cut..], bound, out);
                bound.pop();
            }
            return;
        }
        let lit_end = t.find('{').unwrap_or(t.len());
        if let Some(p_rest) = p.strip_prefix(&t[..lit_end]) {
            go(&t[lit_end..], p_rest, bound, out);
        }
    }
    let mut out = Vec::new();
    go(template, path, &mut Vec::new(), &mut out);
    out
}

/// Path parameters whose documented formats are wider than their `pattern`: the
/// discovery format keeps the pattern of the first HTTP binding only. runQuery's
/// `parent` also takes the database root, `projects/{project_id}/databases/{database_id}/documents`
/// (its description says so; google/firestore/v1/firestore.proto has that binding),
/// which collection-group queries need.
const DESCRIBED_BINDINGS: &[(&str, &str)] =
    &[("firestore.projects.databases.documents.runQuery", "parent")];

/// A compiled regex, cached: compiling is slow in debug builds.
fn regex(pattern: &str) -> Regex {
    static CACHE: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    cache
        .entry(pattern.to_string())
        .or_insert_with(|| {
            Regex::new(pattern).unwrap_or_else(|e| panic!("pattern {pattern:?}: {e}"))
        })
        .clone()
}

/// Whether a path parameter's value is allowed: its `pattern` (any value without
/// `/` when it has none), or, for [`DESCRIBED_BINDINGS`], a format its own
/// description lists in backticks.
fn param_allows(method: &Value, name: &str, value: &str) -> bool {
    let param = &method["parameters"][name];
    match param.get("pattern").and_then(Value::as_str) {
        Some(p) if regex(p).is_match(value) => return true,
        None => return !value.is_empty() && !value.contains('/'),
        Some(_) => {}
    }
    let id = method["id"].as_str().unwrap_or("");
    if !DESCRIBED_BINDINGS.contains(&(id, name)) {
        return false;
    }
    let description = param
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("");
    description
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|f| f.contains('{'))
        .any(|format| format_regex(format).is_match(value))
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
    regex(&re)
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

/// The discovery methods a request matches (HTTP method, path, path parameters).
fn find_methods<'a>(doc: &'a Value, http_method: &str, url_path: &str) -> Vec<&'a Value> {
    let path = percent_decode(url_path.trim_start_matches('/'));
    methods(doc)
        .into_iter()
        .filter(|m| m["httpMethod"] == http_method)
        .filter(|m| {
            let template = m["path"].as_str().unwrap_or("");
            match_template(template, &path).iter().any(|binding| {
                binding
                    .iter()
                    .all(|(name, value)| param_allows(m, name, value))
            })
        })
        .collect()
}

/// Query parameters: each documented for the method, in `query`, of its type.
fn check_query(method: &Value, query: &[(String, String)], errs: &mut Vec<String>) {
    for (k, v) in query {
        let param = &method["parameters"][k];
        if param.is_null() || param["location"] != "query" {
            errs.push(format!(
                "query parameter {k} is not a parameter of {}",
                method["id"]
            ));
            continue;
        }
        let ok = match param["type"].as_str() {
            Some("integer") => v.parse::<i32>().is_ok(),
            Some("boolean") => v == "true" || v == "false",
            _ => true,
        };
        if !ok {
            errs.push(format!(
                "query parameter {k}={v:?} is not a {}",
                param["type"]
            ));
        }
    }
}

/// One-of groups of the protos that the discovery format cannot express.
fn union_of(schema_name: &str) -> Option<&'static [&'static str]> {
    match schema_name {
        "Value" => Some(&[
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
        "Write" => Some(&["update", "delete", "transform"]),
        "FieldTransform" => Some(&[
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

/// Validates `v` at `at` against a schema or property spec of `doc`.
fn check(doc: &Value, spec: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    if let Some(name) = spec.get("$ref").and_then(Value::as_str) {
        let Some(schema) = doc["schemas"].get(name) else {
            errs.push(format!("{at}: unknown schema {name}"));
            return;
        };
        if let (Some(union), Some(obj)) = (union_of(name), v.as_object()) {
            let set: Vec<&str> = union
                .iter()
                .copied()
                .filter(|k| obj.contains_key(*k))
                .collect();
            if set.len() != 1 && !(name == "Write" && set.is_empty() && obj.is_empty()) {
                errs.push(format!(
                    "{at}: a {name} needs exactly one of {union:?}, has {set:?}"
                ));
            }
        }
        return check(doc, schema, v, at, errs);
    }
    let ty = spec.get("type").and_then(Value::as_str).unwrap_or("");
    let format = spec.get("format").and_then(Value::as_str).unwrap_or("");
    match ty {
        "string" => {
            let Some(s) = v.as_str() else {
                errs.push(format!("{at}: expected a string ({format}), got {v}"));
                return;
            };
            let ok = match format {
                "int64" => s.parse::<i64>().is_ok(),
                "uint64" => s.parse::<u64>().is_ok(),
                "google-datetime" => is_rfc3339(s),
                "byte" => s
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"+/=-_".contains(&c)),
                _ => true,
            };
            if !ok {
                errs.push(format!("{at}: {s:?} is not a valid {format}"));
            }
            if let Some(allowed) = spec.get("enum").and_then(Value::as_array) {
                if !allowed.iter().any(|a| a == v) {
                    errs.push(format!("{at}: {s:?} is not one of {allowed:?}"));
                }
            }
        }
        "integer" => {
            let ok = match format {
                "int32" => v.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
                "uint32" => v.as_u64().is_some_and(|i| u32::try_from(i).is_ok()),
                _ => v.is_i64() || v.is_u64(),
            };
            if !ok {
                errs.push(format!("{at}: expected an integer ({format}), got {v}"));
            }
        }
        "number" => {
            if !v.is_number() {
                errs.push(format!("{at}: expected a number, got {v}"));
            }
        }
        "boolean" => {
            if !v.is_boolean() {
                errs.push(format!("{at}: expected a boolean, got {v}"));
            }
        }
        "array" => match v.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    check(doc, &spec["items"], item, &format!("{at}[{i}]"), errs);
                }
            }
            None => errs.push(format!("{at}: expected an array, got {v}")),
        },
        "object" => {
            let Some(obj) = v.as_object() else {
                errs.push(format!("{at}: expected an object, got {v}"));
                return;
            };
            let props = spec.get("properties").and_then(Value::as_object);
            let additional = spec.get("additionalProperties");
            for (k, val) in obj {
                let at = format!("{at}.{k}");
                if let Some(p) = props.and_then(|p| p.get(k)) {
                    check(doc, p, val, &at, errs);
                } else if let Some(a) = additional {
                    check(doc, a, val, &at, errs);
                } else {
                    errs.push(format!("{at}: no such field"));
                }
            }
        }
        "any" => {}
        other => errs.push(format!("{at}: schema type {other:?} not understood")),
    }
}

fn is_rfc3339(s: &str) -> bool {
    regex(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$").is_match(s)
}

fn errors_for(doc: &Value, schema: &str, v: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    check(doc, &json!({ "$ref": schema }), v, schema, &mut errs);
    errs
}

/// What one recorded request came to: the discovery method id, or the reasons it fits none.
fn validate_request(doc: &Value, req: &Request) -> Result<String, Vec<String>> {
    let http_method = req.method.as_str();
    let found = find_methods(doc, http_method, req.url.path());
    let method = match found.as_slice() {
        [m] => *m,
        [] => {
            return Err(vec![format!(
                "{http_method} {}: no method of firestore.v1.json has this method and path",
                req.url.path()
            )])
        }
        many => {
            let ids: Vec<&Value> = many.iter().map(|m| &m["id"]).collect();
            return Err(vec![format!(
                "{http_method} {}: ambiguous, matches {ids:?}",
                req.url.path()
            )]);
        }
    };
    let mut errs = Vec::new();
    let query: Vec<(String, String)> = req
        .url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    check_query(method, &query, &mut errs);
    match method
        .get("request")
        .and_then(|r| r.get("$ref"))
        .and_then(Value::as_str)
    {
        Some(schema) => {
            let ct = req
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !ct.starts_with("application/json") {
                errs.push(format!("content-type {ct:?}, not application/json"));
            }
            match serde_json::from_slice::<Value>(&req.body) {
                Ok(body) => check(doc, &json!({ "$ref": schema }), &body, schema, &mut errs),
                Err(e) => errs.push(format!("body is not JSON: {e}")),
            }
        }
        None if !req.body.is_empty() => errs.push("a body on a method that takes none".into()),
        None => {}
    }
    let id = method["id"].as_str().unwrap_or("?").to_string();
    if errs.is_empty() {
        Ok(id)
    } else {
        Err(errs.into_iter().map(|e| format!("{id}: {e}")).collect())
    }
}

// ---- canned answers (checked against the response schemas) -------------------------------

fn response_schema(doc: &Value, id: &str) -> String {
    methods(doc)
        .into_iter()
        .find(|m| m["id"] == id)
        .and_then(|m| m["response"]["$ref"].as_str())
        .unwrap_or_else(|| panic!("{id} has no response schema"))
        .to_string()
}

/// Panics unless `answer` (or each element, for streamed methods) fits the method's response.
fn checked_answer(doc: &Value, id: &str, answer: Value) -> ResponseTemplate {
    let schema = response_schema(doc, id);
    let parts: Vec<&Value> = match &answer {
        Value::Array(list) => list.iter().collect(),
        one => vec![one],
    };
    for part in parts {
        let errs = errors_for(doc, &schema, part);
        assert!(
            errs.is_empty(),
            "canned {id} answer is not a {schema}: {errs:#?}"
        );
    }
    ResponseTemplate::new(200).set_body_json(answer)
}

const T: &str = "2026-01-01T00:00:00.123456Z";

fn document(path: &str, fields: Value) -> Value {
    json!({ "name": format!("{DB}/documents/{path}"), "fields": fields, "createTime": T, "updateTime": T })
}

fn item_fields(counter: i64, revenue: f64, name: &str) -> Value {
    json!({
        "counter": { "integerValue": counter.to_string() },
        "revenue": { "doubleValue": revenue },
        "profit": { "doubleValue": revenue / 2.0 },
        "last_event_at": { "timestampValue": T },
        "item_name": { "stringValue": name },
    })
}

async fn mount_answers(doc: &Value, server: &MockServer) {
    let commit = checked_answer(
        doc,
        "firestore.projects.databases.documents.commit",
        json!({ "writeResults": [{ "updateTime": T }], "commitTime": T }),
    );
    Mock::given(method("POST"))
        .and(path(format!("/v1/{DB}/documents:commit")))
        .respond_with(commit)
        .mount(server)
        .await;

    let batch_get = checked_answer(
        doc,
        "firestore.projects.databases.documents.batchGet",
        json!([
            { "found": document("catalog/sku-1", json!({ "cost": { "doubleValue": 4.5 }, "brand": { "stringValue": "Acme" } })), "readTime": T },
            { "missing": format!("{DB}/documents/catalog/sku-2"), "readTime": T }
        ]),
    );
    Mock::given(method("POST"))
        .and(path(format!("/v1/{DB}/documents:batchGet")))
        .respond_with(batch_get)
        .mount(server)
        .await;

    // Two pages of `items`: the page token is followed.
    let list = "firestore.projects.databases.documents.listDocuments";
    let page1 = checked_answer(
        doc,
        list,
        json!({ "documents": [document("items/a", item_fields(1, 2.0, "A"))], "nextPageToken": "tok/1 +2" }),
    );
    let page2 = checked_answer(
        doc,
        list,
        json!({ "documents": [document("items/b", item_fields(3, 6.0, "B"))] }),
    );
    let items_path = format!("/v1/{DB}/documents/items");
    Mock::given(method("GET"))
        .and(path(items_path.as_str()))
        .and(query_param_is_missing("pageToken"))
        .respond_with(page1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(items_path.as_str()))
        .and(query_param("pageToken", "tok/1 +2"))
        .respond_with(page2)
        .mount(server)
        .await;

    // A full first page of shards (1,000 documents) and a second one after the cursor.
    let run_query = "firestore.projects.databases.documents.runQuery";
    let mut first: Vec<Value> = (0..1000)
        .map(|k| json!({ "document": document(&format!("items/s/shards/{k:04}"), item_fields(1, 1.0, "S")), "readTime": T }))
        .collect();
    first.insert(0, json!({ "readTime": T }));
    let first = checked_answer(doc, run_query, Value::Array(first));
    let second = checked_answer(
        doc,
        run_query,
        json!([
            { "document": document("items/t/shards/0", item_fields(5, 10.0, "T")), "readTime": T },
            { "document": document("orders/x/shards/0", item_fields(100, 1.0, "not an item")), "readTime": T },
            { "readTime": T, "done": true }
        ]),
    );
    Mock::given(method("POST"))
        .and(path(format!("/v1/{DB}/documents:runQuery")))
        .respond_with(move |req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            if body["structuredQuery"].get("startAt").is_some() {
                second.clone()
            } else {
                first.clone()
            }
        })
        .mount(server)
        .await;
}

fn commit(shard: Option<u32>) -> CounterCommit {
    let fields =
        |pairs: Value| -> Map<String, Value> { pairs.as_object().cloned().unwrap_or_default() };
    CounterCommit {
        marker_id: "1234567890".into(),
        shard,
        items: vec![
            ItemUpdate {
                item_id: "sku-1".into(),
                fields: fields(json!({
                    "item_name": "Shoe", "item_category": "Footwear", "price": 10.5, "cost": 4.5,
                    "quantity_in_stock": 3, "in_stock": true, "coupon": null,
                    "tags": ["a", 1, [2, 3], { "k": "v" }], "dims": { "w": 1, "h": 2.5, "empty": {} },
                    "display.name": "dotted", "9lives": "leading digit", "back`tick": "quoted",
                    "__reserved__": "dropped", "counter": 999
                })),
                counter: 2,
                revenue: 21.0,
                profit: Some(12.0),
            },
            ItemUpdate {
                item_id: "sku 2 é".into(),
                fields: Map::new(),
                counter: 1,
                revenue: 0.0,
                profit: None,
            },
        ],
        expire_at: SystemTime::now() + Duration::from_secs(10 * 86_400),
    }
}

// ---- the tests -----------------------------------------------------------------------

#[tokio::test]
async fn every_request_matches_the_discovery_document() {
    let Some(doc) = discovery() else { return };
    let server = MockServer::start().await;
    mount_answers(&doc, &server).await;
    let endpoint = Endpoint {
        base: server.uri(),
        auth: Auth::Static("owner".into()),
    };
    let store = FirestoreStore::new(endpoint, PROJECT, "(default)", Duration::from_secs(5));

    store.apply(&commit(None)).await.expect("apply");
    store.apply(&commit(Some(7))).await.expect("apply sharded");
    let ids: Vec<String> = ["sku-1", "sku-2", "a/b", "__x__", "sku-1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let catalog = store.catalog(&ids).await.expect("catalog");
    assert_eq!(
        Value::Object(catalog["sku-1"].clone()),
        json!({ "cost": 4.5, "brand": "Acme" })
    );
    assert_eq!(catalog.len(), 1);
    let items = store.items().await.expect("items");
    let by_id = |id: &str| {
        items
            .iter()
            .find(|i| i.item_id == id)
            .unwrap_or_else(|| panic!("no item {id}"))
    };
    assert_eq!(items.len(), 4, "{items:?}");
    assert_eq!((by_id("a").counter, by_id("b").counter), (1, 3));
    assert_eq!(by_id("s").counter, 1000);
    assert_eq!(by_id("t").revenue, 10.0);
    assert_eq!(by_id("t").fields["item_name"], "T");

    let requests = server.received_requests().await.expect("recording is on");
    let mut used = BTreeSet::new();
    let mut problems = Vec::new();
    for req in &requests {
        match validate_request(&doc, req) {
            Ok(id) => {
                used.insert(id);
            }
            Err(errs) => problems.extend(errs),
        }
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        assert_eq!(auth, Some("Bearer owner"));
    }
    assert!(
        problems.is_empty(),
        "requests that do not fit firestore.v1.json:\n{}",
        problems.join("\n")
    );
    let expected: BTreeSet<String> = ["commit", "batchGet", "listDocuments", "runQuery"]
        .iter()
        .map(|m| format!("firestore.projects.databases.documents.{m}"))
        .collect();
    assert_eq!(used, expected);
    // 2 commits, 1 batchGet (duplicates and invalid ids dropped), 2 list pages, 2 query pages.
    assert_eq!(requests.len(), 7);

    // What was sent, beyond its shape.
    let bodies: Vec<Value> = requests
        .iter()
        .filter(|r| r.url.path().ends_with(":commit"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let writes = bodies[0]["writes"].as_array().unwrap();
    assert_eq!(
        writes[0]["update"]["name"],
        format!("{DB}/documents/hermes_processed/1234567890")
    );
    assert_eq!(writes[0]["currentDocument"], json!({ "exists": false }));
    let mask: Vec<&str> = writes[1]["updateMask"]["fieldPaths"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        mask.contains(&"`display.name`")
            && mask.contains(&"`9lives`")
            && mask.contains(&"`back\\`tick`"),
        "{mask:?}"
    );
    assert!(
        !mask.contains(&"counter") && !mask.iter().any(|m| m.contains("reserved")),
        "{mask:?}"
    );
    assert_eq!(writes[2]["updateMask"], json!({ "fieldPaths": [] }));
    assert_eq!(
        writes[2]["update"]["name"],
        format!("{DB}/documents/items/sku 2 é")
    );
    assert_eq!(
        bodies[1]["writes"][1]["update"]["name"],
        format!("{DB}/documents/items/sku-1/shards/7")
    );
    let batch: Value = requests
        .iter()
        .find(|r| r.url.path().ends_with(":batchGet"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .unwrap();
    assert_eq!(
        batch,
        json!({ "documents": [format!("{DB}/documents/catalog/sku-1"), format!("{DB}/documents/catalog/sku-2")] })
    );
}

#[test]
fn the_validator_rejects_what_firestore_would() {
    let Some(doc) = discovery() else { return };
    let good = json!({ "writes": [{
        "update": { "name": format!("{DB}/documents/items/a"), "fields": { "n": { "integerValue": "1" } } },
        "updateMask": { "fieldPaths": ["n"] },
        "updateTransforms": [{ "fieldPath": "counter", "increment": { "integerValue": "1" } }],
        "currentDocument": { "exists": false }
    }] });
    assert_eq!(
        errors_for(&doc, "CommitRequest", &good),
        Vec::<String>::new()
    );

    let mutate = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        errors_for(&doc, "CommitRequest", &v)
    };
    let unknown = mutate(&|v| v["writes"][0]["bogus"] = json!(1));
    assert!(
        unknown.iter().any(|e| e.contains("bogus: no such field")),
        "{unknown:?}"
    );
    let nested = mutate(&|v| v["writes"][0]["update"]["fields"]["n"]["integerValu"] = json!("1"));
    assert!(
        nested
            .iter()
            .any(|e| e.contains("integerValu: no such field")),
        "{nested:?}"
    );
    let int_as_number =
        mutate(&|v| v["writes"][0]["update"]["fields"]["n"] = json!({ "integerValue": 1 }));
    assert!(!int_as_number.is_empty(), "int64 must be a string");
    let bad_enum = mutate(&|v| {
        v["writes"][0]["updateTransforms"][0] =
            json!({ "fieldPath": "t", "setToServerValue": "NOW" })
    });
    assert!(!bad_enum.is_empty(), "enum not checked");
    let two_kinds = mutate(&|v| {
        v["writes"][0]["update"]["fields"]["n"] = json!({ "integerValue": "1", "stringValue": "1" })
    });
    assert!(!two_kinds.is_empty(), "a Value with two kinds");
    let wrong_type = mutate(&|v| v["writes"][0]["currentDocument"]["exists"] = json!("false"));
    assert!(!wrong_type.is_empty(), "boolean as a string");
    let not_array = mutate(&|v| v["writes"] = json!({}));
    assert!(!not_array.is_empty(), "writes must be an array");

    // Paths: cloudbox's own commit path is not Firestore's.
    let method_ids = |m: &str, p: &str| -> Vec<String> {
        find_methods(&doc, m, p)
            .iter()
            .map(|m| m["id"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(
        method_ids("POST", &format!("/v1/{DB}/documents:commit")),
        ["firestore.projects.databases.documents.commit"]
    );
    assert!(method_ids("POST", &format!("/v1/{DB}:commit")).is_empty());
    assert!(method_ids("GET", &format!("/v1/{DB}/documents:commit")).is_empty());
    assert!(method_ids("POST", "/v1/projects/p/documents:commit").is_empty());
    assert_eq!(
        method_ids("GET", &format!("/v1/{DB}/documents/items")),
        ["firestore.projects.databases.documents.listDocuments"]
    );
    // A sub-collection path also fits `get` by pattern: real Firestore tells them
    // apart by the number of segments. We only list the root `items` collection.
    assert!(
        method_ids("GET", &format!("/v1/{DB}/documents/items/a/shards"))
            .contains(&"firestore.projects.databases.documents.list".to_string())
    );

    // Query parameters.
    let list = methods(&doc)
        .into_iter()
        .find(|m| m["id"] == "firestore.projects.databases.documents.listDocuments")
        .unwrap();
    let mut errs = Vec::new();
    check_query(
        list,
        &[("pageSize".into(), "x".into()), ("nope".into(), "1".into())],
        &mut errs,
    );
    assert_eq!(errs.len(), 2, "{errs:?}");
}
