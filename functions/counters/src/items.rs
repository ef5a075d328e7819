//! The message payload, parsed once at the edge: `{ "items": [ { item_id,
//! quantity, price, … } ] }` becomes typed [`Item`]s, and those become one
//! [`ItemUpdate`] per distinct item.

use hermes_core::store::{
    Currency, DocumentId, InvalidCurrency, InvalidDocumentId, ItemUpdate, RESERVED_FIELDS,
};
use serde_json::{Map, Value};
use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};

/// The largest quantity of one item in one message (either sign). Firestore
/// cannot check a stored counter before it commits (its increment stops at
/// i64::MAX rather than wrapping), so each message is bounded instead: at this
/// size, reaching i64::MAX takes nine billion maximal messages for one item.
pub const MAX_QUANTITY: i64 = 1_000_000_000;
/// The largest amount one item line of a message may add (price × quantity,
/// and its profit), in either direction: far above any real sale, and far
/// enough below f64's range that no sum of lines can become infinite, which
/// JSON and the dashboard could not show.
pub const MAX_LINE_AMOUNT: f64 = 1e15;

/// Firestore's limit on the depth of fields in maps and arrays (a top-level
/// field is depth 1): a deeper item can never be written.
pub const MAX_FIELD_DEPTH: usize = 20;

/// Why a message can never be counted (it is acknowledged with 400, and
/// Pub/Sub's dead-letter policy keeps it).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Poison {
    #[error("message data is not valid base64: {0}")]
    Base64(String),
    #[error("message data is not JSON: {0}")]
    NotJson(String),
    #[error("message data has no `items` array")]
    NoItems,
    #[error("items[{0}] is not an object")]
    ItemNotObject(usize),
    #[error("items[{0}] has no item_id (a string or a number)")]
    NoItemId(usize),
    #[error("items[{index}].item_id {}", .source)]
    BadItemId {
        index: usize,
        source: InvalidDocumentId,
    },
    #[error("items[{index}].{field}: {reason}")]
    BadNumber {
        index: usize,
        field: &'static str,
        reason: String,
    },
    #[error("items[{index}].currency {source}")]
    BadCurrency {
        index: usize,
        source: InvalidCurrency,
    },
    #[error("currency {0}")]
    BadMessageCurrency(InvalidCurrency),
    #[error("items[{index}].{field} is nested deeper than Firestore's {MAX_FIELD_DEPTH} levels")]
    TooDeep { index: usize, field: String },
    #[error("item {item_id}: the {what} of this message is beyond what can be counted")]
    Overflow {
        item_id: DocumentId,
        what: &'static str,
    },
}

/// One item of a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub item_id: DocumentId,
    pub quantity: i64,
    pub price: Option<f64>,
    /// The item's `currency`, else the message's, else `XXX`.
    pub currency: Currency,
    /// Every other field, kept as descriptive data.
    pub fields: Map<String, Value>,
}

/// Parses the decoded message data.
pub fn parse(data: &[u8]) -> Result<Vec<Item>, Poison> {
    let value: Value = serde_json::from_slice(data).map_err(|e| Poison::NotJson(e.to_string()))?;
    let Some(Value::Array(raw_items)) = value.get("items") else {
        return Err(Poison::NoItems);
    };
    let currency = match currency_of(value.get("currency")) {
        Ok(c) => c.unwrap_or_else(Currency::none),
        Err(e) => return Err(Poison::BadMessageCurrency(e)),
    };
    raw_items
        .iter()
        .enumerate()
        .map(|(i, raw)| parse_item(i, raw, &currency))
        .collect()
}

/// A currency field: absent, `null` or `""` say nothing; anything else must be a code.
fn currency_of(v: Option<&Value>) -> Result<Option<Currency>, InvalidCurrency> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Currency::parse(s).map(Some),
        Some(other) => Err(InvalidCurrency(hermes_core::excerpt::preview(
            &other.to_string(),
            16,
        ))),
    }
}

/// How deep a field holding `v` goes (a scalar field is depth 1), counted
/// only up to `limit + 1` so a pathological value costs no more than that.
fn depth(v: &Value, limit: usize) -> usize {
    if limit == 0 {
        return 1;
    }
    let inner = match v {
        Value::Array(a) => a.iter().map(|x| depth(x, limit - 1)).max().unwrap_or(0),
        Value::Object(m) => m.values().map(|x| depth(x, limit - 1)).max().unwrap_or(0),
        _ => return 1,
    };
    1 + inner
}

