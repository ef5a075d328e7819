//! Every request `FirestoreStore` builds, checked against Google's own
//! `firestore.v1.json` discovery document (shipped in PyPI
//! `google-api-python-client`, installed into `.tools/venv` by
//! `scripts/install-test-tools`): HTTP method and path against the documented
//! methods and their path-parameter patterns, query parameters against their
//! types, and each body recursively against the `schemas` — every field exists,
//! with the right JSON type (int64 as a string, enums within `enum`). The
//! validator is the test kit's (`hermes_testkit::discovery`), shared with the
//! Pub/Sub contract test.
//!
//! The requests are real ones, recorded by wiremock while `apply` (one of them
//! refused with FAILED_PRECONDITION, so the marker is read), `catalog` and
//! `items` run; the canned answers are themselves checked against the response
//! schemas, so the client is fed what Firestore would send.
//!
//! No discovery document: a failure when `CI` is set, else a visible skip.

use hermes_core::store::{
    Applied, CounterCommit, CounterStore, Currency, DocumentId, EventIdentity, ItemUpdate,
    ItemsReader, MarkerOrigin, Money,
};
use hermes_testkit::discovery::{Direction, Discovery};
use hermes_testkit::stores::firestore_at;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};
use wiremock::matchers::{body_string_contains, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const PROJECT: &str = "hermes-contract";
const DB: &str = "projects/hermes-contract/databases/(default)";

fn discovery() -> Option<Discovery> {
    Discovery::load("firestore.v1.json")
}

// ---- canned answers (checked against the response schemas) -------------------------------

/// Panics unless `answer` (or each element, for streamed methods) fits the method's response.
fn checked_answer(doc: &Discovery, id: &str, answer: Value) -> ResponseTemplate {
    let schema = doc.response_schema(id);
    let parts: Vec<&Value> = match &answer {
        Value::Array(list) => list.iter().collect(),
        one => vec![one],
    };
    for part in parts {
        let errs = doc.errors(&schema, part, Direction::Response);
        assert!(
            errs.is_empty(),
            "canned {id} answer is not a {schema}: {errs:#?}"
        );
    }
    ResponseTemplate::new(200).set_body_json(answer)
}

const T: &str = "2026-01-01T00:00:00.123456Z";

fn document(path: &str, fields: Value) -> Value {
    json!({ "name": format!("{DB}/documents/{path}"), "fields": fields, "createTime": T, "updateTime": T })
}

fn item_fields(counter: i64, revenue: f64, name: &str) -> Value {
    json!({
        "counter": { "integerValue": counter.to_string() },
        "revenue": { "mapValue": { "fields": { "EUR": { "doubleValue": revenue } } } },
        "profit": { "mapValue": { "fields": { "EUR": { "doubleValue": revenue / 2.0 } } } },
        "last_event_at": { "timestampValue": T },
        "item_name": { "stringValue": name },
    })
}

async fn mount_answers(doc: &Discovery, server: &MockServer) {
    let commit = checked_answer(
        doc,
        "firestore.projects.databases.documents.commit",
        json!({ "writeResults": [{ "updateTime": T }], "commitTime": T }),
    );
    Mock::given(method("POST"))
        .and(path(format!("/v1/{DB}/documents:commit")))
        .respond_with(commit)
        .mount(server)
        .await;

    // A commit refused with FAILED_PRECONDITION: the store reads its marker.
    Mock::given(method("POST"))
        .and(path(format!("/v1/{DB}/documents:commit")))
        .and(body_string_contains(format!(
            "hermes_processed/{REFUSED}\""
        )))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": { "code": 400, "message": "refused", "status": "FAILED_PRECONDITION" }
        })))
        .with_priority(1)
        .mount(server)
        .await;
    let marker = checked_answer(
        doc,
        "firestore.projects.databases.documents.get",
        document(
            &format!("hermes_processed/{REFUSED}"),
            json!({ "expireAt": { "timestampValue": T } }),
        ),
    );
    Mock::given(method("GET"))
        .and(path(format!(
            "/v1/{DB}/documents/hermes_processed/{REFUSED}"
        )))
        .respond_with(marker)
        .mount(server)
        .await;

    let batch_get = checked_answer(
        doc,
        "firestore.projects.databases.documents.batchGet",
        json!([
            { "found": document("catalog/sku-1", json!({ "cost": { "doubleValue": 4.5 }, "brand": { "stringValue": "Acme" } })), "readTime": T },
            { "missing": format!("{DB}/documents/catalog/sku-2"), "readTime": T }
        ]),
    );
    Mock::given(method("POST"))
        .and(path(format!("/v1/{DB}/documents:batchGet")))
        .respond_with(batch_get)
        .mount(server)
        .await;

    // Two pages of `items`: the page token is followed.
    let list = "firestore.projects.databases.documents.listDocuments";
    let page1 = checked_answer(
        doc,
        list,
        json!({ "documents": [document("items/a", item_fields(1, 2.0, "A"))], "nextPageToken": "tok/1 +2" }),
    );
    let page2 = checked_answer(
        doc,
        list,
        json!({ "documents": [document("items/b", item_fields(3, 6.0, "B"))] }),
    );
    let items_path = format!("/v1/{DB}/documents/items");
    Mock::given(method("GET"))
        .and(path(items_path.as_str()))
        .and(query_param_is_missing("pageToken"))
        .respond_with(page1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(items_path.as_str()))
        .and(query_param("pageToken", "tok/1 +2"))
        .respond_with(page2)
        .mount(server)
        .await;

    // A full first page of shards (1,000 documents) and a second one after the cursor.
    let run_query = "firestore.projects.databases.documents.runQuery";
    let mut first: Vec<Value> = (0..1000)
        .map(|k| json!({ "document": document(&format!("items/s/shards/{k:04}"), item_fields(1, 1.0, "S")), "readTime": T }))
        .collect();
    first.insert(0, json!({ "readTime": T }));
    let first = checked_answer(doc, run_query, Value::Array(first));
    let second = checked_answer(
        doc,
        run_query,
        json!([
            { "document": document("items/t/shards/0", item_fields(5, 10.0, "T")), "readTime": T },
            { "document": document("orders/x/shards/0", item_fields(100, 1.0, "not an item")), "readTime": T },
            { "readTime": T, "done": true }
        ]),
    );
    Mock::given(method("POST"))
        .and(path(format!("/v1/{DB}/documents:runQuery")))
        .respond_with(move |req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            if body["structuredQuery"].get("startAt").is_some() {
                second.clone()
            } else {
                first.clone()
            }
        })
        .mount(server)
        .await;
}

