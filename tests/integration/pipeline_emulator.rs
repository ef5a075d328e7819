//! The pipeline end to end on the emulator: `hermes-ingest` publishes to a topic
//! whose push subscription delivers to `hermes-counters`, which counts in
//! Firestore. A purchase with items sent to ingest ends as the right counters.

use hermes_testkit::emulator::{unique_id, Emulator, Function};
use hermes_testkit::samples::items_realtime;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn a_purchase_sent_to_ingest_ends_as_counters() {
    let Some(emu) = Emulator::start().await else {
        return;
    };
    let project = unique_id("pipeline");
    let topic = format!("projects/{project}/topics/items-realtime");

    let counters = Function::start(
        "hermes-counters",
        &[
            ("GOOGLE_CLOUD_PROJECT", &project),
            ("FIRESTORE_EMULATOR_HOST", emu.firestore_host()),
            ("HERMES_CONFIG_TOML", ""),
        ],
    )
    .await;

    emu.create_topic(&topic).await;
    let subscription = format!("projects/{project}/subscriptions/items-realtime-counters");
    let resp = emu
        .http()
        .put(format!("{}/v1/{subscription}", emu.pubsub_base()))
        .json(&json!({
            "name": subscription,
            "topic": topic,
            "pushConfig": {"pushEndpoint": format!("{}/", counters.base)},
            "ackDeadlineSeconds": 10,
        }))
        .send()
        .await
        .expect("create push subscription");
    assert!(
        resp.status().is_success(),
        "push subscription: {}",
        resp.text().await.unwrap_or_default()
    );

    let ingest_config = items_realtime(&topic);
    let ingest = Function::start(
        "hermes-ingest",
        &[
            ("GOOGLE_CLOUD_PROJECT", &project),
            ("PUBSUB_EMULATOR_HOST", emu.pubsub_host()),
            ("HERMES_CONFIG_TOML", &ingest_config),
        ],
    )
    .await;

    let body = json!([
        {"event_name": "purchase", "transaction_id": "T-1", "value": 210, "currency": "DKK", "items": [
            { "item_id": "123", "item_name": "Blazer", "price": 150, "quantity": 1, "currency": "DKK" },
            { "item_id": "456", "item_name": "T-Shirt", "price": 30, "quantity": 2, "currency": "DKK" }
        ]},
        {"event_name": "page_view"},
        {"event_name": "purchase", "transaction_id": "T-2", "value": 150, "items": [
            { "item_id": "123", "item_name": "Blazer", "price": 150, "quantity": 1 }
        ]}
    ]);
    let resp = reqwest::Client::new()
        .post(format!("{}/", ingest.base))
        .json(&body)
        .send()
        .await
        .expect("ingest");
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.expect("ingest JSON");
    assert!(
        answer["messageIds"][0]["items-realtime"].is_string(),
        "{answer}"
    );
    assert_eq!(answer["messageIds"][1], json!({}));

    let doc = |id: &str| format!("projects/{project}/databases/(default)/documents/items/{id}");
    let counter = |d: &Value| {
        d["fields"]["counter"]["integerValue"]
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let blazer = emu.firestore_get(&doc("123")).await;
        let shirt = emu.firestore_get(&doc("456")).await;
        let counts = (
            blazer.as_ref().and_then(counter),
            shirt.as_ref().and_then(counter),
        );
        if counts == (Some(2), Some(2)) {
            let blazer = blazer.unwrap_or_default();
            // T-2's item names no currency, and this destination's mapping does
            // not carry the event's: that sale counts under XXX, never added to DKK.
            let revenue = &blazer["fields"]["revenue"]["mapValue"]["fields"];
            assert_eq!(
                (
                    revenue["DKK"]["doubleValue"].as_f64(),
                    revenue["XXX"]["doubleValue"].as_f64()
                ),
                (Some(150.0), Some(150.0)),
                "{blazer}"
            );
            assert_eq!(blazer["fields"]["item_name"]["stringValue"], "Blazer");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "counters not reached: {counts:?}\n--- counters log ---\n{}\n--- emulator ---\n{}",
            counters.log_text(),
            emu.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
