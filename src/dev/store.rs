//! [`SqliteStore`]: the counters of `hermes dev`, with the same exactly-once
//! semantics as Firestore (the marker row and the item rows in one transaction).
//! The marker id is the one the counters logic derives for Firestore, from the
//! subscription, the event and the part (README, "The counters function").

use super::db::Db;
use hermes_core::future::BoxFuture;
use hermes_core::store::{
    Amounts, Applied, CatalogEntries, CounterCommit, CounterStore, DocumentId, ItemTotals,
    ItemsReader, StoreError, NO_CURRENCY,
};
use hermes_core::time::format_timestamp;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::time::SystemTime;

/// The counters of `hermes dev`. Sharding does not apply: SQLite has no
/// per-document write limit, so every item is one row.
#[derive(Clone)]
pub struct SqliteStore {
    db: Db,
}

impl SqliteStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Adds or replaces a catalog entry (`hermes dev`'s stand-in for `catalog/{id}` documents).
    pub async fn put_catalog(
        &self,
        item_id: &DocumentId,
        fields: Map<String, Value>,
    ) -> Result<(), StoreError> {
        let id = item_id.to_string();
        let text = Value::Object(fields).to_string();
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT INTO catalog (item_id, fields) VALUES (?1, ?2)
                     ON CONFLICT (item_id) DO UPDATE SET fields = excluded.fields",
                    params![id, text],
                )
            })
            .await
            .map(|_| ())
            .map_err(StoreError::transient)
    }
}

/// Why a commit cannot be applied on any retry.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("item {item_id}: the counter would go beyond i64 (stored {stored}, adding {delta})")]
    CounterOverflow {
        item_id: String,
        stored: i64,
        delta: i64,
    },
    #[error("item {item_id}: {what} in {currency} would not be a finite number")]
    NotFinite {
        item_id: String,
        currency: String,
        what: &'static str,
    },
}

/// A stored counter as an integer. A dev database written before counters
/// were checked may hold a REAL one; it is read rounded (saturating).
fn counter_value(v: rusqlite::types::Value) -> i64 {
    match v {
        rusqlite::types::Value::Integer(i) => i,
        rusqlite::types::Value::Real(f) if f.is_finite() => f.round() as i64,
        _ => 0,
    }
}