fn parse_item(index: usize, raw: &Value, message_currency: &Currency) -> Result<Item, Poison> {
    let Value::Object(obj) = raw else {
        return Err(Poison::ItemNotObject(index));
    };
    let item_id = match obj.get("item_id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(Poison::NoItemId(index)),
    };
    let item_id =
        DocumentId::parse(item_id).map_err(|source| Poison::BadItemId { index, source })?;
    let quantity = match obj.get("quantity") {
        None | Some(Value::Null) => 1,
        Some(v) => whole_number(v).map_err(|reason| Poison::BadNumber {
            index,
            field: "quantity",
            reason,
        })?,
    };
    if !(-MAX_QUANTITY..=MAX_QUANTITY).contains(&quantity) {
        return Err(Poison::BadNumber {
            index,
            field: "quantity",
            reason: format!("{quantity} is beyond ±{MAX_QUANTITY}"),
        });
    }
    let price = match obj.get("price") {
        None | Some(Value::Null) => None,
        Some(v) => Some(number(v).map_err(|reason| Poison::BadNumber {
            index,
            field: "price",
            reason,
        })?),
    };
    let currency = currency_of(obj.get("currency"))
        .map_err(|source| Poison::BadCurrency { index, source })?
        .unwrap_or_else(|| message_currency.clone());
    for (k, v) in obj {
        if depth(v, MAX_FIELD_DEPTH) > MAX_FIELD_DEPTH {
            return Err(Poison::TooDeep {
                index,
                field: hermes_core::excerpt::short(k),
            });
        }
    }
    let fields = obj
        .iter()
        .filter(|(k, _)| k.as_str() != "quantity" && !RESERVED_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Item {
        item_id,
        quantity,
        price,
        currency,
        fields,
    })
}

/// A finite number, from a JSON number or a numeric string.
fn number(v: &Value) -> Result<f64, String> {
    let f = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    f.filter(|f| f.is_finite())
        .ok_or_else(|| format!("{} is not a finite number", preview(v)))
}

fn whole_number(v: &Value) -> Result<i64, String> {
    if let Some(i) = v.as_i64() {
        return Ok(i);
    }
    let f = number(v)?;
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Ok(f as i64)
    } else {
        Err(format!("{} is not a whole number", preview(v)))
    }
}

/// A short preview of a value for an error text (it ends up in logs).
fn preview(v: &Value) -> String {
    hermes_core::excerpt::short(&v.to_string())
}

