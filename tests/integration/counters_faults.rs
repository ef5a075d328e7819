//! What Pub/Sub hears when Firestore misbehaves (faults injected with wiremock):
//! 503 → 503 (redeliver) with nothing half-applied, a failed marker precondition
//! → 2xx duplicate, ABORTED (also HTTP 409) → 503, permission errors → 500.

use axum::body::Body;
use axum::http::Request;
use hermes_core::gcp::Backoff;
use hermes_counters::settings::Settings;
use hermes_counters::{router, Counters};
use hermes_testkit::samples::push_envelope;
use hermes_testkit::stores::firestore_at;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DB: &str = "/v1/projects/p/databases/(default)/documents";

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
    let body = push_envelope("m-1", &json!({ "items": items }), json!({}));
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
            .ends_with("/hermes_processed/m-1"));
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
async fn failed_marker_precondition_is_an_acknowledged_duplicate() {
    for (code, status) in [
        (409, "ALREADY_EXISTS"),
        (400, "FAILED_PRECONDITION"),
        (412, "FAILED_PRECONDITION"),
    ] {
        let server = firestore().await;
        Mock::given(path(format!("{DB}:commit")))
            .respond_with(error(code, status))
            .expect(1)
            .mount(&server)
            .await;
        let (http, body) = push(&app(&server), two_items()).await;
        assert_eq!(http, 200, "{code} {status}: {body}");
        assert_eq!(body["status"], "duplicate");
    }
}

#[tokio::test]
async fn aborted_is_contention_not_a_duplicate() {
    let server = firestore().await;
    Mock::given(path(format!("{DB}:commit")))
        .respond_with(error(409, "ABORTED"))
        .mount(&server)
        .await;
    let (status, body) = push(&app(&server), two_items()).await;
    assert_eq!(status, 503, "{body}");
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
    let mut markers: Vec<(String, usize)> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with(":commit"))
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            let writes = v["writes"].as_array().unwrap();
            let name = writes[0]["update"]["name"].as_str().unwrap();
            (name.rsplit('/').next().unwrap().to_string(), writes.len())
        })
        .collect();
    markers.sort();
    assert_eq!(
        markers,
        [
            ("m-1-0".to_string(), 500),
            ("m-1-1".to_string(), 500),
            ("m-1-2".to_string(), 3)
        ]
    );
}
