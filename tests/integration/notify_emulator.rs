//! `hermes-notify` end to end, on Google's Pub/Sub and Firestore emulators:
//! `hermes-ingest` → `events` topic → push subscription filtered on
//! `attributes.event_name` (retry and dead-letter policy) → `hermes-notify`
//! (markers in Firestore) → a webhook receiver on loopback.
//!
//! The Pub/Sub emulator accepts a subscription `filter` but does not apply it,
//! so a non-matching event does reach notify here; its own `[notify] events`
//! (the same names) is what keeps the webhook from seeing it, and that is what
//! is asserted. Google applies the filter in production, before any push.
//!
//! `cargo test --test integration notify_emulator` runs them alone.

use hermes_testkit::emulator::{free_port, unique_id, Emulator, Function};
use hermes_testkit::faults::{Delivery, PushFront};
use hermes_testkit::webhook::WebhookReceiver;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TEMPLATE: &str =
    "New order {{transaction_id}}: {{value}} {{currency}} ({{items.length}} items)";

struct Pipeline {
    emu: Emulator,
    project: String,
    dead_letters: String,
    notify: Function,
    ingest: Function,
}

impl Pipeline {
    /// `front`: a fault front before notify's push endpoint (it must forward to `port`).
    async fn start(
        test: &str,
        webhook: &WebhookReceiver,
        front: Option<(Arc<PushFront>, u16)>,
    ) -> Option<Self> {
        let emu = Emulator::start().await?;
        let project = unique_id(&format!("notify-{test}"));
        let topic = format!("projects/{project}/topics/events");
        let dead_topic = format!("projects/{project}/topics/events-dead");
        let dead_letters = format!("projects/{project}/subscriptions/events-dead-pull");
        emu.create_topic(&topic).await;
        emu.create_topic(&dead_topic).await;
        emu.create_pull_subscription(&dead_letters, &dead_topic)
            .await;

        // One file for both functions: ingest skips `[notify]`, notify reads it.
        let config = format!(
            r#"
[[destinations]]
name = "events"
topic = "{topic}"

[notify]
events = ["purchase"]
template = '{TEMPLATE}'
timeout_ms = 5000
"#
        );
        let port = front.as_ref().map(|(_, p)| *p).unwrap_or_else(free_port);
        let notify = Function::start_on(
            "hermes-notify",
            &[],
            port,
            &[
                ("GOOGLE_CLOUD_PROJECT", &project),
                ("FIRESTORE_EMULATOR_HOST", emu.firestore_host()),
                ("HERMES_CONFIG_TOML", &config),
                ("HERMES_NOTIFY_WEBHOOK_URL", &webhook.url),
            ],
        )
        .await;
        let endpoint = match &front {
            Some((f, _)) => f.endpoint.clone(),
            None => format!("{}/", notify.base),
        };
        let subscription = format!("projects/{project}/subscriptions/events-notify");
        let filter = r#"attributes.event_name = "purchase""#;
        let resp = emu
            .http()
            .put(format!("{}/v1/{subscription}", emu.pubsub_base()))
            .json(&json!({
                "topic": topic,
                "pushConfig": { "pushEndpoint": endpoint },
                "ackDeadlineSeconds": 10,
                "filter": filter,
                "retryPolicy": { "minimumBackoff": "1s", "maximumBackoff": "2s" },
                "deadLetterPolicy": { "deadLetterTopic": dead_topic, "maxDeliveryAttempts": 5 },
            }))
            .send()
            .await
            .expect("PUT subscription");
        let status = resp.status().as_u16();
        let created: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "push subscription: {created}");
        assert_eq!(created["filter"], filter, "the filter is kept: {created}");

