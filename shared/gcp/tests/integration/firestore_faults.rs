//! `FirestoreStore` against exact REST failures served by wiremock: retries,
//! backoff inside the deadline, and the error mapping that keeps counting
//! exactly once (README, "The counters function": the decision is made on the
//! error's `status`, not its HTTP code, and a refusal is a duplicate only when
//! it proves the marker exists).

use hermes_core::error::report;
use hermes_core::store::{
    Applied, CounterCommit, CounterStore, DocumentId, EventIdentity, ItemUpdate, ItemsReader,
    MarkerOrigin, StoreError,
};
use hermes_gcp::firestore::FirestoreStore;
use hermes_gcp::Backoff;
use hermes_testkit::emulator::free_port;
use hermes_testkit::stores::firestore_at;
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DB: &str = "/v1/projects/p/databases/(default)";

fn commit_path() -> String {
    format!("{DB}/documents:commit")
}

/// The document `GET` of the marker of [`commit`].
fn marker_path() -> String {
    format!("{DB}/documents/hermes_processed/msg-1")
}

/// Short backoff, so retries fit in a test's deadline.
const BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(5),
    max: Duration::from_millis(40),
    multiplier: 2,
};

fn store(server: &MockServer, deadline: Duration) -> FirestoreStore {
    firestore_at(&server.uri(), "p", deadline).with_backoff(BACKOFF)
}

fn commit() -> CounterCommit {
    CounterCommit {
        marker_id: DocumentId::parse("msg-1").unwrap(),
        marker: MarkerOrigin {
            subscription: "projects/p/subscriptions/s".into(),
            event: EventIdentity::MessageId("msg-1".into()),
            part: 0,
        },
        shard: None,
        items: vec![ItemUpdate {
            item_id: DocumentId::parse("sku-1").unwrap(),
            fields: [("item_name".to_string(), json!("Shoe"))]
                .into_iter()
                .collect(),
            counter: 2,
            money: [(
                hermes_core::store::Currency::parse("DKK").unwrap(),
                hermes_core::store::Money {
                    revenue: 20.0,
                    profit: Some(8.0),
                },
            )]
            .into(),
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

async fn seen(server: &MockServer, path: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == path)
        .count()
}

async fn commits_seen(server: &MockServer) -> usize {
    seen(server, &commit_path()).await
}

/// The marker document as Firestore answers a `GET`.
fn marker_document() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "name": "projects/p/databases/(default)/documents/hermes_processed/msg-1",
        "fields": { "expireAt": { "timestampValue": "2026-01-11T00:00:00Z" } },
        "createTime": "2026-01-01T00:00:00Z", "updateTime": "2026-01-01T00:00:00Z"
    }))
}

/// Answers the marker's `GET` with `answer`.
async fn serve_marker(server: &MockServer, answer: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(marker_path()))
        .respond_with(answer)
        .mount(server)
        .await;
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

/// `apply(commit())` within `deadline` against a server that answers `first` `times`
/// times, then `then`: what it returned, and how many commits the server saw.
async fn apply_against(
    deadline: Duration,
    first: ResponseTemplate,
    times: u64,
    then: ResponseTemplate,
) -> (Result<Applied, StoreError>, usize) {
    let server = MockServer::start().await;
    serve(&server, first, times, then).await;
    let got = store(&server, deadline).apply(&commit()).await;
    (got, commits_seen(&server).await)
}

const DEADLINE: Duration = Duration::from_secs(5);

#[tokio::test]
async fn unavailable_is_retried_then_applied() {
    let (got, commits) = apply_against(DEADLINE, error(503, "UNAVAILABLE"), 2, ok()).await;
    assert_eq!(got.unwrap(), Applied::Applied);
    assert_eq!(commits, 3);
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
    // Long enough for several answered attempts on a loaded machine; the
    // bound below is the promise (retries stop at the deadline), with a
    // margin for a busy 2-core machine.
    let deadline = Duration::from_millis(1500);
    let started = Instant::now();
    let got = store(&server, deadline).apply(&commit()).await;
    let took = started.elapsed();
    match got {
        Err(e @ StoreError::Transient(_)) => {
            let msg = report(&e);
            assert!(msg.contains("UNAVAILABLE"), "{msg}")
        }
        other => panic!("expected Transient, got {other:?}"),
    }
    assert!(
        took < deadline + Duration::from_millis(1500),
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
        let first = if status.is_empty() {
            ResponseTemplate::new(code).set_body_string("<html>bad gateway</html>")
        } else {
            error(code, status)
        };
        let (got, commits) = apply_against(DEADLINE, first, 1, ok()).await;
        assert_eq!(got.unwrap(), Applied::Applied, "{code} {status}");
        assert_eq!(commits, 2, "{code} {status}");
    }
}

