//! `hermes_gcp::firestore::FirestoreStore` against a real Firestore emulator:
//! Google's (atomic commits, `exists` preconditions answered as Firestore does),
//! or the one `FIRESTORE_EMULATOR_HOST` names. Exactly-once commits, sums, shards
//! and catalog reads (README, "The counters function").
//!
//! Each test uses its own project id, so an external emulator kept running
//! between runs cannot mix their documents.

use hermes_core::store::{
    Amounts, Applied, CounterCommit, CounterStore, Currency, DocumentId, EventIdentity, ItemTotals,
    ItemUpdate, ItemsReader, MarkerOrigin, Money,
};
use hermes_gcp::firestore::FirestoreStore;
use hermes_push::marker_id;
use hermes_testkit::emulator::{unique_id, Emulator};
use hermes_testkit::stores::firestore_at;
use serde_json::{json, Map, Value};
use std::time::{Duration, SystemTime};

const DEADLINE: Duration = Duration::from_secs(10);

/// A project id unique to this test run.
fn project(test: &str) -> String {
    unique_id(&format!("hermes-{test}"))
}

fn store(emu: &Emulator, project: &str) -> FirestoreStore {
    firestore_at(&emu.firestore_base(), project, DEADLINE)
}

fn item(id: &str, name: &str, quantity: i64, price: f64, cost: Option<f64>) -> ItemUpdate {
    let mut fields = Map::new();
    fields.insert("item_name".into(), json!(name));
    fields.insert("item_category".into(), json!("Test"));
    fields.insert("price".into(), json!(price));
    if let Some(c) = cost {
        fields.insert("cost".into(), json!(c));
    }
    ItemUpdate {
        item_id: DocumentId::parse(id).unwrap(),
        fields,
        counter: quantity,
        money: [(
            Currency::parse("DKK").unwrap(),
            Money {
                revenue: price * quantity as f64,
                profit: cost.map(|c| (price - c) * quantity as f64),
            },
        )]
        .into(),
    }
}

/// The DKK amount of `amounts` (0 when absent): these tests sell in DKK.
fn dkk(amounts: &Amounts) -> f64 {
    amounts.get("DKK").copied().unwrap_or(0.0)
}

const SUBSCRIPTION: &str = "projects/p/subscriptions/items-realtime-counters";

/// The commit of event `event` (its `hermes_event_id`), marked as the counters function marks it.
fn commit(event: &str, shard: Option<u32>, items: Vec<ItemUpdate>) -> CounterCommit {
    let origin = MarkerOrigin {
        subscription: SUBSCRIPTION.into(),
        event: EventIdentity::EventId(event.into()),
        part: 0,
    };
    CounterCommit {
        marker_id: marker_id(&origin),
        marker: origin,
        shard,
        items,
        expire_at: SystemTime::now() + Duration::from_secs(10 * 86_400),
    }
}

async fn totals(store: &FirestoreStore) -> Vec<ItemTotals> {
    store.items().await.expect("items()")
}

