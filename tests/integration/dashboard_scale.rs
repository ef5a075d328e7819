//! `hermes-dashboard` at scale, against a real Firestore emulator behind a
//! forwarder that counts the documents read ([`FirestoreReads`]):
//! - its reads follow the changes: after the first full read, polls with no
//!   change read no document, a change of one item reads that item (its shards
//!   too), not all; a change it cannot see (a commit stamped before the overlap)
//!   shows after the next full read;
//! - `GET /api/items?limit=N` is the top N by counter with totals over every
//!   item; a bad limit is a 400; the stream's document is bounded too.

use hermes_testkit::emulator::{unique_id, Emulator, Function};
use hermes_testkit::reads::FirestoreReads;
use hermes_testkit::sse::Events;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn database(project: &str) -> String {
    format!("projects/{project}/databases/(default)")
}

/// One item's document as counters writes it: the counts, then
/// `last_event_at` = the commit's `REQUEST_TIME`.
fn item_write(project: &str, path: &str, counter: i64, name: &str, money: Value) -> Value {
    json!({
        "update": {
            "name": format!("{}/documents/{path}", database(project)),
            "fields": {
                "counter": { "integerValue": counter.to_string() },
                "item_name": { "stringValue": name },
                "revenue": { "mapValue": { "fields": money } },
            },
        },
        "updateTransforms": [
            { "fieldPath": "last_event_at", "setToServerValue": "REQUEST_TIME" }
        ],
    })
}

/// `counter += by` on a document, stamped as counters stamps it, or with
/// `stamp` (an explicit, earlier time: a commit the poller cannot see).
fn increment(project: &str, path: &str, by: i64, stamp: Option<&str>) -> Value {
    let mut transforms =
        vec![json!({ "fieldPath": "counter", "increment": { "integerValue": by.to_string() } })];
    let mut fields = json!({});
    let mut mask = vec![];
    match stamp {
        None => transforms
            .push(json!({ "fieldPath": "last_event_at", "setToServerValue": "REQUEST_TIME" })),
        Some(t) => {
            fields = json!({ "last_event_at": { "timestampValue": t } });
            mask.push("last_event_at");
        }
    }
    json!({
        "update": { "name": format!("{}/documents/{path}", database(project)), "fields": fields },
        "updateMask": { "fieldPaths": mask },
        "updateTransforms": transforms,
    })
}

async fn commit(emu: &Emulator, project: &str, writes: Vec<Value>) {
    for chunk in writes.chunks(400) {
        let (status, answer) = emu
            .firestore_commit(&database(project), &json!({ "writes": chunk }))
            .await;
        assert_eq!(status, 200, "commit: {answer}");
    }
}

async fn get_json(url: &str) -> (u16, Value, usize) {
    let resp = reqwest::get(url).await.expect("GET");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let len = text.len();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        len,
    )
}

fn counter_of(doc: &Value, id: &str) -> Option<i64> {
    doc["items"]
        .as_array()?
        .iter()
        .find(|i| i["item_id"] == id)
        .and_then(|i| i["counter"].as_i64())
}

/// Waits for a stream event whose document satisfies `ok`.
async fn event_where(events: &mut Events, within: Duration, ok: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + within;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let (name, data) = events
            .next(left)
            .await
            .unwrap_or_else(|| panic!("no such event within {within:?}"));
        assert_eq!(name, "message", "{data}");
        let doc: Value = serde_json::from_str(&data).expect("event JSON");
        if ok(&doc) {
            return doc;
        }
    }
}

