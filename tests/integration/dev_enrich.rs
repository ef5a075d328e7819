//! `hermes dev` with `[enrich]`: enrich runs in process on the SQLite queue,
//! its lookups read the collections written with `PUT
//! /dev/collections/{collection}/{id}`, and its output topic is a queue topic
//! that the counters and notify consume.

use hermes_testkit::emulator::{get_json, start_dev};
use hermes_testkit::webhook::WebhookReceiver;
use serde_json::json;
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
[[destinations]]
name = "events"
topic = "events"

[enrich]
output_topic = "events-enriched"
events = ["purchase"]
[[enrich.lookups]]
collection = "customers"
key = "user_id"
into = "customer"
fields = ["segment"]

[notify]
events = ["purchase"]
body = "json"

[dev]
push_topics = ["events-enriched"]
notify_topics = ["events-enriched"]
retry_min_ms = 20
retry_max_ms = 100
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_enriched_copy_reaches_counters_and_notify() {
    let webhook = WebhookReceiver::start(|_| 200).await;
    let (dev, dir) = start_dev(
        "enrich",
        &[
            ("HERMES_CONFIG_TOML", CONFIG),
            ("HERMES_NOTIFY_WEBHOOK_URL", &webhook.url),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let put = |path: &str, body: &'static str| {
        client
            .put(format!("{}/dev/collections/{path}", dev.base))
            .body(body)
            .send()
    };
    let r = put(
        "customers/u1",
        r#"{"segment": "gold", "email": "private@example.com"}"#,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 204);
    // Bad input is the client's: a collection id Firestore refuses, a body that is not an object.
    assert_eq!(put("__x__/u1", "{}").await.unwrap().status(), 400);
    assert_eq!(put("customers/u2", "[1]").await.unwrap().status(), 400);

    let events = json!([{ "event_name": "purchase", "event_id": "ord-1", "user_id": "u1",
        "items": [{ "item_id": "sku-1", "price": 30, "quantity": 2 }] }]);
    let (status, body) = dev.post("/", &[], &events).await;
    assert_eq!(status, 200, "{body}");

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let items = get_json(&format!("{}/dashboard/api/items", dev.base)).await;
        let counted = items["items"]
            .as_array()
            .and_then(|list| list.iter().find(|i| i["item_id"] == "sku-1"))
            .and_then(|i| i["counter"].as_i64());
        if counted == Some(2) && !webhook.calls().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the enriched copy was not counted and notified: {items}\n{}",
            dev.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Notify (body = "json") got the enriched event: the listed field only.
    let calls = webhook.calls();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    let delivered = calls[0].json();
    assert_eq!(
        delivered["customer"],
        json!({"segment": "gold"}),
        "{delivered}"
    );
    assert_eq!(delivered["event_id"], "ord-1");
    let _ = std::fs::remove_dir_all(dir);
}
