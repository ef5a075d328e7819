//! The JSON the page and `GET /api/items` see: the fixed shape
//! `{ "items": [ { "item_id", "item_name", "item_category", "counter", "revenue",
//! "profit", "last_event_at", …other descriptive fields } ], "totals": { "items",
//! "counter", "revenue", "profit", "currency" } }`, items sorted by counter, highest first.

use hermes_core::store::ItemTotals;
use serde_json::{json, Map, Value};
use std::cmp::Ordering;

/// The keys every item has, in this order; descriptive fields follow.
pub const ITEM_KEYS: [&str; 7] = [
    "item_id",
    "item_name",
    "item_category",
    "counter",
    "revenue",
    "profit",
    "last_event_at",
];

/// Drops the noise of summed binary fractions (`0.1 + 0.2`): money needs no
/// more than micro-units. Non-finite sums (never written by Hermes) become 0.
pub fn round_money(x: f64) -> f64 {
    if !x.is_finite() {
        return 0.0;
    }
    let r = (x * 1e6).round() / 1e6;
    if r == 0.0 {
        0.0 // no "-0.0"
    } else {
        r
    }
}

fn text_field(fields: &Map<String, Value>, key: &str) -> Value {
    match fields.get(key) {
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(Value::Number(n)) => Value::String(n.to_string()),
        _ => Value::Null,
    }
}

fn item(t: &ItemTotals) -> Value {
    let mut out = Map::new();
    out.insert("item_id".into(), Value::String(t.item_id.clone()));
    out.insert("item_name".into(), text_field(&t.fields, "item_name"));
    out.insert(
        "item_category".into(),
        text_field(&t.fields, "item_category"),
    );
    out.insert("counter".into(), json!(t.counter));
    out.insert("revenue".into(), json!(round_money(t.revenue)));
    out.insert("profit".into(), json!(round_money(t.profit)));
    out.insert(
        "last_event_at".into(),
        t.last_event_at.clone().map_or(Value::Null, Value::String),
    );
    for (k, v) in &t.fields {
        if !out.contains_key(k) {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

fn order(a: &ItemTotals, b: &ItemTotals) -> Ordering {
    b.counter
        .cmp(&a.counter)
        .then_with(|| b.revenue.total_cmp(&a.revenue))
        .then_with(|| a.item_id.cmp(&b.item_id))
}

/// The currency every item that names one names; `None` when they differ or none does.
fn common_currency(items: &[ItemTotals]) -> Option<String> {
    let mut common: Option<&str> = None;
    for t in items {
        if let Some(Value::String(c)) = t.fields.get("currency") {
            match common {
                None => common = Some(c),
                Some(x) if x == c => {}
                Some(_) => return None,
            }
        }
    }
    common.map(str::to_string)
}

/// The whole document, items sorted by counter (highest first).
pub fn items_document(mut items: Vec<ItemTotals>) -> Value {
    items.sort_by(order);
    let counter = items
        .iter()
        .fold(0i64, |sum, t| sum.saturating_add(t.counter));
    let revenue: f64 = items.iter().map(|t| t.revenue).sum();
    let profit: f64 = items.iter().map(|t| t.profit).sum();
    json!({
        "items": items.iter().map(item).collect::<Vec<_>>(),
        "totals": {
            "items": items.len(),
            "counter": counter,
            "revenue": round_money(revenue),
            "profit": round_money(profit),
            "currency": common_currency(&items),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(id: &str, counter: i64, revenue: f64, fields: Value) -> ItemTotals {
        ItemTotals {
            item_id: id.into(),
            fields: fields.as_object().cloned().unwrap_or_default(),
            counter,
            revenue,
            profit: revenue / 2.0,
            last_event_at: Some("2026-01-02T03:04:05Z".into()),
        }
    }

    #[test]
    fn shape_order_and_totals() {
        let doc = items_document(vec![
            totals("b", 1, 0.1, json!({"item_name": "B", "currency": "DKK"})),
            totals(
                "a",
                5,
                0.2,
                json!({"item_name": "A", "item_category": "Tops", "brand": "Acme", "currency": "DKK", "counter": 99}),
            ),
            totals("c", 1, 0.3, json!({})),
        ]);
        let items = doc["items"].as_array().unwrap();
        let ids: Vec<_> = items
            .iter()
            .map(|i| i["item_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["a", "c", "b"]);
        let a = items[0].as_object().unwrap();
        let keys: Vec<_> = a.keys().map(String::as_str).collect();
        assert_eq!(&keys[..7], &ITEM_KEYS);
        assert_eq!(a["counter"], 5, "a descriptive field never hides the count");
        assert_eq!(a["brand"], "Acme");
        assert_eq!(items[1]["item_name"], Value::Null);
        assert_eq!(doc["totals"]["items"], 3);
        assert_eq!(doc["totals"]["counter"], 7);
        assert_eq!(doc["totals"]["revenue"], 0.6);
        assert_eq!(doc["totals"]["profit"], 0.3);
        assert_eq!(doc["totals"]["currency"], "DKK");
    }

    #[test]
    fn empty_and_mixed_currencies() {
        let doc = items_document(vec![]);
        assert_eq!(
            doc,
            json!({"items": [], "totals": {"items": 0, "counter": 0, "revenue": 0.0, "profit": 0.0, "currency": null}})
        );
        let doc = items_document(vec![
            totals("a", 1, 1.0, json!({"currency": "DKK"})),
            totals("b", 1, 1.0, json!({"currency": "EUR"})),
        ]);
        assert_eq!(doc["totals"]["currency"], Value::Null);
    }

    #[test]
    fn money_rounding() {
        assert_eq!(round_money(0.1 + 0.2), 0.3);
        assert_eq!(round_money(f64::NAN), 0.0);
        assert_eq!(round_money(-0.0000001), 0.0);
        assert_eq!(round_money(1234.5), 1234.5);
    }
}
