//! `hermes-counters` against a real Firestore emulator (Google's, or the one
//! `FIRESTORE_EMULATOR_HOST` names): exactly once per event and subscription
//! (re-publishes, two consumers, split batches), sums, catalog profit, shards,
//! poison and preview messages, OIDC.

use hermes_core::store::{
    Applied, CounterCommit, CounterStore, DocumentId, EventIdentity, ItemUpdate, ItemsReader,
    MarkerOrigin,
};
use hermes_gcp::firestore::FirestoreStore;
use hermes_push::marker_id;
use hermes_testkit::emulator::{unique_id, Emulator, Function};
use hermes_testkit::oidc::{bearer, google_claims, jwks, now, sign, with, TestKey};
use hermes_testkit::samples::push_envelope as envelope;
use hermes_testkit::stores::firestore_at;
use serde_json::{json, Map, Value};
use std::time::{Duration, SystemTime};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

struct Counters {
    function: Function,
    emu: Emulator,
    project: String,
}

impl Counters {
    async fn start(test: &str, counters_section: &str) -> Option<Self> {
        let emu = Emulator::start_firestore().await?;
        // A project per test, so tests sharing one emulator never see each other's documents.
        let project = unique_id(test);
        let config = format!("[counters]\n{counters_section}\n");
        let function = Function::start(
            "hermes-counters",
            &[
                ("GOOGLE_CLOUD_PROJECT", &project),
                ("FIRESTORE_EMULATOR_HOST", emu.firestore_host()),
                ("HERMES_CONFIG_TOML", &config),
            ],
        )
        .await;
        Some(Self {
            function,
            emu,
            project,
        })
    }