        let ingest = Function::start(
            "hermes-ingest",
            &[
                ("GOOGLE_CLOUD_PROJECT", &project),
                ("PUBSUB_EMULATOR_HOST", emu.pubsub_host()),
                ("HERMES_CONFIG_TOML", &config),
            ],
        )
        .await;
        Some(Self {
            emu,
            project,
            dead_letters,
            notify,
            ingest,
        })
    }

    async fn send(&self, events: &Value) {
        let (status, body) = self.ingest.post("/", &[], events).await;
        assert_eq!(status, 200, "ingest: {body}");
    }

    /// The notify log lines (INFO) saying `outcome` for some message.
    fn outcomes(&self, outcome: &str) -> usize {
        self.notify
            .log_lines("INFO")
            .iter()
            .filter(|l| l["message"] == "message processed" && l["outcome"] == outcome)
            .count()
    }

    async fn wait_outcome(&self, outcome: &str, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.outcomes(outcome) < n {
            assert!(
                Instant::now() < deadline,
                "notify never answered {outcome} {n} times\n--- notify ---\n{}",
                self.notify.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn purchase(id: &str) -> Value {
    json!({
        "event_name": "purchase",
        "event_id": id,
        "transaction_id": "T-42",
        "value": 180.5,
        "currency": "DKK",
        "items": [
            { "item_id": "123", "item_name": "Blazer \"Navy\" {x}", "price": 150, "quantity": 1 },
            { "item_id": "456", "item_name": "T-Shirt", "price": 15.25, "quantity": 2 }
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_reaches_the_webhook_once_even_when_redelivered() {
    let webhook = WebhookReceiver::start(|_| 200).await;
    // Every delivery's first attempt is forwarded, then answered 503: notify
    // has called the webhook, yet Pub/Sub delivers the same message again.
    let port = free_port();
    let front = Arc::new(
        PushFront::start(&format!("http://127.0.0.1:{port}/"), |_, attempt| {
            if attempt == 1 {
                Delivery::ForwardThenFail
            } else {
                Delivery::Forward
            }
        })
        .await,
    );
    let Some(p) = Pipeline::start("once", &webhook, Some((front.clone(), port))).await else {
        return;
    };
    // A page view first: it must never reach the webhook.
    p.send(&json!([{ "event_name": "page_view", "event_id": "pv-1", "page": "/{{x}}" }]))
        .await;
    p.send(&json!([purchase("ord-1")])).await;

    p.wait_outcome("duplicate", 1, Duration::from_secs(30))
        .await;
    p.wait_outcome("ignored", 1, Duration::from_secs(30)).await;
    // Settle: a second webhook call would show now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls = webhook.calls();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    let call = &calls[0];
    assert_eq!(call.content_type.as_deref(), Some("application/json"));
    assert_eq!(call.idempotency_key.as_deref(), Some("ord-1"));
    assert_eq!(
        call.json(),
        json!({ "text": "New order T-42: 180.5 DKK (2 items)" })
    );
    assert!(front.most_attempts() >= 2, "the purchase was redelivered");
    assert_eq!(p.outcomes("delivered"), 1);

    // The marker, in Firestore, with its TTL field.
    let id = hermes_push::marker_id(&hermes_core::store::MarkerOrigin {
        subscription: format!("projects/{}/subscriptions/events-notify", p.project),
        event: hermes_core::store::EventIdentity::EventId("ord-1".into()),
        part: 0,
    });
    let name = format!(
        "projects/{}/databases/(default)/documents/hermes_notified/{id}",
        p.project
    );
    let marker = p.emu.firestore_get(&name).await.expect("the marker");
    assert!(marker["fields"]["expireAt"]["timestampValue"].is_string());
    // The webhook URL is a secret: never in a log line.
    assert!(!p.notify.log_text().contains(&webhook.url));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_503_then_200_delivers_once() {
    let webhook = WebhookReceiver::start(|n| if n == 1 { 503 } else { 200 }).await;
    let Some(p) = Pipeline::start("retry", &webhook, None).await else {
        return;
    };
    p.send(&json!([purchase("ord-2")])).await;
    p.wait_outcome("delivered", 1, Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let calls = webhook.calls();
    let statuses: Vec<u16> = calls.iter().map(|c| c.status).collect();
    assert_eq!(statuses, [503, 200], "{calls:#?}");
    // The retry is the same call: same key, same body.
    assert!(calls
        .iter()
        .all(|c| c.idempotency_key.as_deref() == Some("ord-2")));
    assert_eq!(calls[0].body, calls[1].body);
    let redelivered = p
        .notify
        .log_lines("WARNING")
        .iter()
        .filter(|l| l["message"] == "message will be redelivered" && l["status"] == 503)
        .count();
    assert_eq!(redelivered, 1, "{}", p.notify.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_400_is_poison_and_dead_lettered() {
    let webhook = WebhookReceiver::start(|_| 400).await;
    let Some(p) = Pipeline::start("poison", &webhook, None).await else {
        return;
    };
    p.send(&json!([purchase("ord-3")])).await;
    let dead = p
        .emu
        .pull_n(&p.dead_letters, 1, Duration::from_secs(60))
        .await;
    assert_eq!(dead.len(), 1, "dead-lettered\n{}", p.notify.log_text());
    assert_eq!(dead[0].attributes["hermes_event_id"], "ord-3");
    assert_eq!(dead[0].json()["transaction_id"], "T-42");
    let calls = webhook.calls();
    assert_eq!(calls.len(), 5, "one call per attempt: {calls:#?}");
    // One ERROR line per attempt, bounded, naming the refusal.
    let errors = p.notify.log_lines("ERROR");
    assert_eq!(errors.len(), 5, "{}", p.notify.log_text());
    for line in &errors {
        assert_eq!(line["message"], "poison message");
        assert!(
            line["error"].as_str().unwrap_or("").contains("400"),
            "{line}"
        );
        assert!(line.to_string().len() < 2048, "{line}");
    }
}
