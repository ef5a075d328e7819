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
    pub(super) db: Db,
    /// Rows of `items` read so far.
    rows_read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl SqliteStore {
    pub fn new(db: Db) -> Self {
        Self {
            db,
            rows_read: Default::default(),
        }
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

/// The items columns every read takes.
const ITEM_COLUMNS: &str = "item_id, fields, counter, revenue, profit, last_event_at";
/// The items changed after a time: a range of the `items_by_change` index.
pub(crate) const CHANGED_SQL: &str =
    "SELECT item_id, fields, counter, revenue, profit, last_event_at FROM items \
     WHERE last_event_at > ?1 LIMIT ?2";
/// Items per page of a scan (each page one short hold of the connection).
const SCAN_PAGE: i64 = 1000;

/// A row of `items` as totals (money from `item_money` is added after).
fn item_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ItemTotals> {
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
}

/// Adds one `item_money` row to its item's totals.
fn add_money(t: &mut ItemTotals, currency: String, revenue: f64, profit: Option<f64>) {
    *t.revenue.entry(currency.clone()).or_insert(0.0) += revenue;
    if let Some(p) = profit {
        *t.profit.entry(currency).or_insert(0.0) += p;
    }
}

type MoneyRow = (String, String, f64, Option<f64>);

fn money_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MoneyRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

/// Each item's money, by primary-key lookups (items found by an index range).
fn with_money(c: &Connection, items: &mut [ItemTotals]) -> rusqlite::Result<()> {
    let mut stmt = c.prepare_cached(
        "SELECT item_id, currency, revenue, profit FROM item_money WHERE item_id = ?1",
    )?;
    for t in items {
        for row in stmt.query_map(params![t.item_id], money_row)? {
            let (_, currency, revenue, profit) = row?;
            add_money(t, currency, revenue, profit);
        }
    }
    Ok(())
}

/// One page of every item, in id order after `after`.
fn scan_page(c: &Connection, after: Option<&str>) -> rusqlite::Result<Vec<ItemTotals>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {ITEM_COLUMNS} FROM items WHERE ?1 IS NULL OR item_id > ?1 \
         ORDER BY item_id LIMIT ?2"
    ))?;
    let mut items: Vec<ItemTotals> = stmt
        .query_map(params![after, SCAN_PAGE], item_row)?
        .collect::<rusqlite::Result<_>>()?;
    with_money(c, &mut items)?;
    Ok(items)
}

impl SqliteStore {
    /// Rows of `items` the reads have taken (for the tests of what a read costs).
    #[cfg(test)]
    pub fn rows_read(&self) -> u64 {
        self.rows_read.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn count_rows(&self, n: usize) {
        self.rows_read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
    }
}

impl ItemsReader for SqliteStore {
    fn items(&self) -> BoxFuture<'_, Result<Vec<ItemTotals>, StoreError>> {
        Box::pin(async move {
            let items = self
                .db
                .call(|c| {
                    let mut stmt = c.prepare_cached(&format!(
                        "SELECT {ITEM_COLUMNS} FROM items ORDER BY item_id"
                    ))?;
                    let rows = stmt.query_map([], item_row)?;
                    let mut items: Vec<ItemTotals> = rows.collect::<rusqlite::Result<_>>()?;
                    let by_id: HashMap<String, usize> = items
                        .iter()
                        .enumerate()
                        .map(|(i, t)| (t.item_id.clone(), i))
                        .collect();
                    let mut stmt = c.prepare_cached(
                        "SELECT item_id, currency, revenue, profit FROM item_money",
                    )?;
                    for row in stmt.query_map([], money_row)? {
                        let (id, currency, revenue, profit) = row?;
                        if let Some(t) = by_id.get(&id).and_then(|&i| items.get_mut(i)) {
                            add_money(t, currency, revenue, profit);
                        }
                    }
                    Ok(items)
                })
                .await
                .map_err(StoreError::transient)?;
            self.count_rows(items.len());
            Ok(items)
        })
    }