/// Applies the commit in one transaction. Every sum is computed here with
/// checked arithmetic and written back as an INTEGER (counter) or a finite REAL:
/// SQLite's own `+` turns an overflowing integer into a REAL, and the column
/// would stop being readable as a counter.
fn apply_commit(
    conn: &mut Connection,
    commit: &CounterCommit,
    now: &str,
) -> rusqlite::Result<Result<Applied, Refusal>> {
    let tx = conn.transaction()?;
    // Only a row with this marker id makes the insert a no-op: that is the
    // proof of a duplicate. Any other failure (another constraint, I/O) is an
    // error, never a silent acknowledgement.
    let inserted = tx.execute(
        "INSERT INTO processed (marker_id, expire_at) VALUES (?1, ?2)
         ON CONFLICT (marker_id) DO NOTHING",
        params![
            commit.marker_id.as_str(),
            format_timestamp(commit.expire_at)
        ],
    )?;
    if inserted == 0 {
        // Dropping the transaction rolls back: a duplicate changes nothing.
        return Ok(Ok(Applied::Duplicate));
    }
    for item in &commit.items {
        let id = item.item_id.as_str();
        let existing: Option<(String, rusqlite::types::Value)> = tx
            .query_row(
                "SELECT fields, counter FROM items WHERE item_id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (fields, stored) = match existing {
            Some((text, counter)) => (
                serde_json::from_str::<Map<String, Value>>(&text).ok(),
                counter_value(counter),
            ),
            None => (None, 0),
        };
        let mut fields = fields.unwrap_or_default();
        fields.extend(item.fields.clone());
        let Some(counter) = stored.checked_add(item.counter) else {
            // Dropping the transaction rolls back the marker too.
            return Ok(Err(Refusal::CounterOverflow {
                item_id: id.to_string(),
                stored,
                delta: item.counter,
            }));
        };
        tx.execute(
            "INSERT INTO items (item_id, fields, counter, revenue, profit, last_event_at)
             VALUES (?1, ?2, ?3, 0, 0, ?4)
             ON CONFLICT (item_id) DO UPDATE SET
               fields = excluded.fields,
               counter = excluded.counter,
               last_event_at = excluded.last_event_at",
            params![id, Value::Object(fields).to_string(), counter, now],
        )?;
        for (currency, money) in &item.money {
            let stored: Option<(f64, Option<f64>)> = tx
                .query_row(
                    "SELECT revenue, profit FROM item_money WHERE item_id = ?1 AND currency = ?2",
                    params![id, currency.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let (revenue, profit) = stored.unwrap_or((0.0, None));
            let revenue = revenue + money.revenue;
            let profit = match (profit, money.profit) {
                (p, None) => p,
                (p, Some(d)) => Some(p.unwrap_or(0.0) + d),
            };
            let bad = |what| {
                Ok(Err(Refusal::NotFinite {
                    item_id: id.to_string(),
                    currency: currency.to_string(),
                    what,
                }))
            };
            if !revenue.is_finite() {
                return bad("revenue");
            }
            if profit.is_some_and(|p| !p.is_finite()) {
                return bad("profit");
            }
            tx.execute(
                "INSERT INTO item_money (item_id, currency, revenue, profit) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (item_id, currency) DO UPDATE SET
                   revenue = excluded.revenue, profit = excluded.profit",
                params![id, currency.as_str(), revenue, profit],
            )?;
        }
    }
    tx.commit()?;
    Ok(Ok(Applied::Applied))
}

impl CounterStore for SqliteStore {
    fn apply<'a>(
        &'a self,
        commit: &'a CounterCommit,
    ) -> BoxFuture<'a, Result<Applied, StoreError>> {
        Box::pin(async move {
            let commit = commit.clone();
            let now = format_timestamp(SystemTime::now());
            self.db
                .call(move |c| apply_commit(c, &commit, &now))
                .await
                .map_err(StoreError::transient)?
                .map_err(|e| StoreError::Refused(e.into()))
        })
    }

    fn catalog<'a>(
        &'a self,
        item_ids: &'a [DocumentId],
    ) -> BoxFuture<'a, Result<CatalogEntries, StoreError>> {
        Box::pin(async move {
            let ids = item_ids.to_vec();
            self.db
                .call(move |c| {
                    let mut stmt =
                        c.prepare_cached("SELECT fields FROM catalog WHERE item_id = ?1")?;
                    let mut found = CatalogEntries::new();
                    for id in ids {
                        let text: Option<String> = stmt
                            .query_row(params![id.as_str()], |r| r.get(0))
                            .optional()?;
                        if let Some(fields) = text.and_then(|t| serde_json::from_str(&t).ok()) {
                            found.insert(id, fields);
                        }
                    }
                    Ok(found)
                })
                .await
                .map_err(StoreError::transient)
        })
    }
}

