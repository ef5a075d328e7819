//! Contract test: every Pub/Sub request our client builds matches Google's own
//! discovery document (`pubsub.v1.json`, shipped by PyPI google-api-python-client
//! in `.tools/venv`): method, URL path (`v1/{+topic}:publish` and its flatPath,
//! the parameter pattern), and the body against `PublishRequest` → `PubsubMessage`
//! (no unknown fields, right types, `data` base64, `attributes` a map of strings,
//! nothing output-only). The response we answer is checked against `PublishResponse`.
//!
//! Requests are captured for real: `PubSubRest` (and the `hermes-ingest` binary)
//! talk to a local wiremock server used purely as a recorder. The validator is the
//! test kit's (`hermes_testkit::discovery`), shared with the Firestore contract test.

use base64::Engine;
use hermes_core::destination::{Message, Publisher, TopicName};
use hermes_gcp::pubsub::PubSubRest;
use hermes_gcp::{Auth, Endpoint};
use hermes_testkit::discovery::{match_template, pattern_matches, Direction, Discovery};
use hermes_testkit::emulator::{binary, free_port, wait_http, Proc};
use hermes_testkit::publishers::PublishIds;
use hermes_testkit::samples::two_destinations;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request};

const PUBLISH: &str = "projects.topics.publish";

/// `pubsub.v1.json` from the venv's google-api-python-client (None: skipped).
fn pubsub_discovery() -> Option<Discovery> {
    Discovery::load("pubsub.v1.json")
}

/// Answers every publish with a valid `PublishResponse`: one id per message, `m-<n>`.
async fn recorder() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(PublishIds::new("m-", 0))
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
        data: data.to_vec().into(),
        attributes: attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// Everything checked about one recorded publish request; returns its body.
fn check_publish(doc: &Discovery, req: &Request) -> Value {
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
        format!("{}/", hermes_gcp::pubsub::PRODUCTION_BASE),
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
        let name = TopicName::parse(topic, None).expect("a valid topic name");
        let ids = pubsub
            .publish(&name, messages)
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
    let config = two_destinations("events", "projects/hermes-test/topics/items-realtime");
    let host = server.uri().trim_start_matches("http://").to_string();
    let mut cmd = Command::new(binary("hermes-ingest"));
    cmd.env("PORT", port.to_string())
        .env("GOOGLE_CLOUD_PROJECT", "hermes-test")
        .env("PUBSUB_EMULATOR_HOST", &host)
        .env("HERMES_CONFIG_TOML", &config)
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
    // Two requests × two topics: one publish call per topic per request (README,
    // "The Hermes encoding").
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
    let bindings = match_template("v1/{+topic}:publish", "v1/projects/p/topics/t:publish");
    let vars = bindings.first().expect("match");
    assert_eq!(vars["topic"], "projects/p/topics/t");
    assert!(match_template(
        "v1/projects/{projectsId}/topics/{topicsId}:publish",
        "v1/projects/p/topics/a/b:publish"
    )
    .is_empty());
    assert!(match_template("v1/{+topic}:publish", "v1/:publish").is_empty());
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
        pattern_matches("^(a$", "a").is_err(),
        "a pattern that does not compile fails loudly"
    );
}