/// The marker of the commit the server refuses.
const REFUSED: &str = "refused";

fn commit(shard: Option<u32>) -> CounterCommit {
    commit_with_marker("1234567890", shard)
}

fn commit_with_marker(marker: &str, shard: Option<u32>) -> CounterCommit {
    let fields =
        |pairs: Value| -> Map<String, Value> { pairs.as_object().cloned().unwrap_or_default() };
    CounterCommit {
        marker_id: DocumentId::parse(marker).unwrap(),
        marker: MarkerOrigin {
            subscription: "projects/hermes-contract/subscriptions/items-realtime-counters".into(),
            event: EventIdentity::EventId("ev-1".into()),
            part: 0,
        },
        shard,
        items: vec![
            ItemUpdate {
                item_id: DocumentId::parse("sku-1").unwrap(),
                fields: fields(json!({
                    "item_name": "Shoe", "item_category": "Footwear", "price": 10.5, "cost": 4.5,
                    "quantity_in_stock": 3, "in_stock": true, "coupon": null,
                    "tags": ["a", 1, [2, 3], { "k": "v" }], "dims": { "w": 1, "h": 2.5, "empty": {} },
                    "display.name": "dotted", "9lives": "leading digit", "back`tick": "quoted",
                    "__reserved__": "dropped", "counter": 999
                })),
                counter: 2,
                money: [
                    (
                        Currency::parse("EUR").unwrap(),
                        Money {
                            revenue: 21.0,
                            profit: Some(12.0),
                        },
                    ),
                    (
                        Currency::parse("DKK").unwrap(),
                        Money {
                            revenue: 150.0,
                            profit: None,
                        },
                    ),
                ]
                .into(),
            },
            ItemUpdate {
                item_id: DocumentId::parse("sku 2 é").unwrap(),
                fields: Map::new(),
                counter: 1,
                money: Default::default(),
            },
        ],
        expire_at: SystemTime::now() + Duration::from_secs(10 * 86_400),
    }
}

