//! `FirestoreStore` against exact REST failures served by wiremock: retries,
//! backoff inside the deadline, and the error mapping that keeps counting
//! exactly once (SPEC 4: decide by the error's `status`, not its HTTP code).

use hermes_core::firestore::FirestoreStore;
use hermes_core::gcp::{Auth, Endpoint};
use hermes_core::retry::Backoff;
use hermes_core::store::{Applied, CounterCommit, CounterStore, ItemUpdate, StoreError};
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DB: &str = "/v1/projects/p/databases/(default)";

fn commit_path() -> String {
    format!("{DB}/documents:commit")
}

fn store(server: &MockServer, deadline: Duration) -> FirestoreStore {
    let endpoint = Endpoint {
        base: server.uri(),
        auth: Auth::Static("owner".into()),
    };
    FirestoreStore::new(endpoint, "p", "(default)", deadline).with_backoff(Backoff {
        initial: Duration::from_millis(5),
        max: Duration::from_millis(40),
        multiplier: 2,
    })
}

fn commit() -> CounterCommit {
    CounterCommit {
        marker_id: "msg-1".into(),
        shard: None,
        items: vec![ItemUpdate {
            item_id: "sku-1".into(),
            fields: [("item_name".to_string(), json!("Shoe"))]
                .into_iter()
                .collect(),
            counter: 2,
            revenue: 20.0,
            profit: Some(8.0),
        }],
        expire_at: SystemTime::now() + Duration::from_secs(86_400),
    }
}

fn ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "writeResults": [{ "updateTime": "2026-01-01T00:00:00.000001Z" }, { "updateTime": "2026-01-01T00:00:00.000001Z" }],
        "commitTime": "2026-01-01T00:00:00.000001Z"
    }))
}

/// Google's JSON error body.
fn error(code: u16, status: &str) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(json!({
        "error": { "code": code, "message": format!("injected {status}"), "status": status }
    }))
}

async fn commits_seen(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == commit_path())
        .count()
}

