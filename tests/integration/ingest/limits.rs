//! Bounded output and bounded work, in process: `[limits] max_errors` with
//! `errorsOmitted`, `max_events` (413), short previews of input in error texts,
//! the budget of request bytes — bodies, inflated gzip and parsed events —
//! (503 + Retry-After) while a publisher holds requests in flight, and the bound
//! on the messages waiting for a publish call (503 + Retry-After too). Bounds
//! are on sizes, counts and statuses only.

use super::common::*;
use axum::body::Body;
use axum::http::Request;
use hermes_testkit::publishers::Gate;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Every Common Event Data string of one event given a number: 15 errors an event.
fn wrong_event() -> Value {
    let mut event = serde_json::Map::new();
    for field in
        std::iter::once("event_name").chain(hermes_core::schema::DEFAULT_STRINGS.iter().copied())
    {
        event.insert(field.into(), json!(1));
    }
    Value::Object(event)
}

#[tokio::test]
async fn a_mebibyte_of_wrong_events_gets_an_answer_of_kilobytes() {
    let one = wrong_event().to_string();
    let n = 1_000_000 / (one.len() + 1);
    let body = format!("[{}]", vec![one.as_str(); n].join(","));
    assert!(
        body.len() > 900_000 && body.len() <= 1_048_576,
        "{}",
        body.len()
    );
    let (app, recorder) = app(ONE_DESTINATION, tokens(None, None));
    let request = Request::post("/").body(Body::from(body)).unwrap();
    let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    assert_eq!(response.status(), 422);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    // ~5 characters per index in three arrays, plus 100 errors: well under 256 KiB.
    assert!(
        bytes.len() < 256 * 1024,
        "an answer of {} bytes",
        bytes.len()
    );
    let answer: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(answer["errors"].as_array().unwrap().len(), 100);
    assert_eq!(answer["errorsOmitted"], json!(n * 15 - 100));
    // The index arrays stay complete.
    assert_eq!(answer["invalidSchemaEvents"].as_array().unwrap().len(), n);
    assert_eq!(answer["messageIds"].as_array().unwrap().len(), n);
    assert_eq!(recorder.count(), 0);
}

#[tokio::test]
async fn max_errors_is_configurable_and_zero_omits_nothing_when_all_is_well() {
    let toml = format!("{ONE_DESTINATION}\n[limits]\nmax_errors = 3");
    let (app, _) = app(&toml, tokens(None, None));
    let bad = send_json(&app, &json!([wrong_event(), {"event_name": "ok"}])).await;
    assert_eq!(bad.status, 206);
    assert_eq!(bad.errors().len(), 3);
    assert_eq!(bad.body["errorsOmitted"], json!(12));
    let good = send_json(&app, &json!([{"event_name": "ok"}])).await;
    assert_eq!(good.status, 200);
    assert_eq!(good.body["errorsOmitted"], json!(0));
}

