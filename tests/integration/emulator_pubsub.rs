//! `hermes-ingest` against a real Pub/Sub emulator (Google's, or the one
//! `PUBSUB_EMULATOR_HOST` names): what it publishes is pulled back from real
//! subscriptions and checked byte for byte (README: "The ingest function", "The
//! Hermes encoding").

use hermes_testkit::emulator::{unique_id, Emulator, Function, Received};
use hermes_testkit::samples::{two_destinations as config, PROJECT};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const PULL_TIMEOUT: Duration = Duration::from_secs(10);

fn topic(id: &str) -> String {
    format!("projects/{PROJECT}/topics/{id}")
}

/// A running `hermes-ingest` publishing to the emulator.
async fn start_ingest(emu: &Emulator, config: &str) -> Function {
    Function::start(
        "hermes-ingest",
        &[
            ("GOOGLE_CLOUD_PROJECT", PROJECT),
            ("PUBSUB_EMULATOR_HOST", emu.pubsub_host()),
            ("HERMES_CONFIG_TOML", config),
        ],
    )
    .await
}

/// Topic + a fresh pull subscription on it; returns the subscription name.
async fn topic_with_subscription(emu: &Emulator, topic_id: &str, run: &str) -> String {
    let t = topic(topic_id);
    emu.create_topic(&t).await;
    let sub = format!("projects/{PROJECT}/subscriptions/{topic_id}-{run}");
    emu.create_pull_subscription(&sub, &t).await;
    sub
}

fn by_id(messages: Vec<Received>) -> BTreeMap<String, Received> {
    messages
        .into_iter()
        .map(|m| (m.message_id.clone(), m))
        .collect()
}

fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The attributes but `hermes_event_id`, and that identity (a random one here:
/// the events carry no `event_id` and the requests no `Idempotency-Key`).
fn split_identity(m: &Received) -> (BTreeMap<String, String>, String) {
    let mut attributes = m.attributes.clone();
    let id = attributes
        .remove("hermes_event_id")
        .expect("every message carries hermes_event_id");
    assert!(
        hermes_testkit::samples::is_identity_form(&id, "r1."),
        "not a random identity: {id}"
    );
    (attributes, id)
}

/// `data` is the compact UTF-8 JSON of `expected` (same value, no whitespace).
fn assert_data(m: &Received, expected: &Value) {
    let text = m.text();
    let parsed = m.json();
    assert_eq!(&parsed, expected, "message {} data: {text}", m.message_id);
    let compact = serde_json::to_string(&parsed).expect("re-encode");
    assert_eq!(
        text.len(),
        compact.len(),
        "data is not compact JSON: {text}"
    );
}

fn message_id<'a>(ids: &'a Value, event: usize, destination: &str) -> &'a str {
    ids[event][destination]
        .as_str()
        .unwrap_or_else(|| panic!("messageIds[{event}].{destination} missing in {ids}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_publishes_hermes_messages_to_pubsub() {
    let Some(emu) = Emulator::start_pubsub().await else {
        return;
    };
    let run = unique_id("publish");
    let events_sub = topic_with_subscription(&emu, "events", &run).await;
    let items_sub = topic_with_subscription(&emu, "items-realtime", &run).await;
    // `events` as a bare id, completed with GOOGLE_CLOUD_PROJECT; the other in full.
    let mut ingest = start_ingest(&emu, &config("events", &topic("items-realtime"))).await;

    let items = json!([
        { "item_id": "SKU-1", "item_name": "Socks", "quantity": "2.9", "price": 5.25 },
        { "item_id": "SKU-2", "item_name": "Hat", "quantity": 1, "price": 20 }
    ]);
    let purchase = json!({
        "event_name": "purchase",
        "client_id": run,
        "transaction_id": format!("T-{run}"),
        "value": 150,
        "currency": "EUR",
        "items": items,
    });
    let page_view = json!({
        "event_name": "page_view",
        "client_id": run,
        "page_location": "https://example.com/zürich?q=1",
        "user_data": { "city": "Zürich" },
    });

    // ---- production request -------------------------------------------------------------
    let (status, body) = ingest
        .post("/", &[], &json!([purchase.clone(), page_view.clone()]))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["error"], "", "{body}");
    let ids = &body["messageIds"];
    let per_event = ids.as_array().expect("messageIds is an array");
    assert_eq!(per_event.len(), 2, "one entry per event: {ids}");
    let keys = |i: usize| -> Vec<&str> {
        per_event[i]
            .as_object()
            .unwrap_or_else(|| panic!("messageIds[{i}] is not an object: {ids}"))
            .keys()
            .map(String::as_str)
            .collect()
    };
    assert_eq!(keys(0), ["events", "items-realtime"], "{ids}");
    assert_eq!(keys(1), ["events"], "{ids}");

    let got_events = emu.pull_n(&events_sub, 2, PULL_TIMEOUT).await;
    let got_items = emu.pull_n(&items_sub, 1, PULL_TIMEOUT).await;
    assert_eq!(got_events.len(), 2, "events subscription: {got_events:?}");
    assert_eq!(
        got_items.len(),
        1,
        "items-realtime subscription: {got_items:?}"
    );
    let got_events = by_id(got_events);

    // `events`: the whole event, `event_name` as the only attribute.
    let m = &got_events[message_id(ids, 0, "events")];
    assert_data(m, &purchase);
    let (attributes, purchase_id) = split_identity(m);
    assert_eq!(attributes, attrs(&[("event_name", "purchase")]));
    let m = &got_events[message_id(ids, 1, "events")];
    assert_data(m, &page_view);
    let (attributes, page_view_id) = split_identity(m);
    assert_eq!(attributes, attrs(&[("event_name", "page_view")]));
    assert_ne!(purchase_id, page_view_id, "one identity per event");

    // `items-realtime`: the Hermes mapping, suffixes stripped and values converted.
    let m = &got_items[0];
    assert_eq!(m.message_id, message_id(ids, 0, "items-realtime"));
    assert_data(
        m,
        &json!({
            "transaction_id": format!("T-{run}"),
            "value": 150,   // `_num`: an integer stays integral
            "quantity": 2,  // `_int` of "2.9": parsed, truncated toward zero
            "items": items, // other values keep their JSON type
        }),
    );
    assert!(
        m.text().contains("\"value\":150") && !m.text().contains("150.0"),
        "{}",
        m.text()
    );
    let (attributes, id) = split_identity(m);
    assert_eq!(
        attributes,
        attrs(&[("event_name", "purchase"), ("source", "s2s")])
    );
    assert_eq!(
        id, purchase_id,
        "the same event carries one identity to every destination"
    );

    // ---- preview request (no tokens configured: prod_ok, so it passes) ------------------
    let (status, body) = ingest
        .post(
            "/",
            &[("x-gtm-server-preview", "ZW52LTF8cHJldmlldw==")],
            &json!([purchase.clone()]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ids = &body["messageIds"];
    let got_events = emu.pull_n(&events_sub, 1, PULL_TIMEOUT).await;
    let got_items = emu.pull_n(&items_sub, 1, PULL_TIMEOUT).await;
    assert_eq!((got_events.len(), got_items.len()), (1, 1));
    assert_eq!(got_events[0].message_id, message_id(ids, 0, "events"));
    assert_eq!(
        split_identity(&got_events[0]).0,
        attrs(&[("event_name", "purchase"), ("hermes_preview", "true")])
    );
    assert_data(&got_events[0], &purchase);
    assert_eq!(
        got_items[0].message_id,
        message_id(ids, 0, "items-realtime")
    );
    assert_eq!(
        split_identity(&got_items[0]).0,
        attrs(&[
            ("event_name", "purchase"),
            ("hermes_preview", "true"),
            ("source", "s2s")
        ])
    );

    // ---- validate_only: everything but the publish call ----------------------------------
    let (status, body) = ingest
        .post("/?validate_only=true", &[], &json!([purchase.clone()]))
        .await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        emu.drain(&events_sub).await.is_empty(),
        "validate_only published"
    );
    assert!(
        emu.drain(&items_sub).await.is_empty(),
        "validate_only published"
    );

    // ---- SIGTERM: stop accepting, finish, exit 0 ----------------------------------------
    let status = ingest
        .proc
        .terminate(Duration::from_secs(15))
        .expect("hermes-ingest did not exit within 15 s of SIGTERM");
    assert!(
        status.success(),
        "hermes-ingest exited with {status} on SIGTERM"
    );
}

/// A topic that does not exist: the emulator answers NOT_FOUND, not retryable, so
/// the tag fails at once and, with no tag succeeding, the answer is 500 (README,
/// "The ingest function": statuses).
#[tokio::test(flavor = "multi_thread")]
async fn publishing_to_a_missing_topic_fails_the_tag() {
    let Some(emu) = Emulator::start_pubsub().await else {
        return;
    };
    let run = unique_id("missing");
    let absent = format!("absent-{run}");
    let toml = format!(
        "[[destinations]]\nname = \"lost\"\ntopic = \"{}\"\n",
        topic(&absent)
    );
    let ingest = start_ingest(&emu, &toml).await;
    let started = std::time::Instant::now();
    let (status, body) = ingest
        .post("/", &[], &json!([{ "event_name": "page_view" }]))
        .await;
    assert_eq!(status, 500, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "NOT_FOUND must not be retried until the deadline"
    );
    assert_eq!(body["fullyFailedTagEvents"], json!([0]), "{body}");
    let failed = &body["failedTags"][0];
    assert_eq!(failed["eventIndex"], 0, "{body}");
    assert_eq!(failed["tagInfo"]["name"], "lost", "{body}");
    assert_eq!(failed["tagInfo"]["status"], "failure", "{body}");
    let error = failed["tagInfo"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("404") || error.contains("NOT_FOUND"),
        "the tag error names the emulator's answer: {body}"
    );
    assert_eq!(body["messageIds"], json!([{}]), "{body}");
}