/// Answers `first` `times` times, then `then` forever.
async fn serve(server: &MockServer, first: ResponseTemplate, times: u64, then: ResponseTemplate) {
    if times > 0 {
        Mock::given(method("POST"))
            .and(path(commit_path()))
            .respond_with(first)
            .up_to_n_times(times)
            .with_priority(1)
            .mount(server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path(commit_path()))
        .respond_with(then)
        .with_priority(2)
        .mount(server)
        .await;
}

#[tokio::test]
async fn unavailable_is_retried_then_applied() {
    let server = MockServer::start().await;
    serve(&server, error(503, "UNAVAILABLE"), 2, ok()).await;
    let got = store(&server, Duration::from_secs(5))
        .apply(&commit())
        .await;
    assert_eq!(got, Ok(Applied::Applied));
    assert_eq!(commits_seen(&server).await, 3);
}

#[tokio::test]
async fn unavailable_forever_is_transient_within_the_deadline() {
    let server = MockServer::start().await;
    serve(
        &server,
        error(503, "UNAVAILABLE"),
        0,
        error(503, "UNAVAILABLE"),
    )
    .await;
    let deadline = Duration::from_millis(400);
    let started = Instant::now();
    let got = store(&server, deadline).apply(&commit()).await;
    let took = started.elapsed();
    match got {
        Err(StoreError::Transient(msg)) => assert!(msg.contains("UNAVAILABLE"), "{msg}"),
        other => panic!("expected Transient, got {other:?}"),
    }
    assert!(
        took < deadline + Duration::from_millis(300),
        "took {took:?}"
    );
    assert!(commits_seen(&server).await >= 2, "not retried");
}

#[tokio::test]
async fn other_retryable_answers_are_retried() {
    for (code, status) in [
        (429, "RESOURCE_EXHAUSTED"),
        (500, "INTERNAL"),
        (504, "DEADLINE_EXCEEDED"),
        (502, ""),
    ] {
        let server = MockServer::start().await;
        let first = if status.is_empty() {
            ResponseTemplate::new(code).set_body_string("<html>bad gateway</html>")
        } else {
            error(code, status)
        };
        serve(&server, first, 1, ok()).await;
        let got = store(&server, Duration::from_secs(5))
            .apply(&commit())
            .await;
        assert_eq!(got, Ok(Applied::Applied), "{code} {status}");
        assert_eq!(commits_seen(&server).await, 2, "{code} {status}");
    }
}

#[tokio::test]
async fn already_exists_is_a_duplicate() {
    let server = MockServer::start().await;
    serve(
        &server,
        error(409, "ALREADY_EXISTS"),
        0,
        error(409, "ALREADY_EXISTS"),
    )
    .await;
    let got = store(&server, Duration::from_secs(5))
        .apply(&commit())
        .await;
    assert_eq!(got, Ok(Applied::Duplicate));
    assert_eq!(commits_seen(&server).await, 1);
}

#[tokio::test]
async fn failed_precondition_is_a_duplicate_at_400_and_412() {
    for code in [400, 412] {
        let server = MockServer::start().await;
        let answer = error(code, "FAILED_PRECONDITION");
        serve(&server, answer.clone(), 0, answer).await;
        let got = store(&server, Duration::from_secs(5))
            .apply(&commit())
            .await;
        assert_eq!(got, Ok(Applied::Duplicate), "HTTP {code}");
        assert_eq!(commits_seen(&server).await, 1, "HTTP {code}");
    }
}

#[tokio::test]
async fn the_list_form_of_error_bodies_is_understood() {
    let server = MockServer::start().await;
    let answer = ResponseTemplate::new(409).set_body_json(json!([
        { "error": { "code": 409, "message": "exists", "status": "ALREADY_EXISTS" } }
    ]));
    serve(&server, answer.clone(), 0, answer).await;
    let got = store(&server, Duration::from_secs(5))
        .apply(&commit())
        .await;
    assert_eq!(got, Ok(Applied::Duplicate));
}

#[tokio::test]
async fn a_landed_commit_retried_after_a_503_is_a_duplicate() {
    // The first attempt may have been applied before the 503: the retry finds the marker.
    let server = MockServer::start().await;
    serve(
        &server,
        error(503, "UNAVAILABLE"),
        1,
        error(409, "ALREADY_EXISTS"),
    )
    .await;
    let got = store(&server, Duration::from_secs(5))
        .apply(&commit())
        .await;
    assert_eq!(got, Ok(Applied::Duplicate));
    assert_eq!(commits_seen(&server).await, 2);
}

#[tokio::test]
async fn aborted_409_is_retried_never_a_duplicate() {
    let server = MockServer::start().await;
    serve(&server, error(409, "ABORTED"), 2, ok()).await;
    let got = store(&server, Duration::from_secs(5))
        .apply(&commit())
        .await;
    assert_eq!(got, Ok(Applied::Applied));
    assert_eq!(commits_seen(&server).await, 3);

    let server = MockServer::start().await;
    serve(&server, error(409, "ABORTED"), 0, error(409, "ABORTED")).await;
    let got = store(&server, Duration::from_millis(300))
        .apply(&commit())
        .await;
    match got {
        Err(StoreError::Transient(msg)) => assert!(msg.contains("ABORTED"), "{msg}"),
        other => panic!("persistent ABORTED must be Transient, got {other:?}"),
    }
    assert!(commits_seen(&server).await >= 2);
}

#[tokio::test]
async fn permission_denied_is_permanent_and_not_retried() {
    let server = MockServer::start().await;
    serve(
        &server,
        error(403, "PERMISSION_DENIED"),
        0,
        error(403, "PERMISSION_DENIED"),
    )
    .await;
    let got = store(&server, Duration::from_secs(5))
        .apply(&commit())
        .await;
    match got {
        Err(StoreError::Permanent(msg)) => {
            assert!(
                msg.contains("PERMISSION_DENIED") && msg.contains("403"),
                "{msg}"
            )
        }
        other => panic!("expected Permanent, got {other:?}"),
    }
    assert_eq!(commits_seen(&server).await, 1);
}

#[tokio::test]
async fn invalid_argument_is_permanent() {
    let server = MockServer::start().await;
    serve(
        &server,
        error(400, "INVALID_ARGUMENT"),
        0,
        error(400, "INVALID_ARGUMENT"),
    )
    .await;
    let got = store(&server, Duration::from_secs(5))
        .apply(&commit())
        .await;
    assert!(matches!(got, Err(StoreError::Permanent(_))), "{got:?}");
    assert_eq!(commits_seen(&server).await, 1);
}

#[tokio::test]
async fn a_slow_answer_is_cut_at_the_deadline() {
    let server = MockServer::start().await;
    serve(&server, ok(), 0, ok().set_delay(Duration::from_secs(10))).await;
    let deadline = Duration::from_millis(300);
    let started = Instant::now();
    let got = store(&server, deadline).apply(&commit()).await;
    assert!(matches!(got, Err(StoreError::Transient(_))), "{got:?}");
    assert!(started.elapsed() < deadline + Duration::from_millis(300));
}

#[tokio::test]
async fn an_unreachable_server_is_transient() {
    // A port that was free a moment ago: connection refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let endpoint = Endpoint {
        base: format!("http://127.0.0.1:{port}"),
        auth: Auth::Static("owner".into()),
    };
    let store = FirestoreStore::new(endpoint, "p", "(default)", Duration::from_millis(300))
        .with_backoff(Backoff {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(40),
            multiplier: 2,
        });
    let got = store.apply(&commit()).await;
    match got {
        Err(StoreError::Transient(msg)) => assert!(msg.contains("unreachable"), "{msg}"),
        other => panic!("expected Transient, got {other:?}"),
    }
}

