//! A request's deadline (README, "Publishing"): it is answered at most
//! `publish_deadline_ms` after its body was read, whatever waits beside it —
//! large requests for the few slots of CPU work, messages for a slow Pub/Sub —
//! and a full publish queue answers 503 at once. On tokio's paused clock:
//! Pub/Sub calls of virtual seconds, in no real time, and the elapsed times
//! are exact.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use hermes_core::auth::{TokenSet, Tokens};
use hermes_ingest::process::Publishing;
use hermes_ingest::{router, Ingest};
use hermes_publish::BatcherLimits;
use hermes_testkit::publishers::Calls;
use hermes_testkit::samples::config;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tower::ServiceExt;

const DEADLINE: Duration = Duration::from_secs(10);

/// Every Pub/Sub call takes this long: longer than most of a deadline.
const SLOW_CALL: Duration = Duration::from_secs(8);

fn app(limits: BatcherLimits) -> Router {
    let toml = format!(
        "publish_deadline_ms = {}\n[[destinations]]\nname = \"all\"\ntopic = \"events\"\n",
        DEADLINE.as_millis()
    );
    let tokens = Tokens {
        production: TokenSet::parse("HERMES_BEARER_TOKEN", None).expect("tokens"),
        preview: TokenSet::parse("HERMES_PREVIEW_BEARER_TOKEN", None).expect("tokens"),
    };
    let calls = Arc::new(Calls::slow(SLOW_CALL));
    let mut ingest = Ingest::new(config(&toml), tokens, calls.clone()).expect("ingest");
    ingest.publishing = Publishing::with_limits(calls, limits);
    router(Arc::new(ingest))
}

/// `events` events in a body past the size from which requests take one of
/// the few slots of CPU work (`hermes_runtime::OFFLOAD_BYTES`).
fn large_body(events: usize) -> String {
    let pad = "x".repeat(hermes_runtime::OFFLOAD_BYTES / events + 100);
    let events: Vec<String> = (0..events)
        .map(|i| format!(r#"{{"event_name":"e","n":{i},"pad":"{pad}"}}"#))
        .collect();
    format!("[{}]", events.join(","))
}

/// Sends `body` and answers its status and how long it took.
async fn timed(app: Router, body: String) -> (StatusCode, Duration) {
    let start = Instant::now();
    let request = Request::post("/")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("request");
    let response = app.oneshot(request).await.expect("infallible router");
    let status = response.status();
    let _ = axum::body::to_bytes(response.into_body(), usize::MAX).await;
    (status, start.elapsed())
}

/// Twice as many large requests as there are slots, at once, on a Pub/Sub
/// that takes 8 s a call: every one is answered within its 10 s (published,
/// or failed at its deadline). A slot held while the messages waited for
/// Pub/Sub made the later requests start their deadline only when an earlier
/// one was answered (18 s and more).
#[tokio::test(start_paused = true)]
async fn every_request_is_answered_within_its_deadline() {
    let app = app(BatcherLimits::default());
    let n = 2 * hermes_runtime::offload::heavy_slots() + 1;
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..n {
        requests.spawn(timed(app.clone(), large_body(50)));
    }
    let mut answered = 0;
    while let Some(done) = requests.join_next().await {
        let (status, took) = done.expect("request task");
        assert!(
            status == StatusCode::OK || status == StatusCode::INTERNAL_SERVER_ERROR,
            "{status}"
        );
        assert!(took <= DEADLINE, "answered after {took:?}");
        answered += 1;
    }
    assert_eq!(answered, n);
}

/// A request whose messages do not fit the publish queue is refused at once
/// (503), not after the requests ahead of it are answered.
#[tokio::test(start_paused = true)]
async fn a_full_queue_answers_503_at_once() {
    let slots = hermes_runtime::offload::heavy_slots();
    // One call in flight, the queue holds the other requests' 50 messages each.
    let app = app(BatcherLimits {
        max_calls_in_flight: 1,
        max_waiting_messages: 50 * (slots - 1),
        ..BatcherLimits::default()
    });
    let mut ahead = tokio::task::JoinSet::new();
    for _ in 0..slots {
        ahead.spawn(timed(app.clone(), large_body(50)));
    }
    // They are all in: one call in flight, the rest queued, the queue full.
    tokio::time::sleep(Duration::from_millis(1)).await;
    let (status, took) = timed(app.clone(), large_body(50)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(took < Duration::from_millis(100), "refused after {took:?}");
    while let Some(done) = ahead.join_next().await {
        let (status, took) = done.expect("request task");
        assert!(took <= DEADLINE, "{status} after {took:?}");
    }
}