#[tokio::test]
async fn already_exists_is_a_duplicate_without_a_read() {
    let server = MockServer::start().await;
    serve(&server, ok(), 0, error(409, "ALREADY_EXISTS")).await;
    serve_marker(&server, error(404, "NOT_FOUND")).await;
    let got = store(&server, DEADLINE).apply(&commit()).await;
    assert_eq!(got.unwrap(), Applied::Duplicate);
    assert_eq!(commits_seen(&server).await, 1);
    assert_eq!(
        seen(&server, &marker_path()).await,
        0,
        "the refusal is proof"
    );
}

#[tokio::test]
async fn failed_precondition_with_the_marker_present_is_a_duplicate() {
    for code in [400, 412] {
        let server = MockServer::start().await;
        serve(&server, ok(), 0, error(code, "FAILED_PRECONDITION")).await;
        serve_marker(&server, marker_document()).await;
        let got = store(&server, DEADLINE).apply(&commit()).await;
        assert_eq!(got.unwrap(), Applied::Duplicate, "HTTP {code}");
        assert_eq!(commits_seen(&server).await, 1, "HTTP {code}");
        assert_eq!(seen(&server, &marker_path()).await, 1, "HTTP {code}");
    }
}

#[tokio::test]
async fn failed_precondition_without_the_marker_is_an_error_not_a_duplicate() {
    for code in [400, 412] {
        let server = MockServer::start().await;
        serve(&server, ok(), 0, error(code, "FAILED_PRECONDITION")).await;
        serve_marker(&server, error(404, "NOT_FOUND")).await;
        let got = store(&server, DEADLINE).apply(&commit()).await;
        match got {
            Err(e @ StoreError::Permanent(_)) => {
                let msg = report(&e);
                assert!(
                    msg.contains("not a duplicate") && msg.contains("FAILED_PRECONDITION"),
                    "{msg}"
                )
            }
            other => panic!("HTTP {code}: expected Permanent, got {other:?}"),
        }
        assert_eq!(commits_seen(&server).await, 1, "HTTP {code}");
        assert_eq!(seen(&server, &marker_path()).await, 1, "HTTP {code}");
    }
}

#[tokio::test]
async fn a_marker_read_that_cannot_answer_is_transient_never_a_duplicate() {
    let server = MockServer::start().await;
    serve(&server, ok(), 0, error(400, "FAILED_PRECONDITION")).await;
    serve_marker(&server, error(503, "UNAVAILABLE")).await;
    let got = store(&server, Duration::from_millis(300))
        .apply(&commit())
        .await;
    assert!(matches!(got, Err(StoreError::Transient(_))), "{got:?}");
    assert!(seen(&server, &marker_path()).await >= 1);
}

#[tokio::test]
async fn the_list_form_of_error_bodies_is_understood() {
    let answer = ResponseTemplate::new(409).set_body_json(json!([
        { "error": { "code": 409, "message": "exists", "status": "ALREADY_EXISTS" } }
    ]));
    let (got, _) = apply_against(DEADLINE, answer.clone(), 0, answer).await;
    assert_eq!(got.unwrap(), Applied::Duplicate);
}

#[tokio::test]
async fn a_landed_commit_retried_after_a_503_is_a_duplicate() {
    // The first attempt may have been applied before the 503: the retry finds the marker.
    let (got, commits) = apply_against(
        DEADLINE,
        error(503, "UNAVAILABLE"),
        1,
        error(409, "ALREADY_EXISTS"),
    )
    .await;
    assert_eq!(got.unwrap(), Applied::Duplicate);
    assert_eq!(commits, 2);
}

