//! The JSON the page and `GET /api/items` see: the fixed shape
//! `{ "items": [ { "item_id", "item_name", "item_category", "counter", "revenue",
//! "profit", "last_event_at", …other descriptive fields } ], "totals": { "items",
//! "counter", "revenue", "profit" } }`, items sorted by counter, highest first.
//! Every `revenue` and `profit` is an object currency → amount
//! (`{"DKK": 150.0, "EUR": 20.0}`): amounts in different currencies are never added.

use hermes_core::store::{add_amounts, Amounts, ItemTotals};
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
/// more than micro-units. An amount too large for micro-units to matter (or
/// not finite) is kept as it is.
pub fn round_money(x: f64) -> f64 {
    // Beyond 2^53 micro-units an f64 holds no fraction of a micro-unit.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    let scaled = x * 1e6;
    if !scaled.is_finite() || scaled.abs() >= EXACT {
        return x;
    }
    let r = scaled.round() / 1e6;
    if r == 0.0 {
        0.0 // no "-0.0"
    } else {
        r
    }
}

/// An amount in JSON: a number, or — JSON having no such numbers — the
/// string `"Infinity"`, `"-Infinity"` or `"NaN"` for a stored amount that is
/// not finite (Hermes never writes one; a sum of huge amounts can overflow).
/// Never `null` or 0 in place of what the store holds.
pub fn amount_json(x: f64) -> Value {
    let rounded = round_money(x);
    match serde_json::Number::from_f64(rounded) {
        Some(n) => Value::Number(n),
        None if x.is_nan() => Value::String("NaN".into()),
        None if x > 0.0 => Value::String("Infinity".into()),
        None => Value::String("-Infinity".into()),
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
    out.insert("revenue".into(), money(&t.revenue));
    out.insert("profit".into(), money(&t.profit));
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

/// `{ "DKK": 150.0, … }`, rounded, currencies in code order.
fn money(amounts: &Amounts) -> Value {
    Value::Object(
        amounts
            .iter()
            .map(|(currency, amount)| (currency.clone(), amount_json(*amount)))
            .collect(),
    )
}

/// By counter (amounts in different currencies have no order), then by id.
fn order(a: &ItemTotals, b: &ItemTotals) -> Ordering {
    b.counter
        .cmp(&a.counter)
        .then_with(|| a.item_id.cmp(&b.item_id))
}

/// The whole document, items sorted by counter (highest first).
pub fn items_document(mut items: Vec<ItemTotals>) -> Value {
    items.sort_by(order);
    let counter = items
        .iter()
        .fold(0i64, |sum, t| sum.saturating_add(t.counter));
    let (mut revenue, mut profit) = (Amounts::new(), Amounts::new());
    for t in &items {
        add_amounts(&mut revenue, &t.revenue);
        add_amounts(&mut profit, &t.profit);
    }
    json!({
        "items": items.iter().map(item).collect::<Vec<_>>(),
        "totals": {
            "items": items.len(),
            "counter": counter,
            "revenue": money(&revenue),
            "profit": money(&profit),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(id: &str, counter: i64, revenue: &[(&str, f64)], fields: Value) -> ItemTotals {
        let amounts: Amounts = revenue.iter().map(|(c, a)| (c.to_string(), *a)).collect();
        ItemTotals {
            item_id: id.into(),
            fields: fields.as_object().cloned().unwrap_or_default(),
            counter,
            profit: amounts.iter().map(|(c, a)| (c.clone(), a / 2.0)).collect(),
            revenue: amounts,
            last_event_at: Some("2026-01-02T03:04:05Z".into()),
        }
    }

    #[test]
    fn shape_order_and_totals() {
        let doc = items_document(vec![
            totals("b", 1, &[("DKK", 0.1)], json!({"item_name": "B"})),
            totals(
                "a",
                5,
                &[("DKK", 0.2)],
                json!({"item_name": "A", "item_category": "Tops", "brand": "Acme", "counter": 99}),
            ),
            totals("c", 1, &[("DKK", 0.3)], json!({})),
        ]);
        let items = doc["items"].as_array().unwrap();
        let ids: Vec<_> = items
            .iter()
            .map(|i| i["item_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
        let a = items[0].as_object().unwrap();
        let keys: Vec<_> = a.keys().map(String::as_str).collect();
        assert_eq!(&keys[..7], &ITEM_KEYS);
        assert_eq!(a["counter"], 5, "a descriptive field never hides the count");
        assert_eq!(a["brand"], "Acme");
        assert_eq!(a["revenue"], json!({"DKK": 0.2}));
        assert_eq!(items[2]["item_name"], Value::Null);
        assert_eq!(
            doc["totals"],
            json!({"items": 3, "counter": 7, "revenue": {"DKK": 0.6}, "profit": {"DKK": 0.3}})
        );
    }

    #[test]
    fn empty_and_mixed_currencies() {
        let doc = items_document(vec![]);
        assert_eq!(
            doc,
            json!({"items": [], "totals": {"items": 0, "counter": 0, "revenue": {}, "profit": {}}})
        );
        let doc = items_document(vec![
            totals("a", 1, &[("DKK", 150.0), ("EUR", 20.0)], json!({})),
            totals("b", 1, &[("EUR", 1.5)], json!({})),
        ]);
        assert_eq!(
            doc["items"][0]["revenue"],
            json!({"DKK": 150.0, "EUR": 20.0})
        );
        assert_eq!(doc["totals"]["revenue"], json!({"DKK": 150.0, "EUR": 21.5}));
        assert_eq!(doc["totals"]["profit"], json!({"DKK": 75.0, "EUR": 10.75}));
    }

    #[test]
    fn money_rounding() {
        assert_eq!(round_money(0.1 + 0.2), 0.3);
        assert!(round_money(f64::NAN).is_nan());
        assert_eq!(round_money(-0.0000001), 0.0);
        assert_eq!(round_money(1234.5), 1234.5);
        assert_eq!(round_money(1.7e308), 1.7e308);
    }

    /// A stored amount is shown as it is: a huge one as a number (rounding
    /// it once overflowed to null), a non-finite one or a sum that overflows
    /// as a string, never null or 0; other currencies' totals are untouched.
    #[test]
    fn amounts_are_never_null_or_zero_in_place_of_what_is_stored() {
        let doc = items_document(vec![
            totals("huge", 1, &[("DKK", 1.7e308)], json!({})),
            totals("huge2", 1, &[("DKK", 1.7e308)], json!({})),
            totals("real", 1, &[("DKK", 21.0), ("EUR", 5.0)], json!({})),
            totals(
                "broken",
                1,
                &[("SEK", f64::NAN), ("NOK", f64::NEG_INFINITY)],
                json!({}),
            ),
        ]);
        let item = |id: &str| {
            doc["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["item_id"] == id)
                .unwrap()
                .clone()
        };
        assert_eq!(item("huge")["revenue"], json!({"DKK": 1.7e308}));
        assert_eq!(
            item("broken")["revenue"],
            json!({"NOK": "-Infinity", "SEK": "NaN"})
        );
        assert_eq!(
            doc["totals"]["revenue"],
            json!({"DKK": "Infinity", "EUR": 5.0, "NOK": "-Infinity", "SEK": "NaN"})
        );
    }
}
