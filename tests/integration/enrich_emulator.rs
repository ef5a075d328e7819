//! `hermes-enrich` end to end, on Google's Pub/Sub and Firestore emulators:
//! `hermes-ingest` → `events` topic → push subscription (retry and
//! dead-letter policy) → `hermes-enrich` (lookups in Firestore, the device,
//! the place from a `.mmdb` file built for the test) → `events-enriched`,
//! pulled back; and the enrich endpoint pushed to directly for the answers
//! the push-job kit gives (poison, outage, ignored, backfill, preview).
//!
//! `cargo test --test integration enrich_emulator` runs them alone.

use hermes_testkit::emulator::{free_port, unique_id, Emulator, Function, Received};
use hermes_testkit::faults::{Delivery, PushFront};
use hermes_testkit::geo;
use hermes_testkit::reads::FirestoreReads;
use hermes_testkit::samples::push_envelope;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
const FIREFOX: &str =
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

/// `[enrich]` of every test: three lookups, one per `on_missing`.
fn enrich_section(output: &str, extra: &str) -> String {
    format!(
        r#"
[enrich]
output_topic = "{output}"
events = ["purchase", "sign_up"]
received_at = "received_at"
store_deadline_ms = 1500
{extra}
[[enrich.lookups]]
collection = "customers"
key = "user_id"
into = "customer"
fields = ["segment", "lifetime_value"]
on_missing = "skip"
cache_ttl_secs = 60
[[enrich.lookups]]
collection = "tiers"
key = "tier_id"
into = "context.tier"
on_missing = "null"
[[enrich.lookups]]
collection = "vouchers"
key = "voucher"
into = "voucher_detail"
on_missing = "fail"
[enrich.user_agent]
from = "user_agent"
into = "device"
[enrich.geo]
from = "ip_override"
into = "geo"
"#
    )
}

struct Setup {
    emu: Emulator,
    project: String,
    input: String,
    output: String,
    /// A pull subscription on the output topic.
    enriched: String,
    config: String,
    mmdb: PathBuf,
}

impl Setup {
    async fn new(test: &str, extra: &str) -> Option<Self> {
        let mmdb = std::env::temp_dir().join(format!("{}.mmdb", unique_id(test)));
        geo::write_test_mmdb(&mmdb)?;
        let emu = Emulator::start().await?;
        let project = unique_id(&format!("enrich-{test}"));
        let input = format!("projects/{project}/topics/events");
        let output = format!("projects/{project}/topics/events-enriched");
        let enriched = format!("projects/{project}/subscriptions/events-enriched-pull");
        emu.create_topic(&input).await;
        emu.create_topic(&output).await;
        emu.create_pull_subscription(&enriched, &output).await;
        let config = format!(
            "[[destinations]]\nname = \"events\"\ntopic = \"{input}\"\n{}",
            enrich_section(&output, extra)
        );
        let setup = Self {
            emu,
            project,
            input,
            output,
            enriched,
            config,
            mmdb,
        };
        setup
            .put_document("customers/u1", json!({"segment": {"stringValue": "gold"}, "lifetime_value": {"doubleValue": 1234.5}, "email": {"stringValue": "not-for-events@example.com"}}))
            .await;
        setup
            .put_document("tiers/t1", json!({"name": {"stringValue": "Gold"}}))
            .await;
        Some(setup)
    }

