//! Pub/Sub faults injected with wiremock: retries, permanent errors, partial
//! failure across destinations, the deadline, and the 1,000-message split.

use super::common::*;
use hermes_gcp::pubsub::PubSubRest;
use hermes_gcp::Backoff;
use hermes_gcp::{Auth, Endpoint};
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

/// Answers ids as Pub/Sub does, the first call only after a while: requests
/// sent meanwhile wait for the next call, which they share.
struct FirstCallSlow {
    calls: std::sync::atomic::AtomicUsize,
}

impl wiremock::Respond for FirstCallSlow {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let answer = wiremock::Respond::respond(&PublishIds::new("id-", n * 100), request);
        if n == 0 {
            answer.set_delay(Duration::from_secs(2))
        } else {
            answer
        }
    }
}

fn messages_in(request: &wiremock::Request) -> Vec<Value> {
    serde_json::from_slice::<Value>(&request.body).unwrap()["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_message_in_a_shared_call_fails_only_its_own_request() {
    let server = MockServer::start().await;
    // Pub/Sub refuses any call that carries the bad event's message.
    Mock::given(path(EVENTS_PATH))
        .and(wiremock::matchers::body_string_contains("bad_event"))
        .respond_with(google_error(400, "INVALID_ARGUMENT", "bad message"))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path(EVENTS_PATH))
        .respond_with(FirstCallSlow {
            calls: Default::default(),
        })
        .mount(&server)
        .await;
    let app = app_against(&server, ONE_DESTINATION_EVENTS, Duration::from_secs(20));
    let first = {
        let app = app.clone();
        tokio::spawn(async move { send(&app, r#"[{"event_name":"first"}]"#, &[]).await })
    };
    while server.received_requests().await.unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Three requests while the first call is held: they share the next call.
    let sent: Vec<_> = ["good_a", "bad_event", "good_b"]
        .into_iter()
        .map(|name| {
            let app = app.clone();
            let body = format!(r#"[{{"event_name":"{name}"}},{{"event_name":"{name}"}}]"#);
            tokio::spawn(async move { send(&app, &body, &[]).await })
        })
        .collect();
    assert_eq!(first.await.unwrap().status, 200);
    let mut answers = Vec::new();
    for s in sent {
        answers.push(s.await.unwrap());
    }
    let received = server.received_requests().await.unwrap();
    let sizes: Vec<usize> = received.iter().map(|r| messages_in(r).len()).collect();
    // The first call, the shared one refused, then each request's own call once.
    assert_eq!(sizes, [1, 6, 2, 2, 2], "calls and their sizes");
    assert_eq!(answers[0].status, 200, "{}", answers[0].body);
    assert_eq!(answers[2].status, 200, "{}", answers[2].body);
    assert_eq!(answers[1].status, 500, "{}", answers[1].body);
    let error = answers[1].body["failedTags"][0]["tagInfo"]["error"]
        .as_str()
        .unwrap();
    assert!(error.contains("INVALID_ARGUMENT"), "{error}");
    // A good request's ids are those of its own resend: two ids of one call.
    for good in [&answers[0], &answers[2]] {
        let ids = &good.body["messageIds"];
        let (a, b) = (
            ids[0]["events"].as_str().unwrap(),
            ids[1]["events"].as_str().unwrap(),
        );
        let (na, nb): (usize, usize) = (a[3..].parse().unwrap(), b[3..].parse().unwrap());
        assert_eq!(na / 100, nb / 100, "one call: {a} {b}");
        assert_eq!(nb, na + 1, "in order: {a} {b}");
    }
}
