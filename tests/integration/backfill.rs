//! The backfill lane with real peers: `X-Hermes-Backfill: true` through
//! `hermes-ingest` (production token only) onto Google's Pub/Sub emulator;
//! `hermes-counters` (counts backfill messages, or skips them with
//! `[counters] backfill = "skip"`) and `hermes-notify` (skips them, or
//! delivers them with `[notify] backfill = "deliver"`) against the Firestore
//! emulator; and `hermes dev`, whose in-process delivery follows the same
//! rules. A skipped message is acknowledged (200) as `skipped_backfill`, with
//! no effect: no counter, no marker, no webhook call.
//!
//! `cargo test --test integration backfill` runs them alone.

use hermes_core::destination::ATTR_BACKFILL;
use hermes_core::store::{EventIdentity, MarkerOrigin};
use hermes_push::marker_id;
use hermes_testkit::emulator::{get_json, start_dev, unique_id, Emulator, Function};
use hermes_testkit::samples::push_envelope;
use hermes_testkit::webhook::WebhookReceiver;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The subscription of `push_envelope`.
const SUBSCRIPTION: &str = "projects/p/subscriptions/items-realtime-counters";

/// A purchase of `quantity` × `item` as Pub/Sub pushes it, with the event id
/// `event_id`; `backfill` adds the attribute ingest sets on a backfill request.
fn purchase(message_id: &str, event_id: &str, item: &str, quantity: u32, backfill: bool) -> Value {
    let mut attributes = json!({ "event_name": "purchase", "hermes_event_id": event_id });
    if backfill {
        attributes[ATTR_BACKFILL] = json!("true");
    }
    push_envelope(
        message_id,
        &json!({
            "event_name": "purchase",
            "transaction_id": format!("T-{event_id}"),
            "items": [{ "item_id": item, "price": 10, "quantity": quantity }],
        }),
        attributes,
    )
}

/// The marker a job keeps for `event_id` pushed through [`SUBSCRIPTION`].
fn marker(event_id: &str) -> String {
    marker_id(&MarkerOrigin {
        subscription: SUBSCRIPTION.into(),
        event: EventIdentity::EventId(event_id.into()),
        part: 0,
    })
    .as_str()
    .to_string()
}

/// A push job's binary on the Firestore emulator, in a project of its own.
struct Job {
    function: Function,
    project: String,
}

impl Job {
    async fn start(
        emu: &Emulator,
        name: &str,
        test: &str,
        config: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let project = unique_id(test);
        let mut vars = vec![
            ("GOOGLE_CLOUD_PROJECT", project.as_str()),
            ("FIRESTORE_EMULATOR_HOST", emu.firestore_host()),
            ("HERMES_CONFIG_TOML", config),
        ];
        vars.extend_from_slice(env);
        let function = Function::start(name, &vars).await;
        Self { function, project }
    }

    async fn push(&self, envelope: &Value) -> (u16, Value) {
        self.function.post("/", &[], envelope).await
    }

    async fn doc(&self, emu: &Emulator, path: &str) -> Option<Value> {
        let name = format!(
            "projects/{}/databases/(default)/documents/{path}",
            self.project
        );
        emu.firestore_get(&name).await
    }