#[tokio::test]
async fn more_than_max_events_is_413_naming_the_limit() {
    let (app, recorder) = app(ONE_DESTINATION, tokens(None, None));
    let body = format!("[{}]", vec!["{}"; 10_001].join(","));
    let answer = send(&app, &body, &[]).await;
    assert_eq!(answer.status, 413);
    assert_eq!(answer.body["status"], json!(413));
    let error = answer.body["error"].as_str().unwrap();
    assert!(error.contains("10000 events"), "{error}");
    // Exactly the limit passes the check.
    let body = format!("[{}]", vec![r#"{"event_name":"e"}"#; 10_000].join(","));
    assert_eq!(send(&app, &body, &[]).await.status, 200);
    assert_eq!(recorder.count(), 10_000);

    let toml = format!("{ONE_DESTINATION}\n[limits]\nmax_events = 2");
    let (small, _) = super::common::app(&toml, tokens(None, None));
    let three = send_json(&small, &json!([{}, {}, {}])).await;
    assert_eq!(three.status, 413);
    assert!(three.body["error"].as_str().unwrap().contains("2 events"));
}

#[tokio::test]
async fn error_texts_quote_input_only_as_short_previews() {
    let toml = r#"
[[destinations]]
name = "typed"
topic = "typed"
[destinations.mapping]
q_int = "q"
"#;
    let (app, _) = app(toml, tokens(None, None));
    // A long non-number, in multi-byte characters: cut on a character boundary.
    let long = "ø".repeat(5_000);
    let answer = send_json(&app, &json!([{"event_name": "e", "q": long}])).await;
    assert_eq!(answer.status, 500);
    let error = answer.body["failedTags"][0]["tagInfo"]["error"]
        .as_str()
        .unwrap();
    // At most a 40-character preview of the value, marked as cut.
    let quoted = error.chars().filter(|c| *c == 'ø').count();
    assert!(
        (1..=40).contains(&quoted),
        "{quoted} characters quoted: {error}"
    );
    assert!(error.contains("ø…"), "{error}");

    let encoding = "x".repeat(4_000);
    let answer = send(&app, "[]", &[("content-encoding", &encoding)]).await;
    assert_eq!(answer.status, 415);
    let error = answer.body["error"].as_str().unwrap();
    assert!(
        !error.contains(&"x".repeat(41)),
        "more than 40 characters quoted: {error}"
    );
    assert!(error.contains(&format!("{}…", "x".repeat(40))), "{error}");
}

#[tokio::test]
async fn no_user_data_value_or_token_reaches_an_answer() {
    let toml = format!("{ONE_DESTINATION}\n[limits]\nmax_errors = 1000");
    let (app, _) = app(&toml, tokens(Some("s3cret-token"), None));
    let event = json!({"event_name": 5, "user_data": {"email_address": 12345678, "city": ["Århus-secret"]}});
    let answer = send(
        &app,
        &json!([event]).to_string(),
        &[("authorization", "Bearer s3cret-token")],
    )
    .await;
    assert_eq!(answer.status, 422);
    let text = answer.body.to_string();
    for secret in ["12345678", "Århus-secret", "s3cret-token"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert_eq!(answer.errors().len(), 3);
}

/// The budget of request bytes, with requests held in flight by a publisher
/// that blocks: once the bodies held reach `max_inflight_bytes`, the next
/// request is refused with 503, `Retry-After` and the usual JSON body; when
/// the held ones finish, requests pass again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_inflight_bytes_a_request_gets_503_with_retry_after() {
    // Bodies of ~100 kB: the budget must hold at least one of the largest allowed.
    let toml = format!(
        "max_body_bytes = 120000\n{ONE_DESTINATION}\n[limits]\nmax_inflight_bytes = 250000"
    );
    let config = config(&toml);
    let protection = hermes_runtime::Protection::from_config(&config);
    let gate = Arc::new(Gate::default());
    let app = protection.guard(app_with(config, tokens(None, None), gate.clone()));
    // ~100 kB of body each (the parsed form borrows its strings and costs
    // little more): two fit in 250 kB, a third does not.
    let padding = "p".repeat(100_000);
    let body = json!([{"event_name": "e", "padding": padding}]).to_string();
    let mut held = Vec::new();
    for _ in 0..2 {
        let app = app.clone();
        let body = body.clone();
        held.push(tokio::spawn(async move { send(&app, &body, &[]).await }));
    }
    // One is in the held publish call, the other waits for the next call.
    while gate.waiting.load(Ordering::SeqCst) < 1 || protection.inflight_bytes() < 200_000 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refused = send(&app, &body, &[]).await;
    assert_eq!(refused.status, 503);
    assert_eq!(
        refused
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_eq!(refused.body["status"], json!(503));
    assert!(refused.body["error"]
        .as_str()
        .unwrap()
        .contains("Overloaded"));
    assert_eq!(refused.body["errorsOmitted"], json!(0));
    // A small request still fits.
    assert_eq!(send(&app, "[]", &[]).await.status, 200);
    // With a declared length (the above had none: refused while read), refused
    // before a byte of the body is read.
    let req = Request::post("/")
        .header("content-length", body.len().to_string())
        .body(Body::from(body.clone()))
        .unwrap();
    assert_eq!(call(&app, req).await.status, 503);

    gate.open();
    for h in held {
        assert_eq!(h.await.unwrap().status, 200);
    }
    assert_eq!(protection.inflight_bytes(), 0);
    assert_eq!(send(&app, &body, &[]).await.status, 200);
}

/// The messages waiting for a topic's next publish call are bounded: a
/// request whose messages do not fit is refused whole with 503, `Retry-After`
/// and the usual JSON body, and none of its messages is published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_publish_queue_gets_503_with_retry_after() {
    use hermes_publish::BatcherLimits;
    let toml =
        format!("{ONE_DESTINATION}\n[[destinations]]\nname = \"other\"\ntopic = \"other\"\n");
    let gate = Arc::new(Gate::default());
    let mut ingest =
        hermes_ingest::Ingest::new(config(&toml), tokens(None, None), gate.clone()).unwrap();
    ingest.publishing = hermes_ingest::Publishing::with_limits(
        gate.clone(),
        BatcherLimits {
            max_waiting_messages: 3,
            ..BatcherLimits::default()
        },
    );
    let batcher = ingest.publishing.batcher().clone();
    let events_topic = ingest.config.destinations[0].topic.clone();
    let app = hermes_ingest::router(Arc::new(ingest));
    let events = |n: usize| {
        Value::from(
            (0..n)
                .map(|_| json!({"event_name": "e"}))
                .collect::<Vec<_>>(),
        )
    };
    // The first request's two calls (one per topic) are held at the gate.
    let first = {
        let app = app.clone();
        tokio::spawn(async move { send_json(&app, &events(1)).await })
    };
    while gate.waiting.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Two messages per topic wait for the next calls; room for one more each.
    let waiting = {
        let app = app.clone();
        tokio::spawn(async move { send_json(&app, &events(2)).await })
    };
    while batcher.waiting(&events_topic) < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refused = send_json(&app, &events(2)).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(
        refused
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_eq!(refused.body["status"], json!(503));
    assert!(
        refused.body["error"]
            .as_str()
            .unwrap()
            .contains("Overloaded"),
        "{}",
        refused.body
    );
    assert_eq!(refused.body["messageIds"], json!([]));
    gate.open();
    assert_eq!(first.await.unwrap().status, 200);
    assert_eq!(waiting.await.unwrap().status, 200);
    assert_eq!(send_json(&app, &events(2)).await.status, 200, "room again");
}

/// Gzip bodies are counted at their decompressed size too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decompressed_bytes_count_against_the_budget() {
    use flate2::write::GzEncoder;
    use std::io::Write;
    // Bodies of ~100 kB: the budget must hold at least one of the largest allowed.
    let toml = format!(
        "max_body_bytes = 120000\n{ONE_DESTINATION}\n[limits]\nmax_inflight_bytes = 150000"
    );
    let config = config(&toml);
    let protection = hermes_runtime::Protection::from_config(&config);
    let gate = Arc::new(Gate::default());
    let app = protection.guard(app_with(config, tokens(None, None), gate.clone()));
    let padding = "p".repeat(100_000);
    let body = json!([{"event_name": "e", "padding": padding}]).to_string();
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    assert!(gz.len() < 5_000);
    let first = {
        let app = app.clone();
        let body = body.clone();
        tokio::spawn(async move { send(&app, &body, &[]).await })
    };
    while gate.waiting.load(Ordering::SeqCst) < 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The first holds ~100 kB (its body; the parsed form borrows the body's
    // strings and costs little more). A few kB on the wire, 100 kB once
    // inflated: past the ~50 kB left.
    let req = Request::post("/")
        .header("content-encoding", "gzip")
        .body(Body::from(gz.clone()))
        .unwrap();
    let refused = call(&app, req).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(refused.headers.contains_key("retry-after"));
    gate.open();
    assert_eq!(first.await.unwrap().status, 200);
    let req = Request::post("/")
        .header("content-encoding", "gzip")
        .body(Body::from(gz))
        .unwrap();
    assert_eq!(call(&app, req).await.status, 200);
}

/// Large bodies are worked on off the async workers and then wait for
/// Pub/Sub; `/healthz` and small requests never wait for them. (That at most
/// a few large bodies are worked on at once is hermes-runtime's
/// `offload::tests::large_requests_share_a_few_slots_…`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_requests_pass_while_large_ones_wait_for_pubsub() {
    let gate = Arc::new(Gate::default());
    let app = app_with(config(ONE_DESTINATION), tokens(None, None), gate.clone());
    let padding = "p".repeat(80_000);
    let body = json!([{"event_name": "e", "padding": padding}]).to_string();
    let slots = hermes_runtime::offload::heavy_slots();
    let mut large = Vec::new();
    for _ in 0..slots + 2 {
        let app = app.clone();
        let body = body.clone();
        large.push(tokio::spawn(async move { send(&app, &body, &[]).await }));
    }
    // A call of the large ones is held at the gate: they wait for Pub/Sub.
    while gate.waiting.load(Ordering::SeqCst) < 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for _ in 0..20 {
        let health = call(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
        assert_eq!(health.status, 200);
        // A small request, checked and encoded (validate_only: a publish would
        // wait at the gate like the large ones' do).
        let req = Request::post("/?validate_only=true")
            .body(Body::from(r#"[{"event_name":"e"}]"#))
            .unwrap();
        assert_eq!(call(&app, req).await.status, 200);
    }
    gate.open();
    for l in large {
        assert_eq!(l.await.unwrap().status, 200);
    }
}
