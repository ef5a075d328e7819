//! What Pub/Sub hears when Firestore misbehaves (faults injected with wiremock):
//! 503 → 503 (redeliver) with nothing half-applied, ALREADY_EXISTS → 2xx
//! duplicate, FAILED_PRECONDITION → 2xx only when the marker exists (else 500,
//! redelivered), ABORTED (also HTTP 409) → 503, permission errors → 500.

use axum::body::Body;
use axum::http::Request;
use hermes_core::store::{EventIdentity, MarkerOrigin};
use hermes_counters::settings::Settings;
use hermes_counters::{router, Counters};
use hermes_gcp::Backoff;
use hermes_push::marker_id;
use hermes_testkit::samples::push_envelope;
use hermes_testkit::stores::firestore_at;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DB: &str = "/v1/projects/p/databases/(default)/documents";
/// The subscription of `push_envelope`.
const SUBSCRIPTION: &str = "projects/p/subscriptions/items-realtime-counters";

/// The marker document id of part `part` of message `m-1` (no `hermes_event_id`).
fn marker(part: u64) -> String {
    marker_id(&MarkerOrigin {
        subscription: SUBSCRIPTION.into(),
        event: EventIdentity::MessageId("m-1".into()),
        part,
    })
    .to_string()
}

fn marker_path(part: u64) -> String {
    format!("{DB}/hermes_processed/{}", marker(part))
}

/// The marker names of the commits the server saw, in order, with their write counts.
async fn commit_markers(server: &MockServer) -> Vec<(String, usize, Value)> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with(":commit"))
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            let writes = v["writes"].as_array().unwrap();
            let name = writes[0]["update"]["name"].as_str().unwrap();
            (
                name.rsplit('/').next().unwrap().to_string(),
                writes.len(),
                writes[0]["update"]["fields"].clone(),
            )
        })
        .collect()
}

async fn marker_reads(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "GET" && r.url.path().contains("/hermes_processed/"))
        .count()
}

fn error(code: u16, status: &str) -> ResponseTemplate {
    ResponseTemplate::new(code)
        .set_body_json(json!({"error": {"code": code, "message": status, "status": status}}))
}

async fn firestore() -> MockServer {
    let server = MockServer::start().await;
    // The catalog knows nothing: an empty batchGet answer.
    Mock::given(method("POST"))
        .and(path(format!("{DB}:batchGet")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([{"missing": "x", "readTime": "2026-01-01T00:00:00Z"}])),
        )
        .mount(&server)
        .await;
    server
}

fn app(server: &MockServer) -> axum::Router {
    let store =
        firestore_at(&server.uri(), "p", Duration::from_millis(800)).with_backoff(Backoff {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(20),
            multiplier: 2,
        });
    router(Arc::new(Counters::new(
        Settings::default(),
        Arc::new(store),
    )))
}

async fn push(app: &axum::Router, items: Value) -> (u16, Value) {
    push_message(app, "m-1", json!({}), items).await
}

async fn push_message(
    app: &axum::Router,
    message_id: &str,
    attributes: Value,
    items: Value,
) -> (u16, Value) {
    let body = push_envelope(message_id, &json!({ "items": items }), attributes);
    let req = Request::post("/")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn two_items() -> Value {
    json!([{"item_id": "a", "price": 1}, {"item_id": "b", "quantity": 2}])
}

#[tokio::test]
async fn unavailable_firestore_is_503_and_nothing_is_half_applied() {
    let server = firestore().await;
    Mock::given(path(format!("{DB}:commit")))
        .respond_with(error(503, "UNAVAILABLE"))
        .mount(&server)
        .await;
    let (status, body) = push(&app(&server), two_items()).await;
    assert_eq!(status, 503, "{body}");
    // Every attempt was one whole commit: the marker first, then both items, together.
    let commits: Vec<Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with(":commit"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert!(commits.len() >= 2, "retried within the deadline");
    for commit in &commits {
        let writes = commit["writes"].as_array().unwrap();
        assert_eq!(writes.len(), 3);
        assert!(writes[0]["update"]["name"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/hermes_processed/{}", marker(0))));
        assert_eq!(writes[0]["currentDocument"]["exists"], false);
    }
    // No write other than those atomic commits was attempted.
    let other_writes = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| {
            r.method.as_str() != "GET"
                && !r.url.path().ends_with(":commit")
                && !r.url.path().ends_with(":batchGet")
        })
        .count();
    assert_eq!(other_writes, 0);
}

#[tokio::test]
async fn already_exists_is_an_acknowledged_duplicate_without_a_read() {
    let server = firestore().await;
    Mock::given(path(format!("{DB}:commit")))
        .respond_with(error(409, "ALREADY_EXISTS"))
        .expect(1)
        .mount(&server)
        .await;
    let (http, body) = push(&app(&server), two_items()).await;
    assert_eq!(http, 200, "{body}");
    assert_eq!(body["status"], "duplicate");
    assert_eq!(marker_reads(&server).await, 0);
}

#[tokio::test]
async fn failed_precondition_with_the_marker_present_is_an_acknowledged_duplicate() {
    for code in [400, 412] {
        let server = firestore().await;
        Mock::given(path(format!("{DB}:commit")))
            .respond_with(error(code, "FAILED_PRECONDITION"))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(marker_path(0)))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "name": format!("projects/p/databases/(default)/documents/hermes_processed/{}", marker(0)),
                "fields": {},
                "createTime": "2026-01-01T00:00:00Z", "updateTime": "2026-01-01T00:00:00Z"
            })))
            .expect(1)
            .mount(&server)
            .await;
        let (http, body) = push(&app(&server), two_items()).await;
        assert_eq!(http, 200, "HTTP {code}: {body}");
        assert_eq!(body["status"], "duplicate");
    }
}