impl ItemsReader for SqliteStore {
    fn items(&self) -> BoxFuture<'_, Result<Vec<ItemTotals>, StoreError>> {
        Box::pin(async move {
            self.db
                .call(|c| {
                    let mut stmt = c.prepare_cached(
                        "SELECT item_id, fields, counter, revenue, profit, last_event_at FROM items ORDER BY item_id",
                    )?;
                    let rows = stmt.query_map([], |r| {
                        let fields: String = r.get(1)?;
                        // A non-finite amount is shown as it is, never as 0.
                        let legacy = |amount: f64| -> Amounts {
                            if amount != 0.0 {
                                [(NO_CURRENCY.to_string(), amount)].into()
                            } else {
                                Amounts::new()
                            }
                        };
                        Ok(ItemTotals {
                            item_id: r.get(0)?,
                            fields: serde_json::from_str(&fields).unwrap_or_default(),
                            counter: counter_value(r.get(2)?),
                            revenue: legacy(r.get(3)?),
                            profit: legacy(r.get(4)?),
                            last_event_at: r.get(5)?,
                        })
                    })?;
                    let mut items: Vec<ItemTotals> = rows.collect::<rusqlite::Result<_>>()?;
                    let by_id: HashMap<String, usize> = items
                        .iter()
                        .enumerate()
                        .map(|(i, t)| (t.item_id.clone(), i))
                        .collect();
                    let mut stmt = c.prepare_cached(
                        "SELECT item_id, currency, revenue, profit FROM item_money",
                    )?;
                    let money = stmt.query_map([], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, f64>(2)?,
                            r.get::<_, Option<f64>>(3)?,
                        ))
                    })?;
                    for row in money {
                        let (id, currency, revenue, profit) = row?;
                        let Some(t) = by_id.get(&id).and_then(|&i| items.get_mut(i)) else {
                            continue;
                        };
                        *t.revenue.entry(currency.clone()).or_insert(0.0) += revenue;
                        if let Some(p) = profit {
                            *t.profit.entry(currency).or_insert(0.0) += p;
                        }
                    }
                    Ok(items)
                })
                .await
                .map_err(StoreError::transient)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hermes_core::destination::ATTR_EVENT_ID;
    use hermes_core::store::{Currency, EventIdentity, ItemUpdate, MarkerOrigin, Money};
    use hermes_counters::settings::Settings;
    use hermes_counters::{Counters, Outcome};
    use hermes_push::marker_id;
    use hermes_push::PushMessage;
    use hermes_push::{FailureClass, JobError};
    use std::sync::Arc;
    use std::time::Duration;

    fn commit(event: &str, items: &[(&str, i64, f64)]) -> CounterCommit {
        let origin = MarkerOrigin {
            subscription: "projects/p/subscriptions/s".into(),
            event: EventIdentity::EventId(event.into()),
            part: 0,
        };
        CounterCommit {
            marker_id: marker_id(&origin),
            marker: origin,
            shard: None,
            items: items
                .iter()
                .map(|(id, c, r)| ItemUpdate {
                    item_id: DocumentId::parse(*id).unwrap(),
                    fields: [(
                        "item_name".to_string(),
                        Value::from(format!("name of {id}")),
                    )]
                    .into_iter()
                    .collect(),
                    counter: *c,
                    money: [(
                        Currency::parse("DKK").unwrap(),
                        Money {
                            revenue: *r,
                            profit: Some(1.0),
                        },
                    )]
                    .into(),
                })
                .collect(),
            expire_at: SystemTime::now() + Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn exactly_once_per_marker() {
        let store = SqliteStore::new(Db::memory().unwrap());
        assert_eq!(
            store
                .apply(&commit("m1", &[("a", 2, 10.0), ("b", 1, 5.0)]))
                .await
                .unwrap(),
            Applied::Applied
        );
        assert_eq!(
            store.apply(&commit("m1", &[("a", 2, 10.0)])).await.unwrap(),
            Applied::Duplicate
        );
        assert_eq!(
            store.apply(&commit("m2", &[("a", 1, 5.0)])).await.unwrap(),
            Applied::Applied
        );
        let items = store.items().await.unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].counter, 3);
        assert_eq!(items[0].revenue, [("DKK".to_string(), 15.0)].into());
        assert_eq!(items[0].profit, [("DKK".to_string(), 2.0)].into());
        assert_eq!(items[0].fields["item_name"], "name of a");
        assert!(items[0].last_event_at.is_some());
    }

    fn push(message_id: &str, event_id: &str, subscription: &str) -> PushMessage {
        message(
            message_id,
            event_id,
            subscription,
            r#"{"items": [{"item_id": "a", "quantity": 2}]}"#,
        )
    }

    fn message(message_id: &str, event_id: &str, subscription: &str, data: &str) -> PushMessage {
        PushMessage {
            message_id: message_id.into(),
            data: data.as_bytes().to_vec(),
            attributes: [(ATTR_EVENT_ID.to_string(), event_id.to_string())].into(),
            publish_time: None,
            subscription: subscription.into(),
            delivery_attempt: Some(1),
        }
    }

    #[tokio::test]
    async fn the_counters_logic_counts_once_per_event_and_subscription() {
        let store = SqliteStore::new(Db::memory().unwrap());
        let counters = Counters::new(Settings::default(), Arc::new(store.clone()));
        let (s, t) = ("projects/p/subscriptions/s", "projects/p/subscriptions/t");
        let applied = Outcome::Applied { items: 1, parts: 1 };
        // A re-publish of the event (another message id) is a duplicate.
        assert_eq!(counters.count(&push("1", "e-1", s)).await.unwrap(), applied);
        assert_eq!(
            counters.count(&push("2", "e-1", s)).await.unwrap(),
            Outcome::Duplicate
        );
        // Another subscription is another consumer: it counts the event too.
        assert_eq!(counters.count(&push("1", "e-1", t)).await.unwrap(), applied);
        assert_eq!(counters.count(&push("3", "e-2", s)).await.unwrap(), applied);
        let items = store.items().await.unwrap();
        assert_eq!(items[0].counter, 6);
    }

    #[tokio::test]
    async fn catalog_round_trip() {
        let store = SqliteStore::new(Db::memory().unwrap());
        let fields: Map<String, Value> =
            serde_json::from_str(r#"{"cost": 10, "brand": "Acme"}"#).unwrap();
        let (a, b) = (
            DocumentId::parse("a").unwrap(),
            DocumentId::parse("b").unwrap(),
        );
        store.put_catalog(&a, fields.clone()).await.unwrap();
        let found = store.catalog(&[a.clone(), b]).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[&a], fields);
    }

    async fn column_types(store: &SqliteStore) -> Vec<String> {
        store
            .db
            .call(|c| {
                let mut stmt = c.prepare("SELECT typeof(counter) FROM items")?;
                let types = stmt.query_map([], |r| r.get(0))?.collect();
                types
            })
            .await
            .unwrap()
    }

    async fn execute(store: &SqliteStore, sql: &'static str) {
        store.db.call(move |c| c.execute(sql, [])).await.unwrap();
    }

    #[tokio::test]
    async fn currencies_and_refunds_sum_apart() {
        let store = SqliteStore::new(Db::memory().unwrap());
        let eur: Map<String, Value> = serde_json::from_str(r#"{"cost": 4}"#).unwrap();
        store
            .put_catalog(&DocumentId::parse("a").unwrap(), eur)
            .await
            .unwrap();
        let counters = Counters::new(Settings::default(), Arc::new(store.clone()));
        let s = "projects/p/subscriptions/s";
        let sale = r#"{"currency": "EUR", "items": [
            {"item_id": "a", "price": 10, "quantity": 2},
            {"item_id": "a", "price": 100, "currency": "DKK"},
            {"item_id": "b", "price": 5, "currency": "DKK"}]}"#;
        counters.count(&message("1", "e1", s, sale)).await.unwrap();
        let mut refund = message(
            "2",
            "e2",
            s,
            r#"{"items": [{"item_id": "a", "price": 10, "currency": "EUR"}]}"#,
        );
        refund
            .attributes
            .insert("event_name".into(), "refund".into());
        counters.count(&refund).await.unwrap();
        let items = store.items().await.unwrap();
        assert_eq!(items[0].counter, 2, "3 sold, 1 refunded");
        let revenue: Amounts = [("DKK".to_string(), 100.0), ("EUR".to_string(), 10.0)].into();
        assert_eq!(items[0].revenue, revenue);
        let profit: Amounts = [("DKK".to_string(), 96.0), ("EUR".to_string(), 6.0)].into();
        assert_eq!(items[0].profit, profit);
        assert_eq!(items[1].revenue, [("DKK".to_string(), 5.0)].into());
        assert!(items[1].profit.is_empty(), "no cost known for b");
    }

    #[tokio::test]
    async fn huge_quantities_are_poison_and_the_counter_column_stays_integer() {
        let store = SqliteStore::new(Db::memory().unwrap());
        let counters = Counters::new(Settings::default(), Arc::new(store.clone()));
        let s = "projects/p/subscriptions/s";
        counters.count(&push("0", "e0", s)).await.unwrap();
        // Two items of i64::MAX used to wrap to -2 (and SQLite then stored a REAL).
        let max = format!(
            r#"{{"items": [{{"item_id": "a", "quantity": {m}}}, {{"item_id": "a", "quantity": {m}}}]}}"#,
            m = i64::MAX
        );
        let err = counters
            .count(&message("1", "e1", s, &max))
            .await
            .unwrap_err();
        assert_eq!(err.class(), FailureClass::Poison, "{err}");
        assert_eq!(
            store.items().await.unwrap()[0].counter,
            2,
            "nothing written"
        );
        // A stored counter near i64::MAX (written by hand): the store itself refuses.
        execute(&store, "UPDATE items SET counter = 9223372036854775806").await;
        let err = counters.count(&push("2", "e2", s)).await.unwrap_err();
        assert_eq!(err.class(), FailureClass::Poison, "{err}");
        assert_eq!(column_types(&store).await, ["integer"]);
        assert_eq!(store.items().await.unwrap()[0].counter, i64::MAX - 1);
        // The refusal rolled the marker back too: the event is not "done".
        let markers: i64 = store
            .db
            .call(|c| c.query_row("SELECT count(*) FROM processed", [], |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(markers, 1);
    }

    #[tokio::test]
    async fn legacy_rows_read_as_xxx_and_real_counters_are_read() {
        let store = SqliteStore::new(Db::memory().unwrap());
        execute(
            &store,
            "INSERT INTO items (item_id, fields, counter, revenue, profit) VALUES ('a', '{}', 9.3e18, 12.5, 0)",
        )
        .await;
        let items = store.items().await.unwrap();
        assert_eq!(items[0].counter, i64::MAX);
        assert_eq!(items[0].revenue, [("XXX".to_string(), 12.5)].into());
        assert!(items[0].profit.is_empty());
    }
}
