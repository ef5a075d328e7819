//! Pub/Sub faults injected with wiremock: retries, permanent errors, partial
//! failure across destinations, the deadline, and the 1,000-message split.

use super::common::*;
use hermes_core::gcp::Backoff;
use hermes_core::gcp::{Auth, Endpoint};
use hermes_core::pubsub::PubSubRest;
use hermes_testkit::publishers::PublishIds;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TWO_TOPICS: &str = r#"
[[destinations]]
name = "events"
topic = "events"
[[destinations]]
name = "purchases"
id = "9"
topic = "purchases"
events = ["purchase"]
"#;

const EVENTS_PATH: &str = "/v1/projects/hermes-test/topics/events:publish";
const PURCHASES_PATH: &str = "/v1/projects/hermes-test/topics/purchases:publish";

/// Answers a publish with one id per message in the request, as Pub/Sub does.
fn ids() -> PublishIds {
    PublishIds::new("id-", 0)
}

fn google_error(code: u16, status: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(code)
        .set_body_json(json!({"error": {"code": code, "message": message, "status": status}}))
}

fn app_against(server: &MockServer, toml: &str, deadline: Duration) -> axum::Router {
    let endpoint = Endpoint {
        base: server.uri(),
        auth: Auth::None,
    };
    let publisher = PubSubRest::new(endpoint, deadline).with_backoff(Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(50),
        multiplier: 2,
    });
    app_with(config(toml), tokens(None, None), Arc::new(publisher))
}

#[tokio::test]
async fn transient_503_is_retried_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(EVENTS_PATH))
        .respond_with(google_error(503, "UNAVAILABLE", "try again"))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(EVENTS_PATH))
        .respond_with(ids())
        .expect(1)
        .mount(&server)
        .await;
    let app = app_against(&server, ONE_DESTINATION_EVENTS, Duration::from_secs(5));
    let a = send(&app, r#"[{"event_name":"login"}]"#, &[]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["messageIds"], json!([{"events": "id-0"}]));
}

const ONE_DESTINATION_EVENTS: &str = r#"
[[destinations]]
name = "events"
id = "4"
topic = "events"
"#;