#[tokio::test]
async fn failed_precondition_without_the_marker_is_500_and_never_acknowledged() {
    for code in [400, 412] {
        let server = firestore().await;
        Mock::given(path(format!("{DB}:commit")))
            .respond_with(error(code, "FAILED_PRECONDITION"))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(marker_path(0)))
            .respond_with(error(404, "NOT_FOUND"))
            .mount(&server)
            .await;
        let app = app(&server);
        // Pub/Sub redelivers a 500: every delivery meets the same answer, none is acknowledged.
        for delivery in 1..=3 {
            let (http, body) = push(&app, two_items()).await;
            assert_eq!(http, 500, "HTTP {code}, delivery {delivery}: {body}");
            // The store's detail is logged; the caller learns only the class.
            let error = body["error"].as_str().unwrap_or_default();
            assert!(
                error == "storage error" && !error.contains("FAILED_PRECONDITION"),
                "{body}"
            );
        }
        assert_eq!(marker_reads(&server).await, 3, "HTTP {code}");
    }
}

#[tokio::test]
async fn the_event_id_keys_the_marker_not_the_message_id() {
    let server = firestore().await;
    Mock::given(path(format!("{DB}:commit")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"commitTime": "2026-01-01T00:00:00Z"})),
        )
        .mount(&server)
        .await;
    let app = app(&server);
    let attributes = json!({ "hermes_event_id": "evt/1" });
    for id in ["m-1", "m-2"] {
        let (http, body) = push_message(&app, id, attributes.clone(), two_items()).await;
        assert_eq!(http, 200, "{body}");
    }
    push(&app, two_items()).await;
    let markers = commit_markers(&server).await;
    let expected = marker_id(&MarkerOrigin {
        subscription: SUBSCRIPTION.into(),
        event: EventIdentity::EventId("evt/1".into()),
        part: 0,
    })
    .to_string();
    assert_eq!(markers.len(), 3);
    assert_eq!(markers[0].0, expected);
    assert_eq!(markers[1].0, expected, "a re-publish meets the same marker");
    assert_eq!(markers[2].0, marker(0), "no event id: the message id");
    let fields = &markers[0].2;
    assert_eq!(fields["subscription"]["stringValue"], SUBSCRIPTION);
    assert_eq!(fields["eventId"]["stringValue"], "evt/1");
    assert_eq!(fields["eventIdFrom"]["stringValue"], "hermes_event_id");
    assert_eq!(fields["part"]["integerValue"], "0");
    assert_eq!(markers[2].2["eventIdFrom"]["stringValue"], "messageId");
}

#[tokio::test]
async fn aborted_is_contention_not_a_duplicate() {
    let server = firestore().await;
    Mock::given(path(format!("{DB}:commit")))
        .respond_with(error(409, "ABORTED"))
        .mount(&server)
        .await;
    let (status, body) = push(&app(&server), two_items()).await;
    // Contention is transient: retried, then 503 so Pub/Sub redelivers; never
    // answered as a duplicate, and the marker is not even looked up.
    assert_eq!(status, 503, "{body}");
    assert_ne!(body["status"], "duplicate", "{body}");
    let requests = server.received_requests().await.unwrap_or_default();
    let commits = requests
        .iter()
        .filter(|r| r.url.path().ends_with(":commit"))
        .count();
    assert!(commits >= 2, "ABORTED was not retried: {commits} commit");
    let reads: Vec<String> = requests
        .iter()
        .filter(|r| !r.url.path().ends_with(":commit"))
        .filter(|r| {
            r.url.path().contains("hermes_processed")
                || String::from_utf8_lossy(&r.body).contains("hermes_processed")
        })
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert!(
        reads.is_empty(),
        "taken for a possible duplicate: {reads:?}"
    );
}

#[tokio::test]
async fn aborted_then_success_is_applied() {
    let server = firestore().await;
    Mock::given(path(format!("{DB}:commit")))
        .respond_with(error(409, "ABORTED"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path(format!("{DB}:commit")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"commitTime": "2026-01-01T00:00:00Z", "writeResults": []})),
        )
        .mount(&server)
        .await;
    let (status, body) = push(&app(&server), two_items()).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("applied")),
        "{body}"
    );
}

#[tokio::test]
async fn permission_denied_is_500_so_pubsub_keeps_the_message() {
    let server = firestore().await;
    Mock::given(path(format!("{DB}:commit")))
        .respond_with(error(403, "PERMISSION_DENIED"))
        .expect(1)
        .mount(&server)
        .await;
    let (status, _) = push(&app(&server), two_items()).await;
    assert_eq!(status, 500);
}

#[tokio::test]
async fn more_than_499_items_are_split_with_a_marker_per_part() {
    let server = firestore().await;
    Mock::given(path(format!("{DB}:commit")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"commitTime": "2026-01-01T00:00:00Z"})),
        )
        .mount(&server)
        .await;
    let items: Vec<Value> = (0..1000)
        .map(|i| json!({"item_id": format!("i{i}")}))
        .collect();
    let (status, body) = push(&app(&server), Value::Array(items)).await;
    assert_eq!(status, 200, "{body}");
    let mut markers: Vec<(String, usize)> = commit_markers(&server)
        .await
        .into_iter()
        .map(|(name, writes, fields)| {
            let part = fields["part"]["integerValue"].as_str().unwrap().to_string();
            assert_eq!(name, marker(part.parse().unwrap()), "part {part}");
            (part, writes)
        })
        .collect();
    markers.sort();
    assert_eq!(
        markers,
        [
            ("0".to_string(), 500),
            ("1".to_string(), 500),
            ("2".to_string(), 3)
        ]
    );
}