    /// Every item, a page at a time (one row per item: no shards here).
    fn scan_parts<'a>(
        &'a self,
        each: &'a mut (dyn FnMut(ItemTotals) + Send),
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut after: Option<String> = None;
            loop {
                let from = after.clone();
                let page = self
                    .db
                    .call(move |c| scan_page(c, from.as_deref()))
                    .await
                    .map_err(StoreError::transient)?;
                self.count_rows(page.len());
                let full = page.len() as i64 >= SCAN_PAGE;
                after = page.last().map(|t| t.item_id.clone());
                page.into_iter().for_each(&mut *each);
                if !full {
                    return Ok(());
                }
            }
        })
    }

    /// The rows whose `last_event_at` (the commit's time) is after `since`,
    /// found through the `items_by_change` index.
    fn items_changed_since(
        &self,
        since: SystemTime,
        at_most: usize,
    ) -> BoxFuture<'_, Result<Option<Vec<ItemTotals>>, StoreError>> {
        Box::pin(async move {
            let since = format_timestamp(since);
            let limit = i64::try_from(at_most).unwrap_or(i64::MAX - 1) + 1;
            let items = self
                .db
                .call(move |c| {
                    let mut stmt = c.prepare_cached(CHANGED_SQL)?;
                    let mut items: Vec<ItemTotals> = stmt
                        .query_map(params![since, limit], item_row)?
                        .collect::<rusqlite::Result<_>>()?;
                    if items.len() <= at_most {
                        with_money(c, &mut items)?;
                    }
                    Ok(items)
                })
                .await
                .map_err(StoreError::transient)?;
            self.count_rows(items.len());
            Ok((items.len() <= at_most).then_some(items))
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

    /// The dashboard's read of the changed items (README, The dashboard):
    /// through the `last_event_at` index, its rows only the changed ones,
    /// each with its money; the full scan reads every row once, by pages.
    #[tokio::test]
    async fn the_changed_read_takes_only_the_changed_rows_through_the_index() {
        let store = SqliteStore::new(Db::memory().unwrap());
        let ids: Vec<String> = (0..2500).map(|i| format!("i{i:05}")).collect();
        for chunk in ids.chunks(500) {
            let items: Vec<(&str, i64, f64)> =
                chunk.iter().map(|id| (id.as_str(), 1, 2.0)).collect();
            store.apply(&commit(&chunk[0], &items)).await.unwrap();
        }
        let plan: Vec<String> = store
            .db
            .call(|c| {
                let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {CHANGED_SQL}"))?;
                let rows =
                    stmt.query_map(params!["2026-01-01T00:00:00.000000Z", 10], |r| r.get(3))?;
                rows.collect()
            })
            .await
            .unwrap();
        assert!(
            plan.iter()
                .any(|p| p.contains("USING INDEX items_by_change")),
            "{plan:?}"
        );

        let mut seen = 0;
        let before = store.rows_read();
        store.scan_parts(&mut |_| seen += 1).await.unwrap();
        assert_eq!(seen, 2500);
        assert_eq!(store.rows_read() - before, 2500);

        let since = SystemTime::now();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let before = store.rows_read();
        assert!(store
            .items_changed_since(since, 1000)
            .await
            .unwrap()
            .unwrap()
            .is_empty());
        assert_eq!(store.rows_read(), before, "nothing changed, no rows read");

        store
            .apply(&commit("late", &[("i00042", 3, 7.0)]))
            .await
            .unwrap();
        let before = store.rows_read();
        let changed = store
            .items_changed_since(since, 1000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(store.rows_read() - before, 1, "one change, one row");
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].item_id, "i00042");
        assert_eq!(changed[0].counter, 4);
        assert_eq!(changed[0].revenue["DKK"], 9.0);
        assert_eq!(changed[0].profit["DKK"], 2.0);
    }
}
