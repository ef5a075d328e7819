//! Event identity (`hermes_event_id`, README "Delivery guarantees"): fixed per
//! event before the first attempt, from the event's id field, else derived
//! from the request's `Idempotency-Key` and the event's text, else random;
//! a repeated identity within one request; and publishes that outlive a
//! client who hangs up.

use super::common::*;
use hermes_core::config::Config;
use hermes_core::destination::Message;
use hermes_gcp::pubsub::PubSubRest;
use hermes_gcp::{Auth, Backoff, Endpoint};
use hermes_testkit::emulator::free_port;
use hermes_testkit::publishers::PublishIds;
use hermes_testkit::samples::is_identity_form;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TWO_DESTINATIONS: &str = r#"
[[destinations]]
name = "events"
topic = "events"
[[destinations]]
name = "copy"
topic = "copies"
"#;

fn identity(m: &Message) -> &str {
    m.attribute("hermes_event_id")
        .expect("every message carries hermes_event_id")
}

/// Identities of the recorded messages, per destination topic.
fn identities(rec: &Recorder, topic: &str) -> Vec<String> {
    rec.messages()
        .iter()
        .filter(|(t, _)| t.ends_with(topic))
        .map(|(_, m)| identity(m).to_string())
        .collect()
}

#[tokio::test]
async fn the_event_id_field_is_the_identity_and_both_destinations_carry_it() {
    let (app, rec) = app(TWO_DESTINATIONS, tokens(None, None));
    let events = json!([
        { "event_name": "purchase", "event_id": "order-17" },
        { "event_name": "page_view", "event_id": "" },
        { "event_name": "page_view", "event_id": 42 },
    ]);
    let a = send_json(&app, &events).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let events_ids = identities(&rec, "/events");
    assert_eq!(
        events_ids,
        identities(&rec, "/copies"),
        "one identity per event"
    );
    assert_eq!(events_ids[0], "order-17");
    // An empty or non-string id is no identity: a fresh random one each.
    for id in &events_ids[1..] {
        assert!(is_identity_form(id, "r1."), "{id}");
    }
    assert_ne!(events_ids[1], events_ids[2]);
}

#[tokio::test]
async fn an_idempotency_key_derives_ids_and_a_resend_gets_the_same() {
    let (app, rec) = app(TWO_DESTINATIONS, tokens(None, None));
    // Two equal events: the index tells them apart.
    let body = json!([
        { "event_name": "a" },
        { "event_name": "b", "event_id": "own-id" },
        { "event_name": "a" },
    ])
    .to_string();
    for _ in 0..2 {
        let a = send(&app, &body, &[("Idempotency-Key", "req-9f")]).await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let ids = identities(&rec, "/events");
    assert_eq!(ids[..3], ids[3..], "a resend has the same ids");
    assert!(
        is_identity_form(&ids[0], "k1.") && is_identity_form(&ids[2], "k1."),
        "{ids:?}"
    );
    assert_ne!(ids[0], ids[2]);
    assert_eq!(ids[1], "own-id", "an event_id is used as written");
    // Whitespace is not part of the event: the same events pretty-printed
    // are the same events.
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(&body).unwrap())
            .unwrap();
    send(&app, &pretty, &[("Idempotency-Key", "req-9f")]).await;
    assert_eq!(identities(&rec, "/events")[6..], ids[..3]);
}

/// A key reused with another body, by the same client or by one who guessed
/// it, gives new ids: no event of either body is taken for one of the other.
#[tokio::test]
async fn a_reused_key_with_another_body_never_shares_an_id() {
    let (app, rec) = app(ONE_DESTINATION, tokens(None, None));
    let key = [("Idempotency-Key", "reuse1")];
    let first = json!([{ "event_name": "purchase", "value": 1 }]);
    let second = json!([{ "event_name": "purchase", "value": 2 }]);
    send(&app, &first.to_string(), &key).await;
    send(&app, &second.to_string(), &key).await;
    // A client's own event_id shaped like the old `<key>:<index>` form.
    send_json(
        &app,
        &json!([{ "event_name": "purchase", "event_id": "reuse1:0" }]),
    )
    .await;
    let ids = identities(&rec, "/events");
    assert_eq!(ids.len(), 3);
    assert_ne!(ids[0], ids[1], "the second body's event lost to the first");
    assert_eq!(ids[2], "reuse1:0");
    assert!(!ids[..2].contains(&ids[2]), "{ids:?}");
}

/// Two events of one request with the same id: the second would be counted
/// as the first, so it is not published, and the answer says so.
#[tokio::test]
async fn a_repeated_event_id_in_one_request_is_reported_not_published() {
    let (app, rec) = app(TWO_DESTINATIONS, tokens(None, None));
    let events = json!([
        { "event_name": "purchase", "event_id": "E1", "value": 1 },
        { "event_name": "purchase", "event_id": "E2" },
        { "event_name": "purchase", "event_id": "E1", "value": 2 },
    ]);
    let a = send_json(&app, &events).await;
    assert_eq!(a.status, 206, "{}", a.body);
    assert_eq!(a.body["invalidSchemaEvents"], json!([2]));
    let error = &a.body["errors"][0];
    assert_eq!(error["code"], "duplicate_event_id", "{error}");
    assert_eq!(error["eventIndex"], 2);
    assert_eq!(error["path"], "events[2].event_id");
    assert!(
        error["message"].as_str().unwrap().contains("events[0]"),
        "names the first: {error}"
    );
    assert_eq!(a.body["messageIds"][2], json!({}));
    assert_eq!(identities(&rec, "/events"), ["E1", "E2"]);
    assert_eq!(identities(&rec, "/copies"), ["E1", "E2"]);
    // Under a key the same events are still told apart by their ids.
    let a = send(&app, &events.to_string(), &[("Idempotency-Key", "k")]).await;
    assert_eq!(a.status, 206, "{}", a.body);
    // All the same: one event published, the rest reported.
    let same =
        json!([{ "event_name": "a", "event_id": "X" }, { "event_name": "a", "event_id": "X" }]);
    let a = send_json(&app, &same).await;
    assert_eq!(a.status, 206, "{}", a.body);
    assert_eq!(a.body["invalidSchemaEvents"], json!([1]));
}