    async fn push_raw(&self, body: String, auth: Option<&str>) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .post(format!("{}/", self.function.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.expect("push");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn push(&self, envelope: &Value) -> (u16, Value) {
        self.push_raw(envelope.to_string(), None).await
    }

    fn doc_name(&self, path: &str) -> String {
        format!(
            "projects/{}/databases/(default)/documents/{path}",
            self.project
        )
    }

    async fn doc(&self, path: &str) -> Option<Value> {
        self.emu.firestore_get(&self.doc_name(path)).await
    }

    /// The store as readers (the dashboard) use it, against the same emulator.
    fn store(&self) -> FirestoreStore {
        firestore_at(
            &self.emu.firestore_base(),
            &self.project,
            Duration::from_secs(10),
        )
    }
}

/// The subscription of `push_envelope`.
const SUBSCRIPTION: &str = "projects/p/subscriptions/items-realtime-counters";

/// `hermes_processed/{id}` of `event`'s part `part`, as pushed through `subscription`.
fn marker_path(subscription: &str, event: EventIdentity, part: u64) -> String {
    let id = marker_id(&MarkerOrigin {
        subscription: subscription.into(),
        event,
        part,
    });
    format!("hermes_processed/{id}")
}

/// A push envelope carrying the event id `event_id`, through `subscription`.
fn event_envelope(message_id: &str, event_id: &str, subscription: &str, data: &Value) -> Value {
    let mut e = envelope(message_id, data, json!({ "hermes_event_id": event_id }));
    e["subscription"] = json!(subscription);
    e
}

/// A numeric field of a Firestore document (integerValue or doubleValue);
/// `revenue.EUR` reads into a map field.
fn number(doc: &Value, field: &str) -> f64 {
    let mut segments = field.split('.');
    let mut v = &doc["fields"][segments.next().unwrap_or_default()];
    for segment in segments {
        v = &v["mapValue"]["fields"][segment];
    }
    v["integerValue"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v["doubleValue"].as_f64())
        .unwrap_or_else(|| panic!("no number `{field}` in {doc}"))
}

fn string(doc: &Value, field: &str) -> String {
    doc["fields"][field]["stringValue"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_message_twice_counts_once() {
    let Some(c) = Counters::start("twice", "").await else {
        return;
    };
    let message = envelope(
        "m-1",
        &json!({"items": [{"item_id": "123", "item_name": "Blazer", "price": 150, "quantity": 2}]}),
        json!({}),
    );
    let (s1, b1) = c.push(&message).await;
    let (s2, b2) = c.push(&message).await;
    assert_eq!((s1, b1["status"].as_str()), (200, Some("applied")), "{b1}");
    assert_eq!(
        (s2, b2["status"].as_str()),
        (200, Some("duplicate")),
        "{b2}"
    );
    let doc = c.doc("items/123").await.expect("item document");
    assert_eq!(number(&doc, "counter"), 2.0);
    assert_eq!(number(&doc, "revenue.XXX"), 300.0);
    assert_eq!(string(&doc, "item_name"), "Blazer");
    assert!(
        doc["fields"]["last_event_at"]["timestampValue"].is_string(),
        "{doc}"
    );
    let marker = c
        .doc(&marker_path(
            SUBSCRIPTION,
            EventIdentity::MessageId("m-1".into()),
            0,
        ))
        .await
        .expect("marker");
    assert!(
        marker["fields"]["expireAt"]["timestampValue"].is_string(),
        "{marker}"
    );
    // A third delivery, and a different message for the same item.
    c.push(&message).await;
    c.push(&envelope(
        "m-2",
        &json!({"items": [{"item_id": "123", "price": 150}]}),
        json!({}),
    ))
    .await;
    let doc = c.doc("items/123").await.expect("item document");
    assert_eq!(number(&doc, "counter"), 3.0);
    assert_eq!(number(&doc, "revenue.XXX"), 450.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_event_under_two_message_ids_counts_once() {
    let Some(c) = Counters::start("republish", "").await else {
        return;
    };
    // Ingest retried a publish that Pub/Sub had accepted, or the client resent
    // the event: another message id, the same `hermes_event_id`.
    let data = json!({"items": [{"item_id": "rp", "price": 5, "quantity": 3}]});
    let (s1, b1) = c
        .push(&event_envelope("1001", "evt-1", SUBSCRIPTION, &data))
        .await;
    let (s2, b2) = c
        .push(&event_envelope("1002", "evt-1", SUBSCRIPTION, &data))
        .await;
    assert_eq!((s1, b1["status"].as_str()), (200, Some("applied")), "{b1}");
    assert_eq!(
        (s2, b2["status"].as_str()),
        (200, Some("duplicate")),
        "{b2}"
    );
    let doc = c.doc("items/rp").await.expect("item document");
    assert_eq!(number(&doc, "counter"), 3.0);
    assert_eq!(number(&doc, "revenue.XXX"), 15.0);
    let marker = c
        .doc(&marker_path(
            SUBSCRIPTION,
            EventIdentity::EventId("evt-1".into()),
            0,
        ))
        .await
        .expect("the event's marker");
    assert_eq!(string(&marker, "eventId"), "evt-1");
    assert_eq!(string(&marker, "subscription"), SUBSCRIPTION);
    // The message ids themselves mark nothing.
    for id in ["1001", "1002"] {
        let by_message = marker_path(SUBSCRIPTION, EventIdentity::MessageId(id.into()), 0);
        assert!(c.doc(&by_message).await.is_none(), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_message_under_two_subscriptions_counts_twice() {
    let Some(c) = Counters::start("consumers", "").await else {
        return;
    };
    // Two subscriptions are two consumers: each counts the message once.
    let data = json!({"items": [{"item_id": "two", "quantity": 2}]});
    let other = "projects/p/subscriptions/items-realtime-audit";
    for subscription in [SUBSCRIPTION, other, SUBSCRIPTION, other] {
        let mut message = envelope("7", &data, json!({}));
        message["subscription"] = json!(subscription);
        let (status, body) = c.push(&message).await;
        assert_eq!(status, 200, "{subscription}: {body}");
    }
    let doc = c.doc("items/two").await.expect("item document");
    assert_eq!(number(&doc, "counter"), 4.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_split_batch_counts_each_part_once_on_redelivery() {
    let Some(c) = Counters::start("split", "").await else {
        return;
    };
    // 1,000 distinct items: parts of 499, 499 and 2 items.
    let data = json!({ "items": (0..1000).map(|i| json!({"item_id": format!("i{i}")})).collect::<Vec<_>>() });
    // An earlier delivery landed part 1 only (its other commits failed): the
    // same commit the function makes for that part, with its marker.
    let origin = MarkerOrigin {
        subscription: SUBSCRIPTION.into(),
        event: EventIdentity::EventId("big".into()),
        part: 1,
    };
    let part_1 = CounterCommit {
        marker_id: marker_id(&origin),
        marker: origin,
        shard: None,
        items: (499..998)
            .map(|i| ItemUpdate {
                item_id: DocumentId::parse(format!("i{i}")).unwrap(),
                fields: Map::new(),
                counter: 1,
                money: Default::default(),
            })
            .collect(),
        expire_at: SystemTime::now() + Duration::from_secs(86_400),
    };
    let store = c.store();
    assert_eq!(store.apply(&part_1).await.unwrap(), Applied::Applied);

    // The redelivery counts parts 0 and 2; a re-publish of the event counts nothing.
    let (status, body) = c
        .push(&event_envelope("m-a", "big", SUBSCRIPTION, &data))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("applied")),
        "{body}"
    );
    let (status, body) = c
        .push(&event_envelope("m-b", "big", SUBSCRIPTION, &data))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("duplicate")),
        "{body}"
    );
    let items = store.items().await.expect("items");
    assert_eq!(items.len(), 1000);
    let wrong: Vec<_> = items
        .iter()
        .filter(|i| i.counter != 1)
        .map(|i| (&i.item_id, i.counter))
        .collect();
    assert!(wrong.is_empty(), "counted other than once: {wrong:?}");
    for part in 0..3 {
        let marker = marker_path(SUBSCRIPTION, EventIdentity::EventId("big".into()), part);
        let doc = c.doc(&marker).await.expect("a marker per part");
        assert_eq!(number(&doc, "part"), part as f64);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_items_with_one_repeated_sum_right() {
    let Some(c) = Counters::start("sums", "").await else {
        return;
    };
    let data = json!({"items": [
        { "item_id": "123", "item_name": "Blazer", "price": 150, "quantity": 1, "currency": "DKK" },
        { "item_id": "456", "item_name": "T-Shirt", "price": 30, "quantity": 2, "currency": "DKK" },
        { "item_id": "123", "item_name": "Blazer", "price": 150, "quantity": 3, "currency": "DKK" }
    ]});
    let (status, body) = c.push(&envelope("m-sum", &data, json!({}))).await;
    assert_eq!(status, 200, "{body}");
    let blazer = c.doc("items/123").await.expect("blazer");
    assert_eq!(number(&blazer, "counter"), 4.0);
    assert_eq!(number(&blazer, "revenue.DKK"), 600.0);
    let shirt = c.doc("items/456").await.expect("t-shirt");
    assert_eq!(number(&shirt, "counter"), 2.0);
    assert_eq!(number(&shirt, "revenue.DKK"), 60.0);
    assert_eq!(string(&shirt, "currency"), "DKK");
    assert!(
        shirt["fields"].get("profit").is_none(),
        "no cost, no profit: {shirt}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn catalog_cost_gives_profit_and_enriches() {
    let Some(c) = Counters::start("catalog", "catalog_ttl_secs = 0").await else {
        return;
    };
    let database = format!("projects/{}/databases/(default)", c.project);
    let (status, answer) = c
        .emu
        .firestore_commit(
            &database,
            &json!({"writes": [{"update": {
                "name": c.doc_name("catalog/456"),
                "fields": {"cost": {"doubleValue": 12.5}, "brand": {"stringValue": "Acme"}, "item_category": {"stringValue": "Shirts"}}
            }}]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let data = json!({"items": [{ "item_id": "456", "item_name": "T-Shirt", "price": 30, "quantity": 2 }]});
    assert_eq!(c.push(&envelope("m-profit", &data, json!({}))).await.0, 200);
    let shirt = c.doc("items/456").await.expect("t-shirt");
    assert_eq!(number(&shirt, "profit.XXX"), 35.0);
    assert_eq!(number(&shirt, "revenue.XXX"), 60.0);
    assert_eq!(string(&shirt, "brand"), "Acme");
    assert_eq!(string(&shirt, "item_category"), "Shirts");
}

#[tokio::test(flavor = "multi_thread")]
async fn shards_sum_to_the_same_totals() {
    let Some(c) = Counters::start("shards", "shards = 4").await else {
        return;
    };
    let mut expected = (0.0, 0.0);
    for i in 0..12 {
        let q = i % 3 + 1;
        let data = json!({"items": [{ "item_id": "hot", "item_name": "Hot item", "price": 10, "quantity": q }]});
        let (status, body) = c
            .push(&envelope(&format!("shard-msg-{i}"), &data, json!({})))
            .await;
        assert_eq!(status, 200, "{body}");
        expected.0 += q as f64;
        expected.1 += 10.0 * q as f64;
    }
    // Redeliveries land on the same shard and change nothing.
    let data = json!({"items": [{ "item_id": "hot", "price": 10, "quantity": 1 }]});
    assert_eq!(
        c.push(&envelope("shard-msg-0", &data, json!({}))).await.1["status"],
        "duplicate"
    );
    let mut sum = (0.0, 0.0);
    let mut used = 0;
    for k in 0..4 {
        if let Some(shard) = c.doc(&format!("items/hot/shards/{k}")).await {
            used += 1;
            sum.0 += number(&shard, "counter");
            sum.1 += number(&shard, "revenue.XXX");
            assert_eq!(string(&shard, "item_name"), "Hot item");
        }
    }
    assert!(used > 1, "12 messages should spread over several shards");
    assert_eq!(sum, expected);
    assert!(
        c.doc("items/hot").await.is_none(),
        "with shards the parent document is not written"
    );
    // Readers (the dashboard) see the summed totals.
    let items = c.store().items().await.expect("items");
    let hot = items
        .iter()
        .find(|i| i.item_id == "hot")
        .expect("hot item listed");
    assert_eq!((hot.counter as f64, hot.revenue["XXX"]), expected);
    assert_eq!(hot.fields["item_name"], "Hot item");
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_messages_are_400_with_one_log_line_each() {
    let Some(c) = Counters::start("poison", "").await else {
        return;
    };
    let bad_base64 =
        json!({"message": {"data": "%%%not base64%%%", "messageId": "p-1"}, "subscription": "s"});
    // 21 levels: one more than Firestore allows in a document.
    let mut deep = json!(1);
    for _ in 0..20 {
        deep = json!({ "k": deep });
    }
    let cases = [
        bad_base64,
        envelope("p-2", &json!("not an object"), json!({})),
        envelope("p-3", &json!({"no_items": true}), json!({})),
        envelope(
            "p-4",
            &json!({"items": [{"item_name": "no id"}]}),
            json!({}),
        ),
        envelope("p-5", &json!({"items": [{"item_id": "a/b"}]}), json!({})),
        // Two quantities of i64::MAX used to wrap to -2 and be "applied".
        envelope(
            "p-6",
            &json!({"items": [{"item_id": "huge", "quantity": i64::MAX}, {"item_id": "huge", "quantity": i64::MAX}]}),
            json!({}),
        ),
        envelope(
            "p-7",
            &json!({"items": [{"item_id": "huge", "price": "NaN"}]}),
            json!({}),
        ),
        envelope(
            "p-8",
            &json!({"items": [{"item_id": "huge", "deep": deep}]}),
            json!({}),
        ),
        envelope(
            "p-9",
            &json!({"items": [{"item_id": "huge", "price": 1, "currency": "E.U"}]}),
            json!({}),
        ),
        envelope(
            "p-10",
            &json!({"items": [{"item_id": "huge", "price": 1e308, "quantity": 1000}]}),
            json!({}),
        ),
    ];
    for (i, case) in cases.iter().enumerate() {
        let (status, body) = c.push(case).await;
        assert_eq!(status, 400, "case {i}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    // Not JSON at all, straight in the push body.
    let (status, _) = c.push_raw("{{{".into(), None).await;
    assert_eq!(status, 400);
    // Let the log flush.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let errors = c.function.log_lines("ERROR");
    assert_eq!(
        errors.len(),
        11,
        "one ERROR line per poison message: {errors:?}"
    );
    assert!(c.doc("items/huge").await.is_none(), "nothing written");
    for line in &errors {
        let text = line.to_string();
        assert!(text.len() < 2_000, "a bounded line: {text}");
    }
    for id in [
        "p-1", "p-2", "p-3", "p-4", "p-5", "p-6", "p-7", "p-8", "p-9", "p-10",
    ] {
        assert!(
            errors.iter().any(|e| e["message_id"] == id),
            "no log for {id}"
        );
        let subscription = if id == "p-1" { "s" } else { SUBSCRIPTION };
        let marker = marker_path(subscription, EventIdentity::MessageId(id.into()), 0);
        assert!(c.doc(&marker).await.is_none());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn message_ids_firestore_could_not_use_still_count_once() {
    let Some(c) = Counters::start("odd-ids", "shards = 2").await else {
        return;
    };
    // The marker's id is a hash, the shard a number: no message id reaches a document path.
    let data = json!({"items": [{ "item_id": "odd", "quantity": 1 }]});
    for id in ["a/b", "__x__", "..", &"m".repeat(2_000)] {
        let (status, body) = c.push(&envelope(id, &data, json!({}))).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("applied")));
        let (status, body) = c.push(&envelope(id, &data, json!({}))).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("duplicate")));
    }
    let items = c.store().items().await.expect("items");
    assert_eq!(items[0].counter, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn preview_messages_are_acknowledged_without_counting() {
    let Some(c) = Counters::start("preview", "").await else {
        return;
    };
    let data = json!({"items": [{ "item_id": "prev", "quantity": 1 }]});
    let (status, body) = c
        .push(&envelope("pv-1", &data, json!({"hermes_preview": "true"})))
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("skipped_preview"))
    );
    assert!(c.doc("items/prev").await.is_none());

    let Some(c) = Counters::start("preview-counted", "count_preview = true").await else {
        return;
    };
    let (status, body) = c
        .push(&envelope("pv-2", &data, json!({"hermes_preview": "true"})))
        .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("applied")));
    assert!(c.doc("items/prev").await.is_some());
}

const AUDIENCE: &str = "hermes-counters";
const PUSH_SA: &str = "hermes-push@hermes-test.iam.gserviceaccount.com";

#[tokio::test(flavor = "multi_thread")]
async fn oidc_push_authentication() {
    let key = TestKey::generate();
    let stranger = TestKey::generate();
    let google = MockServer::start().await;
    Mock::given(path("/oauth2/v3/certs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&[(&key, "k1")])))
        .mount(&google)
        .await;
    let section = format!(
        "push_audience = \"{AUDIENCE}\"\npush_service_account = \"{PUSH_SA}\"\njwks_url = \"{}/oauth2/v3/certs\"",
        google.uri()
    );
    let Some(c) = Counters::start("oidc", &section).await else {
        return;
    };
    let claims = google_claims(AUDIENCE, PUSH_SA);
    let with = |k: &str, v: Value| with(claims.clone(), k, v);
    let data = json!({"items": [{ "item_id": "auth-item" }]});
    let message = envelope("auth-1", &data, json!({})).to_string();
    let bearer = |t: String| bearer(&t);

    let rejected = [
        ("missing", None),
        (
            "wrong audience",
            Some(bearer(sign(
                &key,
                "k1",
                &with("aud", json!("https://elsewhere")),
            ))),
        ),
        (
            "expired",
            Some(bearer(sign(&key, "k1", &with("exp", json!(now() - 3600))))),
        ),
        ("wrong signer", Some(bearer(sign(&stranger, "k1", &claims)))),
        (
            "wrong email",
            Some(bearer(sign(
                &key,
                "k1",
                &with("email", json!("someone@else.iam.gserviceaccount.com")),
            ))),
        ),
    ];
    for (case, auth) in &rejected {
        let (status, body) = c.push_raw(message.clone(), auth.as_deref()).await;
        assert_eq!(status, 401, "{case}: {body}");
    }
    assert!(
        c.doc("items/auth-item").await.is_none(),
        "nothing counted before a valid token"
    );
    let (status, body) = c
        .push_raw(message.clone(), Some(&bearer(sign(&key, "k1", &claims))))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(c.doc("items/auth-item").await.is_some());
}

/// Two currencies on one item and across items, a refund, on one document or on shards:
/// every sum stays per currency, in Firestore and as readers see it.
async fn money_by_currency(test: &str, section: &str) {
    let Some(c) = Counters::start(test, section).await else {
        return;
    };
    let database = format!("projects/{}/databases/(default)", c.project);
    let (status, answer) = c
        .emu
        .firestore_commit(
            &database,
            &json!({"writes": [{"update": {
                "name": c.doc_name("catalog/a"),
                "fields": {"cost": {"doubleValue": 4.0}}
            }}]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let sales = [
        json!({"currency": "EUR", "items": [
            {"item_id": "a", "price": 10, "quantity": 2},
            {"item_id": "a", "price": 100, "currency": "DKK"},
            {"item_id": "b", "price": 5, "currency": "DKK"}]}),
        json!({"items": [{"item_id": "a", "price": 10, "currency": "EUR", "quantity": 3}]}),
        json!({"items": [{"item_id": "b", "price": 7, "currency": "usd"}]}),
    ];
    for (i, sale) in sales.iter().enumerate() {
        let (status, body) = c
            .push(&envelope(&format!("{test}-sale-{i}"), sale, json!({})))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let refund =
        json!({"items": [{"item_id": "a", "price": 10, "currency": "EUR", "quantity": 2}]});
    let (status, body) = c
        .push(&envelope(
            &format!("{test}-refund"),
            &refund,
            json!({"event_name": "refund"}),
        ))
        .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("applied")));

    let items = c.store().items().await.expect("items");
    let find = |id: &str| items.iter().find(|i| i.item_id == id).expect(id).clone();
    let (a, b) = (find("a"), find("b"));
    assert_eq!(a.counter, 1 + 2 + 3 - 2, "{a:?}");
    let amounts = |pairs: &[(&str, f64)]| -> hermes_core::store::Amounts {
        pairs.iter().map(|(c, v)| (c.to_string(), *v)).collect()
    };
    assert_eq!(
        a.revenue,
        amounts(&[("DKK", 100.0), ("EUR", 30.0)]),
        "{a:?}"
    );
    assert_eq!(a.profit, amounts(&[("DKK", 96.0), ("EUR", 18.0)]), "{a:?}");
    assert_eq!(b.revenue, amounts(&[("DKK", 5.0), ("USD", 7.0)]), "{b:?}");
    assert!(b.profit.is_empty(), "no cost for b: {b:?}");
    if section.contains("shards") {
        let mut used = 0;
        for k in 0..3 {
            used += usize::from(c.doc(&format!("items/a/shards/{k}")).await.is_some());
        }
        assert!(used > 1, "the messages of item a should use several shards");
    }

    // The dashboard's document of the same store: amounts by currency, never summed.
    let doc = hermes_dashboard::view::items_document(items.clone());
    assert_eq!(doc["items"][0]["item_id"], "a");
    assert_eq!(
        doc["items"][0]["revenue"],
        json!({"DKK": 100.0, "EUR": 30.0})
    );
    assert_eq!(doc["items"][0]["profit"], json!({"DKK": 96.0, "EUR": 18.0}));
    assert_eq!(
        doc["totals"],
        json!({"items": 2, "counter": 6, "revenue": {"DKK": 105.0, "EUR": 30.0, "USD": 7.0},
               "profit": {"DKK": 96.0, "EUR": 18.0}})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn money_is_kept_per_currency_and_refunds_subtract() {
    money_by_currency("money", "").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sharded_money_is_summed_per_currency() {
    money_by_currency("money-shards", "shards = 3").await;
}