#[tokio::test]
async fn aborted_409_is_retried_never_a_duplicate() {
    let (got, commits) = apply_against(DEADLINE, error(409, "ABORTED"), 2, ok()).await;
    assert_eq!(got.unwrap(), Applied::Applied);
    assert_eq!(commits, 3);

    let aborted = error(409, "ABORTED");
    let (got, commits) =
        apply_against(Duration::from_millis(1500), aborted.clone(), 0, aborted).await;
    match got {
        Err(e @ StoreError::Transient(_)) => {
            let msg = report(&e);
            assert!(msg.contains("ABORTED"), "{msg}")
        }
        other => panic!("persistent ABORTED must be Transient, got {other:?}"),
    }
    assert!(commits >= 2);
}

#[tokio::test]
async fn permission_denied_is_permanent_and_not_retried() {
    let answer = error(403, "PERMISSION_DENIED");
    let (got, commits) = apply_against(DEADLINE, answer.clone(), 0, answer).await;
    match got {
        Err(e @ StoreError::Permanent(_)) => {
            let msg = report(&e);
            assert!(
                msg.contains("PERMISSION_DENIED") && msg.contains("403"),
                "{msg}"
            )
        }
        other => panic!("expected Permanent, got {other:?}"),
    }
    assert_eq!(commits, 1);
}

#[tokio::test]
async fn invalid_argument_is_permanent() {
    let answer = error(400, "INVALID_ARGUMENT");
    let (got, commits) = apply_against(DEADLINE, answer.clone(), 0, answer).await;
    assert!(matches!(got, Err(StoreError::Permanent(_))), "{got:?}");
    assert_eq!(commits, 1);
}

/// A commit Firestore can never store (over its size limits) is refused at
/// once, not retried as a quota until the deadline: counters then answer 400
/// and the message goes to the dead-letter topic instead of being redelivered.
#[tokio::test]
async fn a_commit_too_large_to_store_is_refused_at_once() {
    let too_large = |code: u16, status: &str, message: &str| {
        ResponseTemplate::new(code).set_body_json(json!({
            "error": { "code": code, "message": message, "status": status }
        }))
    };
    for answer in [
        // The emulator's words (gRPC's RESOURCE_EXHAUSTED, HTTP 429).
        too_large(429, "RESOURCE_EXHAUSTED", "message exceeds maximum size"),
        too_large(
            400,
            "INVALID_ARGUMENT",
            "Request payload size exceeds the limit: 11534336 bytes.",
        ),
    ] {
        let (got, commits) = apply_against(DEADLINE, answer.clone(), 0, answer).await;
        assert!(matches!(got, Err(StoreError::Refused(_))), "{got:?}");
        assert_eq!(commits, 1, "not retried");
    }
    // A quota is still a quota: retried.
    let quota = too_large(429, "RESOURCE_EXHAUSTED", "Quota exceeded.");
    let (got, commits) = apply_against(DEADLINE, quota, 2, ok()).await;
    assert!(matches!(got, Ok(Applied::Applied)), "{got:?}");
    assert_eq!(commits, 3);
}

#[tokio::test]
async fn a_slow_answer_is_cut_at_the_deadline() {
    let server = MockServer::start().await;
    serve(&server, ok(), 0, ok().set_delay(Duration::from_secs(10))).await;
    // The answer would take 10 s: cut at the 1 s deadline, with a margin for
    // a busy 2-core machine far below the 10 s it would otherwise wait.
    let deadline = Duration::from_secs(1);
    let started = Instant::now();
    let got = store(&server, deadline).apply(&commit()).await;
    assert!(matches!(got, Err(StoreError::Transient(_))), "{got:?}");
    let took = started.elapsed();
    assert!(took < deadline + Duration::from_secs(3), "took {took:?}");
}

#[tokio::test]
async fn an_unreachable_server_is_transient() {
    // A port that was free a moment ago: connection refused.
    let port = free_port();
    let store = firestore_at(
        &format!("http://127.0.0.1:{port}"),
        "p",
        Duration::from_millis(300),
    )
    .with_backoff(BACKOFF);
    let got = store.apply(&commit()).await;
    match got {
        Err(e @ StoreError::Transient(_)) => {
            let msg = report(&e);
            assert!(msg.contains("unreachable"), "{msg}")
        }
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
    let got = store
        .catalog(&[DocumentId::parse("sku-1").unwrap()])
        .await
        .unwrap();
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
