//! The `CommitRequest` of one exactly-once counter commit: the marker's
//! create-only write, then one update with server-side increments per item.

use super::value::{field_path, timestamp_value, to_value, valid_field_name};
use super::FirestoreError;
use hermes_core::store::{
    CounterCommit, ItemUpdate, ITEMS_COLLECTION, PROCESSED_COLLECTION, RESERVED_FIELDS,
    SHARDS_COLLECTION,
};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::time::SystemTime;

/// `{database}/documents/{path}`.
pub(super) fn document_name(database: &str, path: &str) -> String {
    format!("{database}/documents/{path}")
}

/// The marker write first (some emulators apply writes in order and stop at
/// the failed precondition), then one write per distinct item. The marker is
/// the commit's only write with a precondition.
pub(super) fn commit_body(database: &str, commit: &CounterCommit) -> Result<Value, FirestoreError> {
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
        writes.push(item_write(database, &item, commit.shard)?);
    }
    Ok(json!({ "writes": writes }))
}

fn item_write(
    database: &str,
    item: &ItemUpdate,
    shard: Option<u32>,
) -> Result<Value, FirestoreError> {
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
    let fields: Map<String, Value> = item
        .fields
        .iter()
        .filter(|(k, _)| !RESERVED_FIELDS.contains(&k.as_str()) && valid_field_name(k))
        .map(|(k, v)| (k.clone(), to_value(v)))
        .collect();
    // Always a mask, even an empty one: without it the update would replace
    // the whole document and lose the counters.
    let mask: Vec<String> = fields.keys().map(|k| field_path(k)).collect();
    let mut transforms = vec![
        json!({ "fieldPath": "counter", "increment": { "integerValue": item.counter.to_string() } }),
    ];
    // `revenue.EUR`: a currency code is three uppercase letters, a simple
    // field name, so the path needs no backticks.
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
    transforms.push(json!({ "fieldPath": "last_event_at", "setToServerValue": "REQUEST_TIME" }));
    Ok(json!({
        "update": { "name": document_name(database, &path), "fields": fields },
        "updateMask": { "fieldPaths": mask },
        "updateTransforms": transforms,
    }))
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
    use hermes_core::store::{Currency, DocumentId, EventIdentity, MarkerOrigin, Money};
    use std::time::UNIX_EPOCH;

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