#[tokio::test]
async fn without_either_every_send_is_a_new_event() {
    let (app, rec) = app(ONE_DESTINATION, tokens(None, None));
    let body = json!([{ "event_name": "a" }, { "event_name": "a" }]).to_string();
    for _ in 0..2 {
        let a = send(&app, &body, &[]).await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let ids = identities(&rec, "/events");
    assert_eq!(ids.len(), 4);
    // Each a random identity of its own form: at least once, so a resend
    // (or an equal event beside it) is another event.
    for id in &ids {
        assert!(is_identity_form(id, "r1."), "{id}");
    }
    let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), 4, "{ids:?}");
}

#[tokio::test]
async fn the_identity_field_is_configurable() {
    let toml = format!("idempotency_field = \"meta.id\"\n{ONE_DESTINATION}");
    let (app, rec) = app(&toml, tokens(None, None));
    let a = send_json(
        &app,
        &json!([{ "event_name": "a", "event_id": "ignored", "meta": { "id": "m-1" } }]),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(identities(&rec, "/events"), ["m-1"]);
    let err = Config::parse("idempotency_field = \"a..b\"", Some("p-1")).unwrap_err();
    assert!(err.to_string().contains("idempotency_field"), "{err}");
    let err = Config::parse(
        "[[destinations]]\nname = \"a\"\ntopic = \"abc\"\n[destinations.attributes]\nhermes_event_id = \"x\"",
        Some("p-1"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("hermes_event_id"), "{err}");
    // A static backfill mark would make notify skip every message of the topic.
    let err = Config::parse(
        "[[destinations]]\nname = \"a\"\ntopic = \"abc\"\n[destinations.attributes]\nhermes_backfill = \"true\"",
        Some("p-1"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("hermes_backfill"), "{err}");
}

#[tokio::test]
async fn a_bad_idempotency_key_is_400_before_anything_is_published() {
    let (app, rec) = app(ONE_DESTINATION, tokens(None, None));
    let body = json!([{ "event_name": "a" }]).to_string();
    let long = "k".repeat(1001);
    for key in [long.as_str(), "has space", " "] {
        let a = send(&app, &body, &[("Idempotency-Key", key)]).await;
        assert_eq!(a.status, 400, "{key:?}: {}", a.body);
        assert!(a.body["error"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key"));
    }
    let a = send(&app, &body, &[("Idempotency-Key", &"k".repeat(1000))]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(rec.count(), 1);
}

/// A client that gives up (fire and forget, 1 s timeout) while Pub/Sub is
/// failing: the publish goes on and lands once Pub/Sub recovers.
#[tokio::test]
async fn a_client_hang_up_never_aborts_the_publish() {
    let pubsub = MockServer::start().await;
    let publish = "/v1/projects/hermes-test/topics/events:publish";
    // Failing for about 1.5 s (the client gives up after 1 s), then up.
    Mock::given(method("POST"))
        .and(path(publish))
        .respond_with(
            ResponseTemplate::new(503)
                .set_delay(Duration::from_millis(300))
                .set_body_json(json!({ "error": { "code": 503, "status": "UNAVAILABLE" } })),
        )
        .up_to_n_times(5)
        .mount(&pubsub)
        .await;
    Mock::given(method("POST"))
        .and(path(publish))
        .respond_with(PublishIds::new("id-", 0))
        .mount(&pubsub)
        .await;
    let publisher = PubSubRest::new(
        Endpoint {
            base: pubsub.uri(),
            auth: Auth::None,
        },
        Duration::from_secs(10),
    )
    .with_backoff(Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(20),
        multiplier: 2,
    });
    let app = app_with(
        config(ONE_DESTINATION),
        tokens(None, None),
        Arc::new(publisher),
    );
    // A real server and a real TCP hang-up: the connection closes under the handler.
    let port = free_port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .expect("client");
    let sent = client
        .post(format!("http://127.0.0.1:{port}/"))
        .header("content-type", "application/json")
        .body(json!([{ "event_name": "purchase", "event_id": "e-1" }]).to_string())
        .send()
        .await;
    assert!(sent.is_err(), "the client should have given up: {sent:?}");

    // The publish goes on without its client, and lands exactly once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let calls = pubsub.received_requests().await.unwrap_or_default();
        if calls.len() >= 6 {
            assert_eq!(calls.len(), 6, "5 failures, then one accepted publish");
            let body: serde_json::Value = serde_json::from_slice(&calls[5].body).expect("json");
            assert_eq!(body["messages"][0]["attributes"]["hermes_event_id"], "e-1");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the publish stopped with the client: {} calls",
            calls.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        pubsub.received_requests().await.unwrap_or_default().len(),
        6,
        "published once, not again"
    );
}