    /// Waits for the kit's line for `message_id` and returns its `outcome`.
    async fn logged_outcome(&self, message_id: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let line = self
                .function
                .log_lines("INFO")
                .into_iter()
                .find(|l| l["message"] == "message processed" && l["message_id"] == message_id);
            if let Some(line) = line {
                return line["outcome"].as_str().unwrap_or_default().to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no line for {message_id}:\n{}",
                self.function.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `counter` of `items/{item}`, 0 when the document does not exist.
async fn counter(job: &Job, emu: &Emulator, item: &str) -> i64 {
    let Some(doc) = job.doc(emu, &format!("items/{item}")).await else {
        return 0;
    };
    doc["fields"]["counter"]["integerValue"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no integer counter in {doc}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_count_backfill_messages_unless_told_to_skip_them() {
    let Some(emu) = Emulator::start_firestore().await else {
        return;
    };

    // The default: a backfill purchase is counted like a live one, and its marker kept.
    let counting = Job::start(&emu, "hermes-counters", "backfill-count", "", &[]).await;
    let (status, body) = counting
        .push(&purchase("m-1", "bf-1", "sku-old", 3, true))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("applied")),
        "{body}"
    );
    assert_eq!(counter(&counting, &emu, "sku-old").await, 3);
    assert!(counting
        .doc(&emu, &format!("hermes_processed/{}", marker("bf-1")))
        .await
        .is_some());
    assert_eq!(counting.logged_outcome("m-1").await, "applied");
    // Still exactly once: the same backfill event again changes nothing.
    let (status, body) = counting
        .push(&purchase("m-2", "bf-1", "sku-old", 3, true))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("duplicate")),
        "{body}"
    );
    assert_eq!(counter(&counting, &emu, "sku-old").await, 3);

    // `backfill = "skip"`: acknowledged unread, nothing written.
    let config = "[counters]\nbackfill = \"skip\"\n";
    let skipping = Job::start(&emu, "hermes-counters", "backfill-skip", config, &[]).await;
    let (status, body) = skipping
        .push(&purchase("m-3", "bf-2", "sku-old", 3, true))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("skipped_backfill")),
        "{body}"
    );
    assert_eq!(body["messageId"], "m-3");
    assert_eq!(skipping.logged_outcome("m-3").await, "skipped_backfill");
    assert!(skipping.doc(&emu, "items/sku-old").await.is_none());
    assert!(skipping
        .doc(&emu, &format!("hermes_processed/{}", marker("bf-2")))
        .await
        .is_none());
    // The same job still counts live purchases.
    let (status, body) = skipping
        .push(&purchase("m-4", "live-1", "sku-old", 2, false))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("applied")),
        "{body}"
    );
    assert_eq!(counter(&skipping, &emu, "sku-old").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_skips_backfill_messages_unless_told_to_deliver_them() {
    let Some(emu) = Emulator::start_firestore().await else {
        return;
    };
    const NOTIFY: &str = "[notify]\nevents = ['purchase']\ntemplate = 'Order {{transaction_id}}'\n";

    // The default: no webhook call, acknowledged as skipped, no marker.
    let webhook = WebhookReceiver::start(|_| 200).await;
    let url = [("HERMES_NOTIFY_WEBHOOK_URL", webhook.url.as_str())];
    let skipping = Job::start(&emu, "hermes-notify", "backfill-notify", NOTIFY, &url).await;
    let (status, body) = skipping
        .push(&purchase("m-1", "bf-1", "sku-1", 1, true))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("skipped_backfill")),
        "{body}"
    );
    assert_eq!(skipping.logged_outcome("m-1").await, "skipped_backfill");
    assert!(skipping
        .doc(&emu, &format!("hermes_notified/{}", marker("bf-1")))
        .await
        .is_none());
    // A live purchase through the same job does call the webhook: the receiver
    // is reachable, so an empty call list above means no call was made.
    let (status, body) = skipping
        .push(&purchase("m-2", "live-1", "sku-1", 1, false))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("delivered")),
        "{body}"
    );
    let keys: Vec<_> = webhook
        .calls()
        .iter()
        .map(|c| c.idempotency_key.clone())
        .collect();
    assert_eq!(keys, [Some("live-1".to_string())]);

    // `backfill = "deliver"`: the backfill purchase is a notification like any other.
    let webhook = WebhookReceiver::start(|_| 200).await;
    let url = [("HERMES_NOTIFY_WEBHOOK_URL", webhook.url.as_str())];
    let config = format!("{NOTIFY}backfill = \"deliver\"\n");
    let delivering = Job::start(&emu, "hermes-notify", "backfill-deliver", &config, &url).await;
    let (status, body) = delivering
        .push(&purchase("m-3", "bf-2", "sku-1", 1, true))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("delivered")),
        "{body}"
    );
    let calls = webhook.calls();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    assert_eq!(calls[0].idempotency_key.as_deref(), Some("bf-2"));
    assert_eq!(calls[0].json(), json!({ "text": "Order T-bf-2" }));
    assert!(delivering
        .doc(&emu, &format!("hermes_notified/{}", marker("bf-2")))
        .await
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_marks_backfill_requests_of_the_production_token_only() {
    const PRODUCTION: &str = "backfill-production-token";
    const PREVIEW: &str = "backfill-preview-token";
    let Some(emu) = Emulator::start_pubsub().await else {
        return;
    };
    let project = unique_id("backfill-ingest");
    let topic = format!("projects/{project}/topics/events");
    let subscription = format!("projects/{project}/subscriptions/events-pull");
    emu.create_topic(&topic).await;
    emu.create_pull_subscription(&subscription, &topic).await;
    let config = format!("[[destinations]]\nname = \"events\"\ntopic = \"{topic}\"\n");
    let ingest = Function::start(
        "hermes-ingest",
        &[
            ("GOOGLE_CLOUD_PROJECT", &project),
            ("PUBSUB_EMULATOR_HOST", emu.pubsub_host()),
            ("HERMES_CONFIG_TOML", &config),
            ("HERMES_BEARER_TOKEN", PRODUCTION),
            ("HERMES_PREVIEW_BEARER_TOKEN", PREVIEW),
        ],
    )
    .await;
    let production = format!("Bearer {PRODUCTION}");
    let preview = format!("Bearer {PREVIEW}");
    let preview_header = ("x-gtm-server-preview", "ZW52LTF8cHJldmlldw==");
    let event = |id: &str| json!([{ "event_name": "purchase", "event_id": id, "value": 1 }]);

    // A preview token may not mark a backfill: 401, naming the header.
    let (status, body) = ingest
        .post(
            "/",
            &[
                ("authorization", &preview),
                preview_header,
                ("x-hermes-backfill", "true"),
            ],
            &event("refused"),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("X-Hermes-Backfill"),
        "{body}"
    );
    // The same request without the header passes: the refusal is the backfill's.
    let (status, body) = ingest
        .post(
            "/",
            &[("authorization", &preview), preview_header],
            &event("preview"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let preview_id = body["messageIds"][0]["events"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // The production token marks its messages.
    let (status, body) = ingest
        .post(
            "/",
            &[
                ("authorization", &production),
                ("x-hermes-backfill", "true"),
            ],
            &event("old"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let backfill_id = body["messageIds"][0]["events"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (status, body) = ingest
        .post("/", &[("authorization", &production)], &event("live"))
        .await;
    assert_eq!(status, 200, "{body}");
    let live_id = body["messageIds"][0]["events"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // What Pub/Sub holds: three messages (none of the refused request), only
    // the backfill one marked.
    let got = emu.pull_n(&subscription, 3, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let extra = emu.drain(&subscription).await;
    assert!(
        extra.is_empty(),
        "the refused request published: {extra:#?}"
    );
    assert_eq!(got.len(), 3, "{got:#?}");
    let find = |id: &str| {
        got.iter()
            .find(|m| m.message_id == id)
            .unwrap_or_else(|| panic!("message {id} not pulled: {got:#?}"))
    };
    let old = find(&backfill_id);
    assert_eq!(
        old.attributes.get(ATTR_BACKFILL).map(String::as_str),
        Some("true")
    );
    assert_eq!(old.attributes["hermes_event_id"], "old");
    assert!(!old.attributes.contains_key("hermes_preview"));
    for id in [&live_id, &preview_id] {
        let m = find(id);
        assert!(!m.attributes.contains_key(ATTR_BACKFILL), "{m:#?}");
    }
}

/// Waits until `hermes dev` has acknowledged both copies of every message,
/// none dead-lettered, and returns `/dev/queue`.
async fn settled(dev: &Function) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let view = get_json(&format!("{}/dev/queue", dev.base)).await;
        assert_eq!(view["dead"], 0, "{view}\n{}", dev.log_text());
        if view["pending"] == 0 {
            return view;
        }
        assert!(Instant::now() < deadline, "not delivered: {view}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An item's counter on `hermes dev`'s dashboard API, 0 when it has none.
async fn dev_counter(dev: &Function, item: &str) -> i64 {
    let items = get_json(&format!("{}/dashboard/api/items", dev.base)).await;
    items["items"]
        .as_array()
        .and_then(|l| l.iter().find(|i| i["item_id"] == item))
        .and_then(|i| i["counter"].as_i64())
        .unwrap_or(0)
}

/// `hermes dev` delivers through the kit too: a backfill purchase is counted,
/// and notify (its default) does not call the webhook for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hermes_dev_counts_a_backfill_purchase_and_does_not_notify_it() {
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
template = 'New order {{transaction_id}}'

[dev]
retry_min_ms = 20
retry_max_ms = 100
"#;
    let webhook = WebhookReceiver::start(|_| 200).await;
    let (dev, dir) = start_dev(
        "backfill",
        &[
            ("HERMES_CONFIG_TOML", CONFIG),
            ("HERMES_NOTIFY_WEBHOOK_URL", &webhook.url),
        ],
    )
    .await;
    let order = |id: &str, item: &str| {
        json!([{ "event_name": "purchase", "event_id": id, "transaction_id": format!("T-{id}"),
                 "items": [{ "item_id": item, "price": 5, "quantity": 1 }] }])
    };
    let (status, body) = dev
        .post(
            "/",
            &[("x-hermes-backfill", "true")],
            &order("ord-old", "sku-old"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let view = settled(&dev).await;
    assert_eq!(
        dev_counter(&dev, "sku-old").await,
        1,
        "the backfill purchase is counted"
    );
    assert!(webhook.calls().is_empty(), "{:#?}", webhook.calls());
    assert_eq!(view["notify"]["webhookCalls"], json!([]), "{view}");

    // A live purchase is notified: the webhook was reachable all along.
    let (status, body) = dev.post("/", &[], &order("ord-new", "sku-new")).await;
    assert_eq!(status, 200, "{body}");
    settled(&dev).await;
    assert_eq!(dev_counter(&dev, "sku-new").await, 1);
    let keys: Vec<_> = webhook
        .calls()
        .iter()
        .map(|c| c.idempotency_key.clone())
        .collect();
    assert_eq!(keys, [Some("ord-new".to_string())]);
    drop(dev);
    let _ = std::fs::remove_dir_all(&dir);
}
