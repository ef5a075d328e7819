//! `hermes dev` with `[notify]`: notify runs in process on the SQLite queue,
//! beside the counters, and its webhook calls show in `/dev/queue`.

use hermes_testkit::emulator::{get_json, start_dev};
use hermes_testkit::webhook::WebhookReceiver;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
[[destinations]]
name = "events"
topic = "events"

[[destinations]]
name = "items-realtime"
topic = "items-realtime"
require = ["items"]

[notify]
events = ["purchase"]
template = 'New order {{transaction_id}}: {{value}} {{currency}} ({{items.length}} items)'

[dev]
retry_min_ms = 20
retry_max_ms = 100
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_runs_in_process_and_its_calls_show_in_the_queue_view() {
    // The first call fails (503): the queue retries it; the second is taken.
    let webhook = WebhookReceiver::start(|n| if n == 1 { 503 } else { 200 }).await;
    let (dev, dir) = start_dev(
        "notify",
        &[
            ("HERMES_CONFIG_TOML", CONFIG),
            ("HERMES_NOTIFY_WEBHOOK_URL", &webhook.url),
        ],
    )
    .await;
    // A page view (not notified) and a purchase, which goes to both topics:
    // one event, so one notification.
    let events = json!([
        { "event_name": "page_view", "event_id": "pv-1" },
        { "event_name": "purchase", "event_id": "ord-9", "transaction_id": "T-9",
          "value": 30, "currency": "EUR",
          "items": [{ "item_id": "sku-1", "price": 30, "quantity": 1 }] }
    ]);
    let (status, body) = dev.post("/", &[], &events).await;
    assert_eq!(status, 200, "{body}");

    let deadline = Instant::now() + Duration::from_secs(20);
    let view = loop {
        let view = get_json(&format!("{}/dev/queue", dev.base)).await;
        let delivered = view["notify"]["webhookCalls"]
            .as_array()
            .is_some_and(|calls| calls.iter().any(|c| c["outcome"] == "delivered"));
        if delivered && view["pending"] == 0 {
            break view;
        }
        assert!(
            Instant::now() < deadline,
            "no delivered call: {view}\n{}",
            dev.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let calls = webhook.calls();
    let statuses: Vec<u16> = calls.iter().map(|c| c.status).collect();
    assert_eq!(statuses, [503, 200], "{calls:#?}");
    for call in &calls {
        assert_eq!(call.idempotency_key.as_deref(), Some("ord-9"));
        assert_eq!(
            call.json(),
            json!({ "text": "New order T-9: 30 EUR (1 items)" })
        );
    }
    // The view lists both calls, newest first.
    let shown = view["notify"]["webhookCalls"].as_array().unwrap();
    assert_eq!(shown.len(), 2, "{view}");
    assert_eq!(
        (shown[0]["status"].as_u64(), shown[1]["status"].as_u64()),
        (Some(200), Some(503))
    );
    assert_eq!(shown[0]["idempotencyKey"], "ord-9");
    assert_eq!(view["notify"]["dead"], 0);
    // The counters counted the purchase too, once.
    let items = get_json(&format!("{}/dashboard/api/items", dev.base)).await;
    let sku = items["items"]
        .as_array()
        .and_then(|l| l.iter().find(|i| i["item_id"] == "sku-1").cloned())
        .unwrap_or_default();
    assert_eq!(sku["counter"], 1, "{items}");
    assert!(
        !dev.log_text().contains(&webhook.url),
        "the URL is never logged"
    );
    drop(dev);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A purchase goes to a whole-event topic and to a mapped one whose payload
/// has other keys (and whose topic sorts first, so its copy is queued
/// first): notify renders the whole event, never `New order :  ( items)`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_renders_the_whole_event_not_a_mapped_copy() {
    const MAPPED: &str = r#"
[[destinations]]
name = "events"
topic = "events"

[[destinations]]
name = "orders"
topic = "a-orders"
require = ["items"]
[destinations.mapping]
order = "transaction_id"
lines = "items"

[notify]
events = ["purchase"]
template = 'New order {{transaction_id}}: {{value}} {{currency}} ({{items.length}} items)'

[dev]
retry_min_ms = 20
retry_max_ms = 100
"#;
    let webhook = WebhookReceiver::start(|_| 200).await;
    let (dev, dir) = start_dev(
        "notify-map",
        &[
            ("HERMES_CONFIG_TOML", MAPPED),
            ("HERMES_NOTIFY_WEBHOOK_URL", &webhook.url),
        ],
    )
    .await;
    let events = json!([
        { "event_name": "purchase", "event_id": "ord-10", "transaction_id": "T-10",
          "value": 12, "currency": "DKK",
          "items": [{ "item_id": "sku-2", "price": 12, "quantity": 1 }] }
    ]);
    let (status, body) = dev.post("/", &[], &events).await;
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let view = get_json(&format!("{}/dev/queue", dev.base)).await;
        if view["pending"] == 0 && !webhook.calls().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "no call: {view}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let texts: Vec<Value> = webhook.calls().iter().map(|c| c.json()).collect();
    assert_eq!(
        texts,
        [json!({ "text": "New order T-10: 12 DKK (1 items)" })]
    );
    drop(dev);
    let _ = std::fs::remove_dir_all(&dir);
}