fn find<'a>(items: &'a [ItemTotals], id: &str) -> &'a ItemTotals {
    items
        .iter()
        .find(|i| i.item_id == id)
        .unwrap_or_else(|| panic!("no item {id} in {items:#?}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test]
async fn the_same_commit_twice_counts_once() {
    let Some(emu) = Emulator::start_firestore().await else {
        return;
    };
    let project = project("once");
    let store = store(&emu, &project);
    let c = commit(
        "msg-1",
        None,
        vec![item("sku-1", "Shoe", 2, 10.0, Some(6.0))],
    );

    assert_eq!(store.apply(&c).await.unwrap(), Applied::Applied);
    assert_eq!(store.apply(&c).await.unwrap(), Applied::Duplicate);
    // Same marker, other content: still a duplicate, and nothing of it is written.
    let other = commit("msg-1", None, vec![item("sku-2", "Hat", 5, 1.0, None)]);
    assert_eq!(store.apply(&other).await.unwrap(), Applied::Duplicate);

    let items = totals(&store).await;
    assert_eq!(items.len(), 1, "{items:#?}");
    let shoe = find(&items, "sku-1");
    assert_eq!(shoe.counter, 2);
    assert!(
        close(dkk(&shoe.revenue), 20.0) && close(dkk(&shoe.profit), 8.0),
        "{shoe:?}"
    );
    assert_eq!(shoe.fields["item_name"], "Shoe");
    assert_eq!(shoe.fields["price"], 10.0);
    let last = shoe.last_event_at.as_deref().expect("last_event_at");
    assert!(
        last.ends_with('Z') && last.len() == "2026-01-01T00:00:00.000000Z".len(),
        "{last}"
    );

    // The marker carries the TTL field and, readable, what it stands for.
    let marker = format!(
        "projects/{project}/databases/(default)/documents/hermes_processed/{}",
        c.marker_id
    );
    let doc = emu.firestore_get(&marker).await.expect("marker document");
    let field = |name: &str| doc["fields"][name].clone();
    assert_eq!(
        field("subscription"),
        json!({ "stringValue": SUBSCRIPTION })
    );
    assert_eq!(field("eventId"), json!({ "stringValue": "msg-1" }));
    assert_eq!(
        field("eventIdFrom"),
        json!({ "stringValue": "hermes_event_id" })
    );
    assert_eq!(field("part"), json!({ "integerValue": "0" }));
    // What a refused commit reads to tell a duplicate: this marker is there, another is not.
    assert!(store.marker_exists(&c.marker_id).await.unwrap());
    let absent = commit("msg-2", None, Vec::new()).marker_id;
    assert!(!store.marker_exists(&absent).await.unwrap());
    assert!(
        doc["fields"]["expireAt"]["timestampValue"].is_string(),
        "{doc}"
    );
    assert!(
        doc["fields"]["processedAt"]["timestampValue"].is_string(),
        "{doc}"
    );
}

#[tokio::test]
async fn items_sum_across_commits_and_repeats() {
    let Some(emu) = Emulator::start_firestore().await else {
        return;
    };
    let store = store(&emu, &project("sums"));
    assert_eq!(totals(&store).await, Vec::new());

    let first = commit(
        "m1",
        None,
        vec![
            item("a", "Alpha", 1, 2.5, Some(1.0)),
            item("b", "Beta", 2, 4.0, None),
        ],
    );
    assert_eq!(store.apply(&first).await.unwrap(), Applied::Applied);
    // The same item twice in one commit, and a changed name.
    let second = commit(
        "m2",
        None,
        vec![
            item("a", "Alpha v2", 3, 2.5, Some(1.0)),
            item("a", "Alpha v2", 1, 2.5, None),
        ],
    );
    assert_eq!(store.apply(&second).await.unwrap(), Applied::Applied);

    let items = totals(&store).await;
    assert_eq!(items.len(), 2, "{items:#?}");
    let a = find(&items, "a");
    assert_eq!(a.counter, 5);
    assert!(close(dkk(&a.revenue), 12.5), "{a:?}");
    assert!(close(dkk(&a.profit), 1.5 * 4.0), "{a:?}");
    assert_eq!(a.fields["item_name"], "Alpha v2");
    let b = find(&items, "b");
    assert_eq!(b.counter, 2);
    assert!(
        close(dkk(&b.revenue), 8.0) && close(dkk(&b.profit), 0.0),
        "{b:?}"
    );
}

#[tokio::test]
async fn sharded_commits_are_summed_by_items() {
    let Some(emu) = Emulator::start_firestore().await else {
        return;
    };
    let store = store(&emu, &project("shards"));
    let apply = |marker: &'static str, shard: Option<u32>, it: ItemUpdate| {
        let store = &store;
        async move {
            assert_eq!(
                store.apply(&commit(marker, shard, vec![it])).await.unwrap(),
                Applied::Applied,
                "{marker}"
            );
            // REQUEST_TIME has millisecond precision: keep "newest" unambiguous.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    apply("s1", Some(0), item("hot", "Hot v1", 1, 1.0, Some(0.5))).await;
    apply("s2", Some(1), item("hot", "Hot v2", 2, 1.0, Some(0.5))).await;
    apply("s3", Some(0), item("hot", "Hot v3", 4, 1.0, Some(0.5))).await;
    // A duplicate on a shard changes nothing.
    assert_eq!(
        store
            .apply(&commit(
                "s2",
                Some(1),
                vec![item("hot", "dup", 100, 1.0, None)]
            ))
            .await
            .unwrap(),
        Applied::Duplicate
    );
    // An item counted before sharding was turned on: its own document and a shard.
    apply("u1", None, item("mixed", "Mixed", 3, 2.0, None)).await;
    apply("u2", Some(2), item("mixed", "Mixed v2", 1, 2.0, None)).await;
    apply("c1", None, item("cold", "Cold", 1, 3.0, None)).await;

    let items = totals(&store).await;
    assert_eq!(items.len(), 3, "{items:#?}");
    let hot = find(&items, "hot");
    assert_eq!(hot.counter, 7);
    assert!(
        close(dkk(&hot.revenue), 7.0) && close(dkk(&hot.profit), 3.5),
        "{hot:?}"
    );
    assert_eq!(hot.fields["item_name"], "Hot v3", "newest shard's fields");
    let mixed = find(&items, "mixed");
    assert_eq!(mixed.counter, 4);
    assert_eq!(mixed.fields["item_name"], "Mixed v2");
    assert_eq!(find(&items, "cold").counter, 1);
}

#[tokio::test]
async fn catalog_reads_seeded_documents() {
    let Some(emu) = Emulator::start_firestore().await else {
        return;
    };
    let project = project("catalog");
    let database = format!("projects/{project}/databases/(default)");
    let seed = json!({ "writes": [
        { "update": {
            "name": format!("{database}/documents/catalog/sku-1"),
            "fields": {
                "cost": { "doubleValue": 4.5 },
                "brand": { "stringValue": "Acme" },
                "stock": { "integerValue": "12" },
                "tags": { "arrayValue": { "values": [{ "stringValue": "x" }] } },
                "dims": { "mapValue": { "fields": { "w": { "integerValue": "2" } } } },
                "discontinued": { "booleanValue": false },
                "note": { "nullValue": "NULL_VALUE" }
            }
        } },
        { "update": {
            "name": format!("{database}/documents/catalog/sku 2"),
            "fields": { "cost": { "integerValue": "3" } }
        } }
    ] });
    let (status, body) = emu.firestore_commit(&database, &seed).await;
    assert_eq!(status, 200, "seeding the catalog: {body}");

    let store = store(&emu, &project);
    // "a/b" cannot be a document id: it never becomes a request.
    let ids: Vec<DocumentId> = ["sku-1", "sku 2", "sku-3", "a/b", "sku-1"]
        .into_iter()
        .filter_map(|s| DocumentId::parse(s).ok())
        .collect();
    assert_eq!(ids.len(), 4);
    let catalog = store.catalog(&ids).await.expect("catalog()");
    assert_eq!(catalog.len(), 2, "{catalog:#?}");
    assert_eq!(
        Value::Object(catalog["sku-1"].clone()),
        json!({
            "cost": 4.5, "brand": "Acme", "stock": 12, "tags": ["x"], "dims": { "w": 2 },
            "discontinued": false, "note": null
        })
    );
    assert_eq!(catalog["sku 2"]["cost"], 3);
    assert!(store
        .catalog(&[])
        .await
        .expect("empty catalog()")
        .is_empty());
}