#[tokio::test]
async fn rate_limit_429_is_retried() {
    let server = MockServer::start().await;
    Mock::given(path(EVENTS_PATH))
        .respond_with(google_error(429, "RESOURCE_EXHAUSTED", "slow down"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path(EVENTS_PATH))
        .respond_with(ids())
        .mount(&server)
        .await;
    let app = app_against(&server, ONE_DESTINATION_EVENTS, Duration::from_secs(5));
    assert_eq!(
        send(&app, r#"[{"event_name":"login"}]"#, &[]).await.status,
        200
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn permission_denied_is_not_retried_and_all_failing_is_500() {
    let server = MockServer::start().await;
    Mock::given(path(EVENTS_PATH))
        .respond_with(google_error(
            403,
            "PERMISSION_DENIED",
            "User not authorized to perform this action.",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let app = app_against(&server, ONE_DESTINATION_EVENTS, Duration::from_secs(5));
    let a = send(
        &app,
        r#"[{"event_name":"login"},{"event_name":"logout"}]"#,
        &[],
    )
    .await;
    assert_eq!(a.status, 500, "{}", a.body);
    assert_eq!(a.body["fullyFailedTagEvents"], json!([0, 1]));
    let failed = a.body["failedTags"].as_array().unwrap();
    assert_eq!(failed.len(), 2);
    let info = &failed[0]["tagInfo"];
    assert_eq!(info["name"], "events");
    assert_eq!(info["id"], "4");
    assert_eq!(info["status"], "failure");
    assert!(info["executionTime"].is_u64());
    assert!(
        info["error"]
            .as_str()
            .unwrap()
            .contains("PERMISSION_DENIED"),
        "{info}"
    );
    assert_eq!(a.body["messageIds"], json!([{}, {}]));
}

#[tokio::test]
async fn one_of_two_destinations_failing_is_206() {
    let server = MockServer::start().await;
    Mock::given(path(EVENTS_PATH))
        .respond_with(ids())
        .mount(&server)
        .await;
    Mock::given(path(PURCHASES_PATH))
        .respond_with(google_error(
            404,
            "NOT_FOUND",
            "Resource not found (resource=purchases).",
        ))
        .mount(&server)
        .await;
    let app = app_against(&server, TWO_TOPICS, Duration::from_secs(5));
    let a = send(
        &app,
        r#"[{"event_name":"purchase"},{"event_name":"login"}]"#,
        &[],
    )
    .await;
    assert_eq!(a.status, 206, "{}", a.body);
    assert_eq!(a.body["partialFailedTagEvents"], json!([0]));
    assert_eq!(a.body["fullyFailedTagEvents"], json!([]));
    assert_eq!(a.body["failedTags"][0]["tagInfo"]["name"], "purchases");
    assert_eq!(a.body["failedTags"][0]["tagInfo"]["id"], "9");
    assert_eq!(a.body["failedTags"][0]["eventIndex"], 0);
    assert_eq!(
        a.body["messageIds"],
        json!([{"events": "id-0"}, {"events": "id-1"}])
    );
    // One publish request per topic.
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_slow_server_cannot_hold_the_request_past_the_deadline() {
    let server = MockServer::start().await;
    Mock::given(path(EVENTS_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"messageIds": ["late"]}))
                .set_delay(Duration::from_secs(30)),
        )
        .mount(&server)
        .await;
    let app = app_against(&server, ONE_DESTINATION_EVENTS, Duration::from_millis(300));
    let start = Instant::now();
    let a = send(&app, r#"[{"event_name":"login"}]"#, &[]).await;
    // Correctness, not speed: the answer comes at the deadline, not after 30 s.
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(a.status, 500);
    let error = a.body["failedTags"][0]["tagInfo"]["error"]
        .as_str()
        .unwrap();
    assert!(error.contains("deadline of 300ms"), "{error}");
}

#[tokio::test]
async fn retries_stop_at_the_deadline() {
    let server = MockServer::start().await;
    Mock::given(path(EVENTS_PATH))
        .respond_with(google_error(503, "UNAVAILABLE", "down"))
        .mount(&server)
        .await;
    let app = app_against(&server, ONE_DESTINATION_EVENTS, Duration::from_millis(400));
    let a = send(&app, r#"[{"event_name":"login"}]"#, &[]).await;
    assert_eq!(a.status, 500);
    let error = a.body["failedTags"][0]["tagInfo"]["error"]
        .as_str()
        .unwrap();
    assert!(error.contains("UNAVAILABLE"), "{error}");
    assert!(server.received_requests().await.unwrap().len() >= 2);
}

#[tokio::test]
async fn publish_is_split_at_1000_messages_and_ids_map_back() {
    let server = MockServer::start().await;
    Mock::given(path(EVENTS_PATH))
        .respond_with(ids())
        .mount(&server)
        .await;
    let app = app_against(&server, ONE_DESTINATION_EVENTS, Duration::from_secs(5));
    let events: Vec<Value> = (0..2500)
        .map(|i| json!({"event_name": format!("e{i}")}))
        .collect();
    let a = send_json(&app, &Value::Array(events)).await;
    assert_eq!(a.status, 200);
    let sizes: Vec<usize> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["messages"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    let mut sorted = sizes.clone();
    sorted.sort();
    assert_eq!(sorted, [500, 1000, 1000]);
    // Each batch numbers its ids from 0: event 1000 is the first of the second batch.
    assert_eq!(a.body["messageIds"][1000]["events"], "id-0");
    assert_eq!(a.body["messageIds"][2499]["events"], "id-499");
}

#[tokio::test]
async fn publish_is_split_at_10_mb() {
    let server = MockServer::start().await;
    Mock::given(path(EVENTS_PATH))
        .respond_with(ids())
        .mount(&server)
        .await;
    let toml = format!("max_body_bytes = 20000000\n{ONE_DESTINATION_EVENTS}");
    let app = app_against(&server, &toml, Duration::from_secs(20));
    // 12 events of ~1 MB each: base64 makes each ~1.33 MB, so 7 fit in 10 MB.
    let events: Vec<Value> = (0..12)
        .map(|_| json!({"event_name": "big", "blob": "x".repeat(1_000_000)}))
        .collect();
    let a = send_json(&app, &Value::Array(events)).await;
    assert_eq!(a.status, 200, "{}", a.body["error"]);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.body.len() <= 10_000_000));
}