/// One update per distinct item id, in order of first appearance. Catalog
/// fields fill in what the event does not say; the catalog's `cost` gives
/// profit. A refund (`refund = true`) subtracts. Every sum is checked: a
/// counter beyond i64 or an amount that is not finite makes the message poison.
pub fn aggregate<D: Borrow<Map<String, Value>>>(
    items: &[Item],
    catalog: &HashMap<DocumentId, D>,
    refund: bool,
) -> Result<Vec<ItemUpdate>, Poison> {
    let mut updates: Vec<ItemUpdate> = Vec::new();
    let mut index: HashMap<&DocumentId, usize> = HashMap::new();
    let sign = if refund { -1 } else { 1 };
    for item in items {
        let slot = *index.entry(&item.item_id).or_insert_with(|| {
            let mut fields = Map::new();
            if let Some(entry) = catalog.get(&item.item_id) {
                for (k, v) in entry.borrow() {
                    if !RESERVED_FIELDS.contains(&k.as_str()) {
                        fields.insert(k.clone(), v.clone());
                    }
                }
            }
            updates.push(ItemUpdate {
                item_id: item.item_id.clone(),
                fields,
                counter: 0,
                money: BTreeMap::new(),
            });
            updates.len() - 1
        });
        let update = &mut updates[slot];
        let overflow = |what| Poison::Overflow {
            item_id: item.item_id.clone(),
            what,
        };
        for (k, v) in &item.fields {
            update.fields.insert(k.clone(), v.clone());
        }
        // |quantity| ≤ MAX_QUANTITY, so the product cannot overflow; the sum can.
        update.counter = update
            .counter
            .checked_add(sign * item.quantity)
            .ok_or_else(|| overflow("counter"))?;
        if let Some(price) = item.price {
            let quantity = (sign * item.quantity) as f64;
            let money = update.money.entry(item.currency.clone()).or_default();
            let line = price * quantity;
            if !line.is_finite() || line.abs() > MAX_LINE_AMOUNT {
                return Err(overflow("revenue"));
            }
            money.revenue += line;
            let cost = catalog
                .get(&item.item_id)
                .and_then(|c| c.borrow().get("cost"))
                .and_then(|c| number(c).ok());
            if let Some(cost) = cost {
                let line = (price - cost) * quantity;
                if !line.is_finite() || line.abs() > MAX_LINE_AMOUNT {
                    return Err(overflow("profit"));
                }
                *money.profit.get_or_insert(0.0) += line;
            }
        }
    }
    Ok(updates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hermes_core::store::CatalogEntries;
    use serde_json::json;

    fn items(v: Value) -> Result<Vec<Item>, Poison> {
        parse(v.to_string().as_bytes())
    }

    fn money(u: &ItemUpdate, currency: &str) -> (f64, Option<f64>) {
        let m = u.money[&Currency::parse(currency).unwrap()];
        (m.revenue, m.profit)
    }

    #[test]
    fn seed_example() {
        let parsed = items(json!({"items": [
            { "item_id": "123", "item_name": "Blazer", "price": 150, "quantity": 1, "currency": "DKK" },
            { "item_id": "456", "item_name": "T-Shirt", "price": 30, "quantity": 2, "currency": "DKK" }
        ]}))
        .unwrap();
        let catalog: HashMap<_, _> = [(
            DocumentId::parse("456").unwrap(),
            json!({"cost": 10, "brand": "Acme"})
                .as_object()
                .unwrap()
                .clone(),
        )]
        .into();
        let updates = aggregate(&parsed, &catalog, false).unwrap();
        assert_eq!(updates.len(), 2);
        assert_eq!(updates[0].counter, 1);
        assert_eq!(money(&updates[0], "DKK"), (150.0, None));
        assert_eq!(updates[1].counter, 2);
        assert_eq!(money(&updates[1], "DKK"), (60.0, Some(40.0)));
        assert_eq!(updates[1].fields["brand"], "Acme");
        assert_eq!(updates[1].fields["item_name"], "T-Shirt");
        assert!(!updates[1].fields.contains_key("quantity"));
        // A refund of the same message subtracts everything.
        let refund = aggregate(&parsed, &catalog, true).unwrap();
        assert_eq!(refund[1].counter, -2);
        assert_eq!(money(&refund[1], "DKK"), (-60.0, Some(-40.0)));
    }

    #[test]
    fn currencies_are_kept_apart() {
        let parsed = items(json!({"currency": "eur", "items": [
            {"item_id": "a", "price": 10, "currency": "DKK"},
            {"item_id": "a", "price": 2, "quantity": 3},
            {"item_id": "b", "price": 1, "currency": ""}
        ]}))
        .unwrap();
        let updates = aggregate(&parsed, &CatalogEntries::new(), false).unwrap();
        assert_eq!(updates[0].counter, 4);
        assert_eq!(updates[0].money.len(), 2);
        assert_eq!(money(&updates[0], "DKK"), (10.0, None));
        assert_eq!(money(&updates[0], "EUR"), (6.0, None));
        assert_eq!(money(&updates[1], "EUR"), (1.0, None));
        // No currency anywhere: XXX.
        let parsed = items(json!({"items": [{"item_id": "a", "price": 1}]})).unwrap();
        assert_eq!(parsed[0].currency.as_str(), "XXX");
    }

    #[test]
    fn repeated_item_is_one_update() {
        let parsed = items(json!({"items": [
            {"item_id": 7, "price": "2.5"}, {"item_id": "7", "quantity": "3", "price": 2.5, "item_name": "x"}
        ]}))
        .unwrap();
        let updates = aggregate(&parsed, &CatalogEntries::new(), false).unwrap();
        assert_eq!(updates.len(), 1);
        assert_eq!(updates[0].counter, 4);
        assert_eq!(money(&updates[0], "XXX"), (10.0, None));
        assert_eq!(updates[0].fields["item_name"], "x");
    }

    #[test]
    fn arithmetic_never_wraps() {
        // Each quantity is bounded, so no sum of them reaches i64::MAX.
        assert!(matches!(
            items(json!({"items": [{"item_id": "a", "quantity": i64::MAX}]})),
            Err(Poison::BadNumber {
                field: "quantity",
                ..
            })
        ));
        assert!(matches!(
            items(json!({"items": [{"item_id": "a", "quantity": -MAX_QUANTITY - 1}]})),
            Err(Poison::BadNumber {
                field: "quantity",
                ..
            })
        ));
        let max = items(json!({"items": [{"item_id": "a", "quantity": MAX_QUANTITY}]})).unwrap();
        assert_eq!(
            aggregate(&max, &CatalogEntries::new(), true).unwrap()[0].counter,
            -MAX_QUANTITY
        );
        // An amount that becomes infinite.
        let huge = items(json!({"items": [
            {"item_id": "a", "price": 1e308, "quantity": 10}
        ]}))
        .unwrap();
        assert!(matches!(
            aggregate(&huge, &CatalogEntries::new(), false),
            Err(Poison::Overflow {
                what: "revenue",
                ..
            })
        ));
        // One finite but huge price beside real money: the whole message is
        // poison, rather than a total no reader can show (it hid the real
        // 21 DKK of the other item behind `null`).
        let hidden = items(json!({"currency": "DKK", "items": [
            {"item_id": "a", "price": 1.7e308, "quantity": 1},
            {"item_id": "b", "price": 21, "quantity": 1}
        ]}))
        .unwrap();
        assert!(matches!(
            aggregate(&hidden, &CatalogEntries::new(), false),
            Err(Poison::Overflow {
                what: "revenue",
                ..
            })
        ));
        let line = items(json!({"items": [
            {"item_id": "a", "price": 1e9, "quantity": 1_000_001}
        ]}))
        .unwrap();
        assert!(aggregate(&line, &CatalogEntries::new(), false).is_err());
        let most = items(json!({"items": [
            {"item_id": "a", "price": 1e6, "quantity": MAX_QUANTITY}
        ]}))
        .unwrap();
        assert!(
            aggregate(&most, &CatalogEntries::new(), false).is_ok(),
            "exactly 1e15"
        );
        // A catalog cost that makes the profit line huge.
        let catalog: CatalogEntries = [(
            DocumentId::parse("a".to_string()).unwrap(),
            [("cost".to_string(), json!(-1e300))].into_iter().collect(),
        )]
        .into_iter()
        .collect();
        let one = items(json!({"items": [{"item_id": "a", "price": 1, "quantity": 1}]})).unwrap();
        assert!(matches!(
            aggregate(&one, &catalog, false),
            Err(Poison::Overflow { what: "profit", .. })
        ));
        // A numeric string is a quantity, as ingest's `_int` reads it; anything else is poison.
        let text = items(json!({"items": [{"item_id": "a", "quantity": "3"}]})).unwrap();
        assert_eq!(
            aggregate(&text, &CatalogEntries::new(), false).unwrap()[0].counter,
            3
        );
        for bad in ["3.5", "three", ""] {
            assert!(
                items(json!({"items": [{"item_id": "a", "quantity": bad}]})).is_err(),
                "{bad}"
            );
        }
        // Non-finite input: JSON cannot spell it, a string can.
        for bad in ["NaN", "inf", "-Infinity"] {
            assert!(matches!(
                items(json!({"items": [{"item_id": "a", "price": bad}]})),
                Err(Poison::BadNumber { field: "price", .. })
            ));
        }
        // 1e400 does not fit f64 either.
        assert!(parse(br#"{"items": [{"item_id": "a", "price": 1e400}]}"#).is_err());
    }

    #[test]
    fn nesting_and_currency_poison() {
        let nest = |levels: usize| {
            let mut v = json!(1);
            for _ in 0..levels {
                v = json!({ "k": v });
            }
            v
        };
        // A field holding 19 maps is 20 levels deep: the most Firestore takes.
        assert!(items(json!({"items": [{"item_id": "a", "deep": nest(19)}]})).is_ok());
        assert!(matches!(
            items(json!({"items": [{"item_id": "a", "deep": nest(20)}]})),
            Err(Poison::TooDeep { .. })
        ));
        assert!(matches!(
            items(json!({"items": [{"item_id": "a", "deep": [[[nest(18)]]]}]})),
            Err(Poison::TooDeep { .. })
        ));
        assert!(matches!(
            items(json!({"items": [{"item_id": "a", "currency": "E.R"}]})),
            Err(Poison::BadCurrency { .. })
        ));
        assert!(matches!(
            items(json!({"currency": 7, "items": []})),
            Err(Poison::BadMessageCurrency(_))
        ));
    }

    #[test]
    fn poison() {
        assert!(matches!(parse(b"nope"), Err(Poison::NotJson(_))));
        assert_eq!(items(json!({"x": 1})), Err(Poison::NoItems));
        assert_eq!(items(json!({"items": {}})), Err(Poison::NoItems));
        assert_eq!(items(json!({"items": [1]})), Err(Poison::ItemNotObject(0)));
        assert_eq!(
            items(json!({"items": [{"price": 1}]})),
            Err(Poison::NoItemId(0))
        );
        assert!(matches!(
            items(json!({"items": [{"item_id": "a/b"}]})),
            Err(Poison::BadItemId { .. })
        ));
        assert!(matches!(
            items(json!({"items": [{"item_id": "__x__"}]})),
            Err(Poison::BadItemId { .. })
        ));
        assert!(matches!(
            items(json!({"items": [{"item_id": "a", "quantity": 1.5}]})),
            Err(Poison::BadNumber { .. })
        ));
        assert!(matches!(
            items(json!({"items": [{"item_id": "a", "price": "x"}]})),
            Err(Poison::BadNumber { .. })
        ));
        assert_eq!(items(json!({"items": []})).unwrap().len(), 0);
    }
}