    async fn put_document(&self, path: &str, fields: Value) {
        let database = format!("projects/{}/databases/(default)", self.project);
        let (status, answer) = self
            .emu
            .firestore_commit(
                &database,
                &json!({"writes": [{"update": {"name": format!("{database}/documents/{path}"), "fields": fields}}]}),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
    }

    /// `hermes-enrich` with the test's configuration; `firestore` replaces
    /// the emulator's host (a counting forwarder, or nothing listening).
    async fn enrich(&self, firestore: Option<&str>, port: Option<u16>) -> Function {
        let mmdb = self.mmdb.to_string_lossy().into_owned();
        Function::start_on(
            "hermes-enrich",
            &[],
            port.unwrap_or_else(free_port),
            &[
                ("GOOGLE_CLOUD_PROJECT", &self.project),
                ("PUBSUB_EMULATOR_HOST", self.emu.pubsub_host()),
                (
                    "FIRESTORE_EMULATOR_HOST",
                    firestore.unwrap_or(self.emu.firestore_host()),
                ),
                ("HERMES_CONFIG_TOML", &self.config),
                ("HERMES_GEO_DB", &mmdb),
            ],
        )
        .await
    }

    async fn ingest(&self) -> Function {
        Function::start(
            "hermes-ingest",
            &[
                ("GOOGLE_CLOUD_PROJECT", &self.project),
                ("PUBSUB_EMULATOR_HOST", self.emu.pubsub_host()),
                ("HERMES_CONFIG_TOML", &self.config),
            ],
        )
        .await
    }

    /// A push subscription on `topic` to `endpoint`, retrying within seconds,
    /// dead-lettering to `dead_topic` after 5 attempts.
    async fn push_subscription(&self, name: &str, topic: &str, endpoint: &str, dead_topic: &str) {
        self.emu.create_topic(dead_topic).await;
        let subscription = format!("projects/{}/subscriptions/{name}", self.project);
        let resp = self
            .emu
            .http()
            .put(format!("{}/v1/{subscription}", self.emu.pubsub_base()))
            .json(&json!({
                "topic": topic,
                "pushConfig": { "pushEndpoint": endpoint },
                "ackDeadlineSeconds": 10,
                "retryPolicy": { "minimumBackoff": "1s", "maximumBackoff": "2s" },
                "deadLetterPolicy": { "deadLetterTopic": dead_topic, "maxDeliveryAttempts": 5 },
            }))
            .send()
            .await
            .expect("PUT subscription");
        let status = resp.status().as_u16();
        assert_eq!(
            status,
            200,
            "push subscription: {}",
            resp.text().await.unwrap_or_default()
        );
    }

    /// Whatever the output topic has now (after a moment for late publishes).
    async fn published(&self) -> Vec<Received> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.emu.drain(&self.enriched).await
    }
}

