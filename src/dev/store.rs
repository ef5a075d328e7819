//! [`SqliteStore`]: the counters of `hermes dev`, with the same exactly-once
//! semantics as Firestore (the marker row and the item rows in one transaction).
//! The marker id is the one the counters logic derives for Firestore, from the
//! subscription, the event and the part (README, "The counters function").

use super::db::Db;
use hermes_core::future::BoxFuture;
use hermes_core::store::{
    Applied, CatalogEntries, CounterCommit, CounterStore, DocumentId, ItemTotals, ItemsReader,
    StoreError,
};
use hermes_core::time::format_timestamp;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{Map, Value};
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

fn apply_commit(
    conn: &mut Connection,
    commit: &CounterCommit,
    now: &str,
) -> rusqlite::Result<Applied> {
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
        return Ok(Applied::Duplicate);
    }
    for item in &commit.items {
        let existing: Option<String> = tx
            .query_row(
                "SELECT fields FROM items WHERE item_id = ?1",
                params![item.item_id.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        let mut fields = existing
            .and_then(|t| serde_json::from_str::<Map<String, Value>>(&t).ok())
            .unwrap_or_default();
        fields.extend(item.fields.clone());
        tx.execute(
            "INSERT INTO items (item_id, fields, counter, revenue, profit, last_event_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (item_id) DO UPDATE SET
               fields = excluded.fields,
               counter = counter + excluded.counter,
               revenue = revenue + excluded.revenue,
               profit = profit + excluded.profit,
               last_event_at = excluded.last_event_at",
            params![
                item.item_id.as_str(),
                Value::Object(fields).to_string(),
                item.counter,
                item.revenue,
                item.profit.unwrap_or(0.0),
                now
            ],
        )?;
    }
    tx.commit()?;
    Ok(Applied::Applied)
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
                .map_err(StoreError::transient)
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
                        Ok(ItemTotals {
                            item_id: r.get(0)?,
                            fields: serde_json::from_str(&fields).unwrap_or_default(),
                            counter: r.get(2)?,
                            revenue: r.get(3)?,
                            profit: r.get(4)?,
                            last_event_at: r.get(5)?,
                        })
                    })?;
                    rows.collect()
                })
                .await
                .map_err(StoreError::transient)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hermes_core::hermes::ATTR_EVENT_ID;
    use hermes_core::push::PushMessage;
    use hermes_core::store::{EventIdentity, ItemUpdate, MarkerOrigin};
    use hermes_counters::marker::marker_id;
    use hermes_counters::settings::Settings;
    use hermes_counters::{Counters, Outcome};
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
                    revenue: *r,
                    profit: Some(1.0),
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
        assert_eq!(
            (items[0].counter, items[0].revenue, items[0].profit),
            (3, 15.0, 2.0)
        );
        assert_eq!(items[0].fields["item_name"], "name of a");
        assert!(items[0].last_event_at.is_some());
    }

    fn push(message_id: &str, event_id: &str, subscription: &str) -> PushMessage {
        PushMessage {
            message_id: message_id.into(),
            data: br#"{"items": [{"item_id": "a", "quantity": 2}]}"#.to_vec(),
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
}