// ---- the tests -----------------------------------------------------------------------

#[tokio::test]
async fn every_request_matches_the_discovery_document() {
    let Some(doc) = discovery() else { return };
    let server = MockServer::start().await;
    mount_answers(&doc, &server).await;
    let store = firestore_at(&server.uri(), PROJECT, Duration::from_secs(5));

    store.apply(&commit(None)).await.expect("apply");
    store.apply(&commit(Some(7))).await.expect("apply sharded");
    // Refused, and the marker read finds it: a duplicate.
    let refused = store
        .apply(&commit_with_marker(REFUSED, None))
        .await
        .expect("apply refused");
    assert_eq!(refused, Applied::Duplicate);
    // "a/b" and "__x__" cannot be document ids: they never become requests.
    let ids: Vec<DocumentId> = ["sku-1", "sku-2", "a/b", "__x__", "sku-1"]
        .into_iter()
        .filter_map(|s| DocumentId::parse(s).ok())
        .collect();
    assert_eq!(ids.len(), 3);
    let catalog = store.catalog(&ids).await.expect("catalog");
    assert_eq!(
        Value::Object(catalog["sku-1"].clone()),
        json!({ "cost": 4.5, "brand": "Acme" })
    );
    assert_eq!(catalog.len(), 1);
    let items = store.items().await.expect("items");
    let by_id = |id: &str| {
        items
            .iter()
            .find(|i| i.item_id == id)
            .unwrap_or_else(|| panic!("no item {id}"))
    };
    assert_eq!(items.len(), 4, "{items:?}");
    assert_eq!((by_id("a").counter, by_id("b").counter), (1, 3));
    assert_eq!(by_id("s").counter, 1000);
    assert_eq!(by_id("t").revenue, [("EUR".to_string(), 10.0)].into());
    assert_eq!(by_id("t").profit, [("EUR".to_string(), 5.0)].into());
    assert_eq!(by_id("t").fields["item_name"], "T");

    let requests = server.received_requests().await.expect("recording is on");
    let mut used = BTreeSet::new();
    let mut problems = Vec::new();
    for req in &requests {
        match doc.check_recorded(req) {
            Ok(id) => {
                used.insert(id);
            }
            Err(errs) => problems.extend(errs),
        }
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        assert_eq!(auth, Some("Bearer owner"));
    }
    assert!(
        problems.is_empty(),
        "requests that do not fit firestore.v1.json:\n{}",
        problems.join("\n")
    );
    let expected: BTreeSet<String> = ["commit", "get", "batchGet", "listDocuments", "runQuery"]
        .iter()
        .map(|m| format!("firestore.projects.databases.documents.{m}"))
        .collect();
    assert_eq!(used, expected);
    // 3 commits, 1 marker get, 1 batchGet (duplicates and invalid ids dropped), 2 list pages,
    // 2 query pages.
    assert_eq!(requests.len(), 9);

    // What was sent, beyond its shape.
    let bodies: Vec<Value> = requests
        .iter()
        .filter(|r| r.url.path().ends_with(":commit"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let writes = bodies[0]["writes"].as_array().unwrap();
    assert_eq!(
        writes[0]["update"]["name"],
        format!("{DB}/documents/hermes_processed/1234567890")
    );
    assert_eq!(writes[0]["currentDocument"], json!({ "exists": false }));
    assert_eq!(
        writes[0]["update"]["fields"]["eventId"],
        json!({ "stringValue": "ev-1" })
    );
    let mask: Vec<&str> = writes[1]["updateMask"]["fieldPaths"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        mask.contains(&"`display.name`")
            && mask.contains(&"`9lives`")
            && mask.contains(&"`back\\`tick`"),
        "{mask:?}"
    );
    assert!(
        !mask.contains(&"counter") && !mask.iter().any(|m| m.contains("reserved")),
        "{mask:?}"
    );
    assert_eq!(writes[2]["updateMask"], json!({ "fieldPaths": [] }));
    assert_eq!(
        writes[2]["update"]["name"],
        format!("{DB}/documents/items/sku 2 é")
    );
    assert_eq!(
        bodies[1]["writes"][1]["update"]["name"],
        format!("{DB}/documents/items/sku-1/shards/7")
    );
    let batch: Value = requests
        .iter()
        .find(|r| r.url.path().ends_with(":batchGet"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .unwrap();
    assert_eq!(
        batch,
        json!({ "documents": [format!("{DB}/documents/catalog/sku-1"), format!("{DB}/documents/catalog/sku-2")] })
    );
}

#[test]
fn the_validator_rejects_what_firestore_would() {
    let Some(doc) = discovery() else { return };
    let good = json!({ "writes": [{
        "update": { "name": format!("{DB}/documents/items/a"), "fields": { "n": { "integerValue": "1" } } },
        "updateMask": { "fieldPaths": ["n"] },
        "updateTransforms": [{ "fieldPath": "counter", "increment": { "integerValue": "1" } }],
        "currentDocument": { "exists": false }
    }] });
    assert_eq!(
        doc.errors("CommitRequest", &good, Direction::Request),
        Vec::<String>::new()
    );

    let mutate = |f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        doc.errors("CommitRequest", &v, Direction::Request)
    };
    let unknown = mutate(&|v| v["writes"][0]["bogus"] = json!(1));
    assert!(
        unknown.iter().any(|e| e.contains("bogus: unknown field")),
        "{unknown:?}"
    );
    let nested = mutate(&|v| v["writes"][0]["update"]["fields"]["n"]["integerValu"] = json!("1"));
    assert!(
        nested
            .iter()
            .any(|e| e.contains("integerValu: unknown field")),
        "{nested:?}"
    );
    let int_as_number =
        mutate(&|v| v["writes"][0]["update"]["fields"]["n"] = json!({ "integerValue": 1 }));
    assert!(!int_as_number.is_empty(), "int64 must be a string");
    let bad_enum = mutate(&|v| {
        v["writes"][0]["updateTransforms"][0] =
            json!({ "fieldPath": "t", "setToServerValue": "NOW" })
    });
    assert!(!bad_enum.is_empty(), "enum not checked");
    let two_kinds = mutate(&|v| {
        v["writes"][0]["update"]["fields"]["n"] = json!({ "integerValue": "1", "stringValue": "1" })
    });
    assert!(!two_kinds.is_empty(), "a Value with two kinds");
    let wrong_type = mutate(&|v| v["writes"][0]["currentDocument"]["exists"] = json!("false"));
    assert!(!wrong_type.is_empty(), "boolean as a string");
    let not_array = mutate(&|v| v["writes"] = json!({}));
    assert!(!not_array.is_empty(), "writes must be an array");

    // Paths: a commit goes to `{database}/documents:commit`, nowhere else.
    let method_ids = |m: &str, p: &str| -> Vec<String> {
        doc.find_methods(m, p)
            .iter()
            .map(|m| m["id"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(
        method_ids("POST", &format!("/v1/{DB}/documents:commit")),
        ["firestore.projects.databases.documents.commit"]
    );
    assert!(method_ids("POST", &format!("/v1/{DB}:commit")).is_empty());
    assert!(method_ids("GET", &format!("/v1/{DB}/documents:commit")).is_empty());
    assert!(method_ids("POST", "/v1/projects/p/documents:commit").is_empty());
    assert_eq!(
        method_ids("GET", &format!("/v1/{DB}/documents/items")),
        ["firestore.projects.databases.documents.listDocuments"]
    );
    // A sub-collection path also fits `get` by pattern: real Firestore tells them
    // apart by the number of segments. We only list the root `items` collection.
    assert!(
        method_ids("GET", &format!("/v1/{DB}/documents/items/a/shards"))
            .contains(&"firestore.projects.databases.documents.list".to_string())
    );

    // Query parameters.
    let list = doc.method("firestore.projects.databases.documents.listDocuments");
    let mut errs = Vec::new();
    doc.check_query(
        list,
        &[("pageSize".into(), "x".into()), ("nope".into(), "1".into())],
        &mut errs,
    );
    assert_eq!(errs.len(), 2, "{errs:?}");
}