const ITEMS: usize = 300;

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_reads_the_changed_items_not_all() {
    let Some(emu) = Emulator::start_firestore().await else {
        return;
    };
    let reads = FirestoreReads::start(emu.firestore_host()).await;
    let project = unique_id("dashboard-scale");

    // 300 unsharded items, and one item in 4 shards.
    let mut writes: Vec<Value> = (0..ITEMS)
        .map(|i| {
            item_write(
                &project,
                &format!("items/i{i:04}"),
                i as i64 + 1,
                &format!("Item {i}"),
                json!({ "DKK": { "doubleValue": 10.0 } }),
            )
        })
        .collect();
    for k in 0..4 {
        writes.push(item_write(
            &project,
            &format!("items/s1/shards/{k}"),
            1000,
            "Sharded",
            json!({ "EUR": { "doubleValue": 1.5 } }),
        ));
    }
    commit(&emu, &project, writes).await;
    let seeded = Instant::now();

    let config = "[dashboard]\npoll_interval_ms = 200\nfull_read_secs = 20\n";
    let env = [
        ("GOOGLE_CLOUD_PROJECT", project.as_str()),
        ("FIRESTORE_EMULATOR_HOST", reads.host.as_str()),
        ("HERMES_CONFIG_TOML", config),
    ];
    let dashboard = Function::start("hermes-dashboard", &env).await;
    let api = format!("{}/api/items", dashboard.base);

    // The first read is a full one: every document.
    let mut events = Events::open(&format!("{api}/stream")).await;
    let first = event_where(&mut events, Duration::from_secs(10), |_| true).await;
    assert_eq!(first["totals"]["items"], ITEMS + 1, "{}", first["totals"]);
    assert_eq!(first["items"][0]["item_id"], "s1", "4 shards summed: 4000");
    assert_eq!(first["items"][0]["counter"], 4000);
    assert!(
        reads.documents() >= ITEMS + 4,
        "the full read: {}",
        reads.documents()
    );

    // Past the overlap after the seeding commit (and the poll under way
    // then, which still finds the seeded items changed): polls with no change
    // read no document at all (about 5 polls in a second).
    let quiet = seeded + Duration::from_millis(8000);
    tokio::time::sleep(quiet.saturating_duration_since(Instant::now())).await;
    let (before, calls) = (reads.documents(), reads.calls());
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        reads.calls() - calls >= 6,
        "the poller polls (2 queries a poll)"
    );
    assert_eq!(reads.documents() - before, 0, "no change, no document read");

    // One unsharded item changes: each poll reads that item alone.
    let before = reads.documents();
    let polls_before = reads.calls();
    commit(
        &emu,
        &project,
        vec![increment(&project, "items/i0299", 5, None)],
    )
    .await;
    let doc = event_where(&mut events, Duration::from_secs(3), |d| {
        counter_of(d, "i0299") == Some(305)
    })
    .await;
    assert_eq!(
        doc["totals"]["counter"],
        first["totals"]["counter"].as_i64().unwrap() + 5
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let read = reads.documents() - before;
    let polls = (reads.calls() - polls_before) / 2;
    assert!(read >= 1, "the change was read");
    assert!(
        read <= polls + 2,
        "one changed item: about one document a poll ({read} documents in {polls} polls), not {ITEMS}"
    );

    // One shard of the sharded item changes: its 4 shards are read to re-sum.
    let before = reads.documents();
    commit(
        &emu,
        &project,
        vec![increment(&project, "items/s1/shards/2", 7, None)],
    )
    .await;
    let doc = event_where(&mut events, Duration::from_secs(3), |d| {
        counter_of(d, "s1") == Some(4007)
    })
    .await;
    assert_eq!(doc["items"][0]["revenue"], json!({ "EUR": 6.0 }));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let read = reads.documents() - before;
    assert!(
        (5..=60).contains(&read),
        "a changed shard: its item's 4 shards and the changed one a poll ({read} documents), not {ITEMS}"
    );

    // A commit the incremental reads cannot see (stamped a minute back, as a
    // commit that finished long after its REQUEST_TIME would be): not shown
    // until the next full read (20 s after the first).
    let old =
        hermes_core::time::format_timestamp(std::time::SystemTime::now() - Duration::from_secs(60));
    commit(
        &emu,
        &project,
        vec![increment(&project, "items/i0100", 1000, Some(&old))],
    )
    .await;
    let hidden_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, doc, _) = get_json(&format!("{api}?limit=1000")).await;
    assert_eq!(
        counter_of(&doc, "i0100"),
        Some(101),
        "a change stamped before the overlap is not seen by the incremental reads"
    );
    event_where(&mut events, Duration::from_secs(25), |d| {
        counter_of(d, "i0100") == Some(1101)
    })
    .await;
    eprintln!(
        "the hidden change showed {:?} after it was written (the full read)",
        hidden_at.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn items_are_the_top_n_with_totals_over_all_and_bounded() {
    let Some(emu) = Emulator::start_firestore().await else {
        return;
    };
    let project = unique_id("dashboard-limit");
    let n = 1200usize;
    let long = "Ø".repeat(3000);
    let writes: Vec<Value> = (0..n)
        .map(|i| {
            // Counters 1..=1200 (item k has counter k+1), two currencies.
            let money = if i % 2 == 0 {
                json!({ "DKK": { "doubleValue": 2.0 } })
            } else {
                json!({ "EUR": { "doubleValue": 1.0 } })
            };
            let name = if i == n - 1 {
                long.clone()
            } else {
                format!("Item {i}")
            };
            item_write(
                &project,
                &format!("items/i{i:05}"),
                i as i64 + 1,
                &name,
                money,
            )
        })
        .collect();
    commit(&emu, &project, writes).await;
    let env = [
        ("GOOGLE_CLOUD_PROJECT", project.as_str()),
        ("FIRESTORE_EMULATOR_HOST", emu.firestore_host()),
        (
            "HERMES_CONFIG_TOML",
            "[dashboard]\npoll_interval_ms = 200\n",
        ),
    ];
    let dashboard = Function::start("hermes-dashboard", &env).await;
    let api = format!("{}/api/items", dashboard.base);

    let (status, doc, _) = get_json(&format!("{api}?limit=5")).await;
    assert_eq!(status, 200, "{doc}");
    let ids: Vec<&str> = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["i01199", "i01198", "i01197", "i01196", "i01195"]);
    let sum: i64 = (1..=n as i64).sum();
    assert_eq!(
        doc["totals"],
        json!({ "items": n, "counter": sum, "revenue": { "DKK": 1200.0, "EUR": 600.0 }, "profit": {} })
    );
    let name = doc["items"][0]["item_name"].as_str().unwrap();
    assert_eq!(name.chars().count(), 200, "a long name is cut");

    for bad in ["0", "1001", "abc", "", "-1", "5&limit=6"] {
        let resp = reqwest::get(format!("{api}?limit={bad}")).await.unwrap();
        assert_eq!(resp.status(), 400, "limit={bad}");
        let body: Value = resp.json().await.expect("a JSON error");
        assert!(
            body["error"].as_str().unwrap_or_default().contains("limit"),
            "{body}"
        );
    }

    let (_, doc, _) = get_json(&api).await;
    assert_eq!(doc["items"].as_array().unwrap().len(), 100, "the default");
    let (_, doc, len) = get_json(&format!("{api}?limit=1000")).await;
    assert_eq!(doc["items"].as_array().unwrap().len(), 1000);
    assert_eq!(doc["totals"]["items"], n);
    assert!(len <= 1_000_000, "{len} bytes");

    // The stream: the default-limit document, totals over all.
    let mut events = Events::open(&format!("{api}/stream")).await;
    let doc = event_where(&mut events, Duration::from_secs(10), |_| true).await;
    assert_eq!(doc["items"].as_array().unwrap().len(), 100);
    assert_eq!(doc["totals"]["items"], n);
    assert_eq!(doc["items"][0]["item_id"], "i01199");
}
