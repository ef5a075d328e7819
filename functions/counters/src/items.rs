//! The message payload, parsed once at the edge: `{ "items": [ { item_id,
//! quantity, price, … } ] }` becomes typed [`Item`]s, and those become one
//! [`ItemUpdate`] per distinct item.

use hermes_core::store::{
    CatalogEntries, DocumentId, InvalidDocumentId, ItemUpdate, RESERVED_FIELDS,
};
use serde_json::{Map, Value};
use std::collections::HashMap;

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
}

/// One item of a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub item_id: DocumentId,
    pub quantity: i64,
    pub price: Option<f64>,
    /// Every other field, kept as descriptive data.
    pub fields: Map<String, Value>,
}

/// Parses the decoded message data.
pub fn parse(data: &[u8]) -> Result<Vec<Item>, Poison> {
    let value: Value = serde_json::from_slice(data).map_err(|e| Poison::NotJson(e.to_string()))?;
    let Some(Value::Array(raw_items)) = value.get("items") else {
        return Err(Poison::NoItems);
    };
    raw_items
        .iter()
        .enumerate()
        .map(|(i, raw)| parse_item(i, raw))
        .collect()
}

fn parse_item(index: usize, raw: &Value) -> Result<Item, Poison> {
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
    let price = match obj.get("price") {
        None | Some(Value::Null) => None,
        Some(v) => Some(number(v).map_err(|reason| Poison::BadNumber {
            index,
            field: "price",
            reason,
        })?),
    };
    let fields = obj
        .iter()
        .filter(|(k, _)| k.as_str() != "quantity" && !RESERVED_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Item {
        item_id,
        quantity,
        price,
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
        .ok_or_else(|| format!("{v} is not a number"))
}

fn whole_number(v: &Value) -> Result<i64, String> {
    if let Some(i) = v.as_i64() {
        return Ok(i);
    }
    let f = number(v)?;
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Ok(f as i64)
    } else {
        Err(format!("{v} is not a whole number"))
    }
}

/// One update per distinct item id, in order of first appearance. Catalog
/// fields fill in what the event does not say; the catalog's `cost` gives profit.
pub fn aggregate(items: &[Item], catalog: &CatalogEntries) -> Vec<ItemUpdate> {
    let mut updates: Vec<ItemUpdate> = Vec::new();
    let mut index: HashMap<&DocumentId, usize> = HashMap::new();
    for item in items {
        let slot = *index.entry(&item.item_id).or_insert_with(|| {
            let mut fields = Map::new();
            if let Some(entry) = catalog.get(&item.item_id) {
                for (k, v) in entry {
                    if !RESERVED_FIELDS.contains(&k.as_str()) {
                        fields.insert(k.clone(), v.clone());
                    }
                }
            }
            updates.push(ItemUpdate {
                item_id: item.item_id.clone(),
                fields,
                counter: 0,
                revenue: 0.0,
                profit: None,
            });
            updates.len() - 1
        });
        let update = &mut updates[slot];
        for (k, v) in &item.fields {
            update.fields.insert(k.clone(), v.clone());
        }
        update.counter += item.quantity;
        if let Some(price) = item.price {
            let quantity = item.quantity as f64;
            update.revenue += price * quantity;
            let cost = catalog
                .get(&item.item_id)
                .and_then(|c| c.get("cost"))
                .and_then(|c| number(c).ok());
            if let Some(cost) = cost {
                *update.profit.get_or_insert(0.0) += (price - cost) * quantity;
            }
        }
    }
    updates
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn items(v: Value) -> Result<Vec<Item>, Poison> {
        parse(v.to_string().as_bytes())
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
        let updates = aggregate(&parsed, &catalog);
        assert_eq!(updates.len(), 2);
        assert_eq!(
            (updates[0].counter, updates[0].revenue, updates[0].profit),
            (1, 150.0, None)
        );
        assert_eq!(
            (updates[1].counter, updates[1].revenue, updates[1].profit),
            (2, 60.0, Some(40.0))
        );
        assert_eq!(updates[1].fields["brand"], "Acme");
        assert_eq!(updates[1].fields["item_name"], "T-Shirt");
        assert!(!updates[1].fields.contains_key("quantity"));
    }

    #[test]
    fn repeated_item_is_one_update() {
        let parsed = items(json!({"items": [
            {"item_id": 7, "price": "2.5"}, {"item_id": "7", "quantity": "3", "price": 2.5, "item_name": "x"}
        ]}))
        .unwrap();
        let updates = aggregate(&parsed, &HashMap::new());
        assert_eq!(updates.len(), 1);
        assert_eq!(updates[0].counter, 4);
        assert_eq!(updates[0].revenue, 10.0);
        assert_eq!(updates[0].fields["item_name"], "x");
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
