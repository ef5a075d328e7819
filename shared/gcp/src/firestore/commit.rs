//! The `CommitRequest` of one exactly-once counter commit: the marker's
//! create-only write, then one update with server-side increments per item.

use super::value::{field_path, valid_field_name, write_f64, write_fields, write_str};
use super::FirestoreError;
use hermes_core::store::{
    CounterCommit, ItemUpdate, ITEMS_COLLECTION, PROCESSED_COLLECTION, RESERVED_FIELDS,
    SHARDS_COLLECTION,
};
use hermes_core::time::format_timestamp;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::time::SystemTime;

/// `{database}/documents/{path}`.
pub(super) fn document_name(database: &str, path: &str) -> String {
    format!("{database}/documents/{path}")
}

/// The marker write first (some emulators apply writes in order and stop at
/// the failed precondition), then one write per distinct item. The marker is
/// the commit's only write with a precondition. The tree of what
/// [`commit_bytes`] sends.
pub(super) fn commit_body(database: &str, commit: &CounterCommit) -> Result<Value, FirestoreError> {
    serde_json::from_slice(&commit_bytes(database, commit)?).map_err(FirestoreError::Encode)
}

/// The `CommitRequest` as sent: compact JSON written straight into one
/// buffer. Building a `serde_json::Value` tree first (and serialising it,
/// and `json!` serialising every value it was given once more) was about a
/// fifth of `hermes-counters`' CPU per message.
pub(super) fn commit_bytes(
    database: &str,
    commit: &CounterCommit,
) -> Result<Vec<u8>, FirestoreError> {
    let items = merged(&commit.items);
    let mut out = Vec::with_capacity(640 + 512 * items.len());
    let origin = &commit.marker;
    out.extend_from_slice(br#"{"writes":[{"update":{"name":"#);
    write_str(
        &mut out,
        &document_name(
            database,
            &format!("{PROCESSED_COLLECTION}/{}", commit.marker_id),
        ),
    );
    out.extend_from_slice(br#","fields":{"expireAt":"#);
    write_timestamp(&mut out, commit.expire_at);
    out.extend_from_slice(br#","processedAt":"#);
    write_timestamp(&mut out, SystemTime::now());
    out.extend_from_slice(br#","subscription":{"stringValue":"#);
    write_str(&mut out, &origin.subscription);
    out.extend_from_slice(br#"},"eventId":{"stringValue":"#);
    write_str(&mut out, origin.event.as_str());
    out.extend_from_slice(br#"},"eventIdFrom":{"stringValue":"#);
    write_str(&mut out, origin.event.source());
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        r#"}},"part":{{"integerValue":"{}"}}}}}},"#,
        origin.part
    );
    out.extend_from_slice(br#""currentDocument":{"exists":false}}"#);
    for item in items.iter() {
        out.push(b',');
        write_item(&mut out, database, item, commit.shard)?;
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

fn write_timestamp(out: &mut Vec<u8>, t: SystemTime) {
    out.extend_from_slice(br#"{"timestampValue":"#);
    write_str(out, &format_timestamp(t));
    out.push(b'}');
}

fn write_item(
    out: &mut Vec<u8>,
    database: &str,
    item: &ItemUpdate,
    shard: Option<u32>,
) -> Result<(), FirestoreError> {
    // JSON has no NaN / Infinity: serde_json would send `null`, an invalid increment.
    let finite = item
        .money
        .values()
        .all(|m| m.revenue.is_finite() && m.profit.is_none_or(f64::is_finite));
    if !finite {
        return Err(FirestoreError::NotFinite(item.item_id.clone()));
    }
    let path = match shard {
        None => format!("{ITEMS_COLLECTION}/{}", item.item_id),
        Some(k) => format!(
            "{ITEMS_COLLECTION}/{}/{SHARDS_COLLECTION}/{k}",
            item.item_id
        ),
    };
    let kept = || {
        item.fields
            .iter()
            .filter(|(k, _)| !RESERVED_FIELDS.contains(&k.as_str()) && valid_field_name(k))
    };
    out.extend_from_slice(br#"{"update":{"name":"#);
    write_str(out, &document_name(database, &path));
    out.extend_from_slice(br#","fields":"#);
    write_fields(out, kept());
    // Always a mask, even an empty one: without it the update would replace
    // the whole document and lose the counters.
    out.extend_from_slice(br#"},"updateMask":{"fieldPaths":["#);
    for (i, (k, _)) in kept().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, &field_path(k));
    }
    let _ = write!(
        out,
        r#"]}},"updateTransforms":[{{"fieldPath":"counter","increment":{{"integerValue":"{}"}}}}"#,
        item.counter
    );
    // `revenue.EUR`: a currency code is three uppercase letters, a simple
    // field name, so the path needs no backticks.
    for (currency, money) in &item.money {
        write_increment(out, "revenue", currency.as_str(), money.revenue);
    }
    for (currency, money) in &item.money {
        if let Some(profit) = money.profit {
            write_increment(out, "profit", currency.as_str(), profit);
        }
    }
    out.extend_from_slice(br#",{"fieldPath":"last_event_at","setToServerValue":"REQUEST_TIME"}]}"#);
    Ok(())
}

/// `,{"fieldPath":"<map>.<currency>","increment":{"doubleValue":<amount>}}`.
fn write_increment(out: &mut Vec<u8>, map: &str, currency: &str, amount: f64) {
    out.extend_from_slice(br#",{"fieldPath":"#);
    write_str(out, &format!("{map}.{}", field_path(currency)));
    out.extend_from_slice(br#","increment":{"doubleValue":"#);
    write_f64(out, amount);
    out.extend_from_slice(b"}}");
}

/// The updates as written: one per document. Counters' own commits never
/// repeat an item (its updates are aggregated per item), so they are
/// written as they are, uncopied; others are merged.
fn merged(items: &[ItemUpdate]) -> Cow<'_, [ItemUpdate]> {
    let mut seen = HashSet::with_capacity(items.len());
    if items.iter().all(|i| seen.insert(i.item_id.as_str())) {
        Cow::Borrowed(items)
    } else {
        Cow::Owned(merge_updates(items))
    }
}

/// Sums updates of the same item: one write per document per commit.
fn merge_updates(items: &[ItemUpdate]) -> Vec<ItemUpdate> {
    let mut out: Vec<ItemUpdate> = Vec::with_capacity(items.len());
    let mut index: HashMap<&str, usize> = HashMap::new();
    for item in items {
        match index
            .get(item.item_id.as_str())
            .and_then(|&i| out.get_mut(i))
        {
            Some(m) => {
                m.counter = m.counter.saturating_add(item.counter);
                for (currency, money) in &item.money {
                    let into = m.money.entry(currency.clone()).or_default();
                    into.revenue += money.revenue;
                    into.profit = match (into.profit, money.profit) {
                        (None, None) => None,
                        (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
                    };
                }
                for (k, v) in &item.fields {
                    m.fields.insert(k.clone(), v.clone());
                }
            }
            None => {
                index.insert(item.item_id.as_str(), out.len());
                out.push(item.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firestore::value::{timestamp_value, to_value};
    use hermes_core::store::{Currency, DocumentId, EventIdentity, MarkerOrigin, Money};
    use serde_json::{json, Map};
    use std::time::UNIX_EPOCH;

    /// The body as it was built before [`commit_bytes`]: a `json!` tree,
    /// serialised. The bytes sent must not change.
    fn reference_body(database: &str, commit: &CounterCommit) -> Result<Value, FirestoreError> {
        let marker = document_name(
            database,
            &format!("{PROCESSED_COLLECTION}/{}", commit.marker_id),
        );
        let origin = &commit.marker;
        let mut writes = vec![json!({
            "update": {
                "name": marker,
                "fields": {
                    "expireAt": timestamp_value(commit.expire_at),
                    "processedAt": timestamp_value(SystemTime::now()),
                    "subscription": { "stringValue": origin.subscription },
                    "eventId": { "stringValue": origin.event.as_str() },
                    "eventIdFrom": { "stringValue": origin.event.source() },
                    "part": { "integerValue": origin.part.to_string() },
                },
            },
            "currentDocument": { "exists": false },
        })];
        for item in merge_updates(&commit.items) {
            let finite = item
                .money
                .values()
                .all(|m| m.revenue.is_finite() && m.profit.is_none_or(f64::is_finite));
            if !finite {
                return Err(FirestoreError::NotFinite(item.item_id.clone()));
            }
            let path = match commit.shard {
                None => format!("{ITEMS_COLLECTION}/{}", item.item_id),
                Some(k) => format!(
                    "{ITEMS_COLLECTION}/{}/{SHARDS_COLLECTION}/{k}",
                    item.item_id
                ),
            };
            let fields: Map<String, Value> = item
                .fields
                .iter()
                .filter(|(k, _)| !RESERVED_FIELDS.contains(&k.as_str()) && valid_field_name(k))
                .map(|(k, v)| (k.clone(), to_value(v)))
                .collect();
            let mask: Vec<String> = fields.keys().map(|k| field_path(k)).collect();
            let mut transforms = vec![
                json!({ "fieldPath": "counter", "increment": { "integerValue": item.counter.to_string() } }),
            ];
            for (currency, money) in &item.money {
                transforms.push(json!({
                    "fieldPath": format!("revenue.{}", field_path(currency.as_str())),
                    "increment": { "doubleValue": money.revenue },
                }));
            }
            for (currency, money) in &item.money {
                if let Some(profit) = money.profit {
                    transforms.push(json!({
                        "fieldPath": format!("profit.{}", field_path(currency.as_str())),
                        "increment": { "doubleValue": profit },
                    }));
                }
            }
            transforms
                .push(json!({ "fieldPath": "last_event_at", "setToServerValue": "REQUEST_TIME" }));
            writes.push(json!({
                "update": { "name": document_name(database, &path), "fields": fields },
                "updateMask": { "fieldPaths": mask },
                "updateTransforms": transforms,
            }));
        }
        Ok(json!({ "writes": writes }))
    }

    /// `text` with the value of `processedAt` (the time of writing) blanked.
    fn without_processed_at(text: &str) -> String {
        let key = r#""processedAt":{"timestampValue":""#;
        let Some(at) = text.find(key) else {
            return text.to_string();
        };
        let from = at + key.len();
        let to = from + text[from..].find('"').unwrap();
        format!("{}{}", &text[..from], &text[to..])
    }

    /// `commit_bytes` sends exactly what the `json!` tree serialised to.
    fn same_bytes_as_the_tree(database: &str, commit: &CounterCommit) {
        let new = commit_bytes(database, commit).map(|b| String::from_utf8(b).unwrap());
        let old = reference_body(database, commit).map(|v| serde_json::to_string(&v).unwrap());
        match (new, old) {
            (Ok(new), Ok(old)) => {
                assert_eq!(without_processed_at(&new), without_processed_at(&old));
            }
            (Err(FirestoreError::NotFinite(a)), Err(FirestoreError::NotFinite(b))) => {
                assert_eq!(a, b)
            }
            (new, old) => panic!("{new:?} / {old:?}"),
        }
    }

    #[test]
    fn the_bytes_sent_are_those_of_the_json_tree() {
        let weird = json!({
            "item_name": "Blazer \"Ø\" \u{1}\n\t\\ é 😀",
            "a.b": 1, "`x`": [1, [2, [3]], {"k": null}], "9": true, "f": false,
            "__reserved__": 1, "": 2, "counter": 5, "revenue": 1, "cost": 12.5,
            "big": u64::MAX, "neg": -7, "d": 1e300, "small": 1.5e-7, "n": null,
            "m": { "__x__": 1, "deep": { "a": [] }, "s": "t" }, "arr": [],
        });
        let fields: Map<String, Value> = weird.as_object().unwrap().clone();
        let dkk = Currency::parse("DKK").unwrap();
        let eur = Currency::parse("EUR").unwrap();
        let item = |name: &str, counter: i64, profit: Option<f64>| ItemUpdate {
            item_id: id(name),
            fields: fields.clone(),
            counter,
            money: [
                (
                    dkk.clone(),
                    Money {
                        revenue: 2.5 * counter as f64,
                        profit,
                    },
                ),
                (
                    eur.clone(),
                    Money {
                        revenue: 0.1 + 0.2,
                        profit: None,
                    },
                ),
            ]
            .into(),
        };
        for shard in [None, Some(0), Some(999)] {
            for event in [
                EventIdentity::EventId("ev/\"1\"".into()),
                EventIdentity::MessageId("1234567890".into()),
            ] {
                let commit = CounterCommit {
                    marker_id: id("0123abcd"),
                    marker: MarkerOrigin {
                        subscription: "projects/p/subscriptions/s\u{7f}".into(),
                        event,
                        part: u64::MAX,
                    },
                    shard,
                    items: vec![
                        item("a", 1, None),
                        item("b", -2, Some(1.0)),
                        item("a", 3, Some(-0.5)),
                        item("c", i64::MAX, Some(1e15)),
                    ],
                    expire_at: UNIX_EPOCH + std::time::Duration::from_micros(1_234_567),
                };
                same_bytes_as_the_tree(DB, &commit);
                same_bytes_as_the_tree("projects/p\"q/databases/(default)", &commit);
            }
        }
        // No items, an item without fields, and a refused amount.
        let mut commit = CounterCommit {
            marker_id: id("m"),
            marker: origin(0),
            shard: None,
            items: vec![],
            expire_at: UNIX_EPOCH,
        };
        same_bytes_as_the_tree(DB, &commit);
        let mut bare = item("x", 1, None);
        bare.fields.clear();
        commit.items.push(bare);
        same_bytes_as_the_tree(DB, &commit);
        commit.items.push(item("y", 1, Some(f64::NAN)));
        same_bytes_as_the_tree(DB, &commit);
    }

    proptest::proptest! {
        #[test]
        fn any_item_is_sent_as_the_tree_would_send_it(
            key in ".{0,12}",
            text in ".{0,24}",
            i in proptest::num::i64::ANY,
            d in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO,
            counter in proptest::num::i64::ANY,
            revenue in -1e15f64..1e15,
        ) {
            let fields: Map<String, Value> = [
                (key.clone(), json!([i, d, [text.clone()], { key.clone(): text.clone() }])),
                (text.clone(), json!(d)),
                ("item_name".to_string(), json!(text.clone())),
            ]
            .into_iter()
            .collect();
            let commit = CounterCommit {
                marker_id: id("m1"),
                marker: MarkerOrigin {
                    subscription: text.clone(),
                    event: EventIdentity::EventId(key.clone()),
                    part: 0,
                },
                shard: None,
                items: vec![ItemUpdate {
                    item_id: id("a"),
                    fields,
                    counter,
                    money: [(
                        Currency::parse("USD").unwrap(),
                        Money { revenue, profit: Some(d) },
                    )]
                    .into(),
                }],
                expire_at: UNIX_EPOCH,
            };
            same_bytes_as_the_tree(DB, &commit);
        }
    }

    const DB: &str = "projects/p/databases/(default)";

    fn id(s: &str) -> DocumentId {
        DocumentId::parse(s).unwrap()
    }

    fn origin(part: u64) -> MarkerOrigin {
        MarkerOrigin {
            subscription: "projects/p/subscriptions/s".into(),
            event: EventIdentity::EventId("ev/1".into()),
            part,
        }
    }

    fn update(item: &str, counter: i64, profit: Option<f64>) -> ItemUpdate {
        ItemUpdate {
            item_id: id(item),
            fields: [
                ("item_name".to_string(), json!(format!("name {counter}"))),
                ("counter".to_string(), json!(99)),
                ("a.b".to_string(), json!(1)),
            ]
            .into_iter()
            .collect(),
            counter,
            money: [(
                Currency::parse("DKK").unwrap(),
                Money {
                    revenue: 2.5 * counter as f64,
                    profit,
                },
            )]
            .into(),
        }
    }

    #[test]
    fn commit_body_marker_first_then_one_write_per_item() {
        let commit = CounterCommit {
            marker_id: id("m1"),
            marker: origin(2),
            shard: None,
            items: vec![
                update("a", 1, None),
                update("b", 2, Some(1.0)),
                update("a", 3, Some(0.5)),
            ],
            expire_at: UNIX_EPOCH,
        };
        let body = commit_body(DB, &commit).unwrap();
        let writes = body["writes"].as_array().unwrap();
        assert_eq!(writes.len(), 3);
        assert_eq!(
            writes[0]["update"]["name"],
            "projects/p/databases/(default)/documents/hermes_processed/m1"
        );
        assert_eq!(writes[0]["currentDocument"], json!({ "exists": false }));
        assert_eq!(
            writes[0]["update"]["fields"]["expireAt"],
            json!({ "timestampValue": "1970-01-01T00:00:00.000000Z" })
        );
        let marker = &writes[0]["update"]["fields"];
        assert_eq!(
            marker["subscription"],
            json!({ "stringValue": "projects/p/subscriptions/s" })
        );
        assert_eq!(marker["eventId"], json!({ "stringValue": "ev/1" }));
        assert_eq!(
            marker["eventIdFrom"],
            json!({ "stringValue": "hermes_event_id" })
        );
        assert_eq!(marker["part"], json!({ "integerValue": "2" }));
        let a = &writes[1];
        assert_eq!(
            a["update"]["name"],
            "projects/p/databases/(default)/documents/items/a"
        );
        assert_eq!(a["updateMask"]["fieldPaths"], json!(["item_name", "`a.b`"]));
        assert_eq!(
            a["update"]["fields"]["item_name"],
            json!({ "stringValue": "name 3" })
        );
        assert!(a["update"]["fields"].get("counter").is_none());
        let t = a["updateTransforms"].as_array().unwrap();
        assert_eq!(
            t[0],
            json!({ "fieldPath": "counter", "increment": { "integerValue": "4" } })
        );
        assert_eq!(
            t[1],
            json!({ "fieldPath": "revenue.DKK", "increment": { "doubleValue": 10.0 } })
        );
        assert_eq!(
            t[2],
            json!({ "fieldPath": "profit.DKK", "increment": { "doubleValue": 0.5 } })
        );
        assert_eq!(
            t[3],
            json!({ "fieldPath": "last_event_at", "setToServerValue": "REQUEST_TIME" })
        );
        let b = writes[2]["updateTransforms"].as_array().unwrap();
        assert_eq!(b.len(), 4);
    }

    #[test]
    fn sharded_writes_go_to_the_shard_and_bad_input_is_refused() {
        let mut commit = CounterCommit {
            marker_id: id("m1"),
            marker: origin(0),
            shard: Some(3),
            items: vec![update("a", 1, None)],
            expire_at: UNIX_EPOCH,
        };
        let body = commit_body(DB, &commit).unwrap();
        assert_eq!(
            body["writes"][1]["update"]["name"],
            "projects/p/databases/(default)/documents/items/a/shards/3"
        );
        assert_eq!(
            body["writes"][1]["updateTransforms"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        let eur = Currency::parse("EUR").unwrap();
        commit.items[0].money.insert(
            eur.clone(),
            Money {
                revenue: 1.0,
                profit: None,
            },
        );
        let t = commit_body(DB, &commit).unwrap()["writes"][1]["updateTransforms"].clone();
        assert_eq!(t[1]["fieldPath"], "revenue.DKK");
        assert_eq!(t[2]["fieldPath"], "revenue.EUR");
        commit.items[0].money.get_mut(&eur).unwrap().revenue = f64::NAN;
        assert!(matches!(
            commit_body(DB, &commit),
            Err(FirestoreError::NotFinite(_))
        ));
        // Ids Firestore would refuse cannot be built at all.
        assert!(DocumentId::parse("a/b").is_err());
        assert!(DocumentId::parse("__m__").is_err());
    }
}