fn by_event_id(messages: &[Received]) -> BTreeMap<String, Received> {
    messages
        .iter()
        .map(|m| (m.attributes["hermes_event_id"].clone(), m.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_to_enriched_topic_joins_the_listed_fields_the_device_and_the_place() {
    let Some(s) = Setup::new("e2e", "").await else {
        return;
    };
    let originals = format!("projects/{}/subscriptions/events-pull", s.project);
    s.emu.create_pull_subscription(&originals, &s.input).await;
    let enrich = s.enrich(None, None).await;
    let dead = format!("projects/{}/topics/events-dead", s.project);
    s.push_subscription(
        "events-enrich",
        &s.input,
        &format!("{}/", enrich.base),
        &dead,
    )
    .await;
    let ingest = s.ingest().await;
    // Values whose text must survive: a trailing zero, an escape, a big number.
    let body = r#"[
      {"event_name":"purchase","event_id":"e-chrome","user_id":"u1","tier_id":"t1","user_agent":"UA_CHROME","ip_override":"IP_LONDON","value":1.10,"note":"caf\u00e9","big":18446744073709551616,"currency":"EUR"},
      {"event_name":"purchase","event_id":"e-iphone","user_id":"u1","user_agent":"UA_IPHONE","ip_override":"IP_MILTON","value":20},
      {"event_name":"sign_up","event_id":"e-firefox","user_id":"nobody","tier_id":"none","user_agent":"UA_FIREFOX","ip_override":"10.0.0.1"},
      {"event_name":"purchase","event_id":"e-bot","user_agent":"UA_BOT","ip_override":"not an ip","value":0}
    ]"#
    .replace("UA_CHROME", CHROME)
    .replace("UA_IPHONE", IPHONE)
    .replace("UA_FIREFOX", FIREFOX)
    .replace("UA_BOT", GOOGLEBOT)
    .replace("IP_LONDON", geo::LONDON.ip)
    .replace("IP_MILTON", geo::MILTON.ip);
    let resp = reqwest::Client::new()
        .post(format!("{}/", ingest.base))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(
        resp.status().as_u16(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );

    let originals = by_event_id(&s.emu.pull_n(&originals, 4, Duration::from_secs(20)).await);
    let enriched = s.emu.pull_n(&s.enriched, 4, Duration::from_secs(30)).await;
    assert_eq!(enriched.len(), 4, "enrich log:\n{}", enrich.log_text());
    let enriched = by_event_id(&enriched);
    assert_eq!(
        originals.keys().collect::<Vec<_>>(),
        enriched.keys().collect::<Vec<_>>()
    );

    for (id, copy) in &enriched {
        let original = &originals[id];
        // Every untouched value is byte-identical: the enriched text is the
        // original with keys added at its end.
        let (text, before) = (copy.text(), original.text());
        let open = before.strip_suffix('}').expect("an object");
        assert!(
            text.starts_with(open) && text.len() > before.len(),
            "{id}: untouched values changed\n original {before}\n enriched {text}"
        );
        // The input's attributes, plus the mark.
        let mut attributes = original.attributes.clone();
        attributes.insert("hermes_enriched".into(), "true".into());
        assert_eq!(copy.attributes, attributes, "{id}");
        // received_at: the input message's publish time.
        let v = copy.json();
        assert_eq!(
            v["received_at"],
            original.publish_time.as_str(),
            "{id}: {v}"
        );
    }

    let chrome = enriched["e-chrome"].json();
    assert_eq!(
        chrome["customer"],
        json!({"segment": "gold", "lifetime_value": 1234.5}),
        "only the listed fields: {chrome}"
    );
    assert_eq!(
        chrome["context"]["tier"],
        json!({"name": "Gold"}),
        "{chrome}"
    );
    assert_eq!(
        chrome["geo"],
        json!({"country": geo::LONDON.country, "region": geo::LONDON.region, "city": geo::LONDON.city}),
        "{chrome}"
    );
    let device = &chrome["device"];
    assert_eq!(device["browser"], "Chrome", "{device}");
    assert_eq!(device["os"], "Windows", "{device}");
    assert_eq!(device["device_type"], "desktop", "{device}");
    assert_eq!(device["is_bot"], false, "{device}");

    let iphone = enriched["e-iphone"].json();
    let device = &iphone["device"];
    assert!(
        device["browser"]
            .as_str()
            .unwrap_or_default()
            .contains("Safari"),
        "{device}"
    );
    assert_eq!(device["os"], "iOS", "{device}");
    assert_eq!(device["device_type"], "mobile", "{device}");
    assert_eq!(iphone["geo"]["city"], json!(geo::MILTON.city), "{iphone}");
    assert_eq!(iphone["geo"]["country"], geo::MILTON.country, "{iphone}");

    let firefox = enriched["e-firefox"].json();
    assert_eq!(firefox["device"]["browser"], "Firefox", "{firefox}");
    assert_eq!(firefox["device"]["device_type"], "desktop", "{firefox}");
    // Misses: `skip` writes nothing, `null` writes null; an address in no network: no place.
    assert!(firefox.get("customer").is_none(), "{firefox}");
    assert_eq!(firefox["context"]["tier"], Value::Null, "{firefox}");
    assert!(firefox.get("geo").is_none(), "{firefox}");

    let bot = enriched["e-bot"].json();
    assert_eq!(bot["device"]["is_bot"], true, "{bot}");
    assert!(bot.get("geo").is_none(), "not an IP: {bot}");
    // No key at all: the lookups are skipped, `null` ones too.
    assert!(
        bot.get("customer").is_none() && bot.get("context").is_none(),
        "{bot}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_document_with_on_missing_fail_is_dead_lettered() {
    let Some(s) = Setup::new("fail", "").await else {
        return;
    };
    let enrich = s.enrich(None, None).await;
    let dead = format!("projects/{}/topics/events-dead", s.project);
    let dead_pull = format!("projects/{}/subscriptions/events-dead-pull", s.project);
    s.emu.create_topic(&dead).await;
    s.emu.create_pull_subscription(&dead_pull, &dead).await;
    s.push_subscription(
        "events-enrich",
        &s.input,
        &format!("{}/", enrich.base),
        &dead,
    )
    .await;
    let ingest = s.ingest().await;
    let (status, answer) = ingest
        .post(
            "/",
            &[],
            &json!([{"event_name": "purchase", "event_id": "e-voucher", "voucher": "v-none"}]),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let dead = s.emu.pull_n(&dead_pull, 1, Duration::from_secs(60)).await;
    assert_eq!(dead.len(), 1, "enrich log:\n{}", enrich.log_text());
    assert_eq!(dead[0].json()["voucher"], "v-none");
    assert!(s.published().await.is_empty(), "nothing enriched");
}

/// One envelope pushed straight to the enrich endpoint.
fn envelope(id: &str, data: &Value, attributes: Value) -> Value {
    push_envelope(id, data, attributes)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cached_lookup_is_not_read_again_within_its_ttl_and_a_miss_neither() {
    let Some(s) = Setup::new("cache", "").await else {
        return;
    };
    let reads = FirestoreReads::start(s.emu.firestore_host()).await;
    let enrich = s.enrich(Some(&reads.host), None).await;
    let purchase = json!({"event_name": "purchase"});
    for (i, user) in ["u1", "u1", "nobody", "nobody", "u1"].iter().enumerate() {
        let data = json!({"user_id": user, "n": i});
        let (status, answer) = enrich
            .post(
                "/",
                &[],
                &envelope(&format!("m{i}"), &data, purchase.clone()),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    // Two documents asked for (u1, nobody), each read once.
    assert_eq!(reads.calls(), 2, "batchGet calls");
    assert_eq!(reads.documents(), 1, "documents found");
    let copies = s.published().await;
    assert_eq!(copies.len(), 5);
    let with_customer = copies
        .iter()
        .filter(|m| m.json().get("customer").is_some())
        .count();
    assert_eq!(with_customer, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_push_answers_poison_outage_ignored_backfill_and_preview_as_the_kit_says() {
    let Some(s) = Setup::new("answers", "").await else {
        return;
    };
    let enrich = s.enrich(None, None).await;
    let purchase = json!({"event_name": "purchase", "hermes_event_id": "k1.x"});

    // A payload that is not JSON: poison.
    let mut not_json = envelope("m-bad", &json!({}), purchase.clone());
    not_json["message"]["data"] = json!("bm90IGpzb24="); // "not json"
    let (status, answer) = enrich.post("/", &[], &not_json).await;
    assert_eq!(status, 400, "{answer}");
    // Valid JSON but not an object: poison too.
    let (status, answer) = enrich
        .post(
            "/",
            &[],
            &envelope("m-arr", &json!([1, 2]), purchase.clone()),
        )
        .await;
    assert_eq!(status, 400, "{answer}");

    // An event outside `events`: acknowledged, nothing published.
    let (status, answer) = enrich
        .post(
            "/",
            &[],
            &envelope(
                "m-view",
                &json!({"user_id": "u1"}),
                json!({"event_name": "page_view"}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        s.published().await.is_empty(),
        "an ignored event is not published"
    );

    // A backfill and a preview message are enriched and keep their marks.
    for (id, mark) in [
        ("m-backfill", "hermes_backfill"),
        ("m-preview", "hermes_preview"),
    ] {
        let mut attributes = purchase.clone();
        attributes[mark] = json!("true");
        let (status, answer) = enrich
            .post(
                "/",
                &[],
                &envelope(id, &json!({"user_id": "u1"}), attributes),
            )
            .await;
        assert_eq!(status, 200, "{id}: {answer}");
        let copies = s.published().await;
        assert_eq!(copies.len(), 1, "{id}");
        assert_eq!(copies[0].attributes[mark], "true", "{id}");
        assert_eq!(copies[0].attributes["hermes_enriched"], "true", "{id}");
        assert_eq!(copies[0].json()["customer"]["segment"], "gold", "{id}");
    }

    // A message without hermes_event_id gets its message id, for de-duplication downstream.
    let (status, _) = enrich
        .post(
            "/",
            &[],
            &envelope("m-plain", &json!({}), json!({"event_name": "purchase"})),
        )
        .await;
    assert_eq!(status, 200);
    let copies = s.published().await;
    assert_eq!(copies[0].attributes["hermes_event_id"], "m-plain");

    // Firestore unreachable: 503 (Pub/Sub redelivers) and nothing published.
    let closed = format!("127.0.0.1:{}", free_port());
    let cut_off = s.enrich(Some(&closed), None).await;
    let (status, answer) = cut_off
        .post(
            "/",
            &[],
            &envelope("m-down", &json!({"user_id": "u1"}), purchase.clone()),
        )
        .await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        s.published().await.is_empty(),
        "nothing published on an outage"
    );
    // An event without a key needs no read: enriched even so.
    let (status, answer) = cut_off
        .post(
            "/",
            &[],
            &envelope("m-nokey", &json!({"value": 1}), purchase.clone()),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
}

/// The enriched topic's consumer (counters) counts each event once when
/// enrich's acknowledgement is lost and Pub/Sub pushes the event again: both
/// enriched copies carry the event's `hermes_event_id`.
#[tokio::test(flavor = "multi_thread")]
async fn counters_on_the_enriched_topic_count_once_when_enrich_is_redelivered() {
    let Some(s) = Setup::new("once", "").await else {
        return;
    };
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
    let enrich = s.enrich(None, Some(port)).await;
    let dead = format!("projects/{}/topics/events-dead", s.project);
    s.push_subscription("events-enrich", &s.input, &front.endpoint, &dead)
        .await;
    let counters = Function::start(
        "hermes-counters",
        &[
            ("GOOGLE_CLOUD_PROJECT", &s.project),
            ("FIRESTORE_EMULATOR_HOST", s.emu.firestore_host()),
            ("HERMES_CONFIG_TOML", &s.config),
        ],
    )
    .await;
    s.push_subscription(
        "events-enriched-counters",
        &s.output,
        &format!("{}/", counters.base),
        &dead,
    )
    .await;
    let ingest = s.ingest().await;
    let (status, answer) = ingest
        .post(
            "/",
            &[],
            &json!([{"event_name": "purchase", "user_id": "u1", "currency": "EUR",
                     "items": [{"item_id": "sku-1", "item_name": "Mug", "price": 5, "quantity": 3}]}]),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    // Two enriched copies: the lost acknowledgement made enrich publish twice.
    let copies = s.emu.pull_n(&s.enriched, 2, Duration::from_secs(30)).await;
    assert_eq!(copies.len(), 2, "enrich log:\n{}", enrich.log_text());
    assert!(
        front.forwarded() >= 2,
        "the event was pushed to enrich twice"
    );
    assert_eq!(
        copies[0].attributes["hermes_event_id"],
        copies[1].attributes["hermes_event_id"]
    );
    let doc = format!(
        "projects/{}/databases/(default)/documents/items/sku-1",
        s.project
    );
    let processed = || {
        counters
            .log_lines("INFO")
            .iter()
            .filter(|l| l["message"] == "message processed")
            .map(|l| l["outcome"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    // Both copies pushed to counters and answered.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while processed().len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let counter = s.emu.firestore_get(&doc).await.and_then(|d| {
        d["fields"]["counter"]["integerValue"]
            .as_str()
            .map(str::to_string)
    });
    assert_eq!(
        counter.as_deref(),
        Some("3"),
        "counters log:\n{}",
        counters.log_text()
    );
    let outcomes = processed();
    assert!(outcomes.iter().any(|o| o == "duplicate"), "{outcomes:?}");
}