#[tokio::test]
async fn the_emulator_owner_token_is_sent() {
    let server = MockServer::start().await;
    serve(&server, ok(), 0, ok()).await;
    store(&server, Duration::from_secs(5))
        .apply(&commit())
        .await
        .unwrap();
    let reqs = server.received_requests().await.unwrap();
    let auth = reqs[0].headers.get("authorization").unwrap();
    assert_eq!(auth.to_str().unwrap(), "Bearer owner");
}

#[tokio::test]
async fn reads_retry_unavailable_and_fail_on_failed_precondition() {
    let server = MockServer::start().await;
    let batch_get = format!("{DB}/documents:batchGet");
    Mock::given(method("POST"))
        .and(path(batch_get.as_str()))
        .respond_with(error(503, "UNAVAILABLE"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(batch_get.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            { "found": {
                "name": "projects/p/databases/(default)/documents/catalog/sku-1",
                "fields": { "cost": { "doubleValue": 6.0 } },
                "createTime": "2026-01-01T00:00:00Z", "updateTime": "2026-01-01T00:00:00Z"
            }, "readTime": "2026-01-01T00:00:00Z" }
        ])))
        .with_priority(2)
        .mount(&server)
        .await;
    let store = store(&server, Duration::from_secs(5));
    let got = store.catalog(&["sku-1".to_string()]).await.unwrap();
    assert_eq!(Value::Object(got["sku-1"].clone()), json!({ "cost": 6.0 }));

    // A query that needs an index answers FAILED_PRECONDITION: not a duplicate, not retried.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(error(400, "FAILED_PRECONDITION"))
        .mount(&server)
        .await;
    let store = self::store(&server, Duration::from_secs(5));
    let got = store.items().await;
    assert!(matches!(got, Err(StoreError::Permanent(_))), "{got:?}");
    let posts = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .count();
    assert_eq!(posts, 1);
}
