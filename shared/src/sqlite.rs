//! The embedded backends of `hermes dev`, in one SQLite file: [`SqliteStore`]
//! (a [`CounterStore`] with the same exactly-once semantics as Firestore) and
//! the tables of the durable queue (`crate::pubsub::queue`).

use crate::firestore::value::format_timestamp;
use crate::pubsub::BoxFuture;
use crate::store::{Applied, CatalogEntries, CounterCommit, CounterStore, ItemTotals, StoreError};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension};
use serde_json::{Map, Value};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    data BLOB NOT NULL,
    attributes TEXT NOT NULL,
    publish_time TEXT NOT NULL,
    push INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    dead INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS queue_due ON queue (push, dead, next_attempt_ms);
CREATE TABLE IF NOT EXISTS items (
    item_id TEXT PRIMARY KEY,
    fields TEXT NOT NULL,
    counter INTEGER NOT NULL,
    revenue REAL NOT NULL,
    profit REAL NOT NULL,
    last_event_at TEXT
);
CREATE TABLE IF NOT EXISTS processed (
    marker_id TEXT PRIMARY KEY,
    expire_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS catalog (
    item_id TEXT PRIMARY KEY,
    fields TEXT NOT NULL
);
";

/// One SQLite connection shared by the queue and the store (same file).
#[derive(Clone)]
pub struct Db(Arc<Mutex<Connection>>);

#[derive(Debug, thiserror::Error)]
#[error("SQLite database {path}: {reason}")]
pub struct OpenError {
    pub path: String,
    pub reason: String,
}

impl Db {
    /// Opens (creating it and its folder) the database file, durable against a crash:
    /// WAL with full sync, so what was committed before a `kill -9` is there after.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let err = |reason: String| OpenError {
            path: path.display().to_string(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        }
        let conn = Connection::open(path).map_err(|e| err(e.to_string()))?;
        Self::init(conn).map_err(|e| err(e.to_string()))
    }

    /// A private in-memory database (tests).
    pub fn memory() -> Result<Self, OpenError> {
        let conn = Connection::open_in_memory().map_err(|e| OpenError {
            path: ":memory:".into(),
            reason: e.to_string(),
        })?;
        Self::init(conn).map_err(|e| OpenError {
            path: ":memory:".into(),
            reason: e.to_string(),
        })
    }

    fn init(conn: Connection) -> rusqlite::Result<Self> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self(Arc::new(Mutex::new(conn))))
    }

    /// Runs `f` on the connection off the async runtime.
    pub async fn call<T, F>(&self, f: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let db = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db
                .lock()
                .map_err(|_| "database lock poisoned".to_string())?;
            f(&mut conn).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

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
        item_id: &str,
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
            .map_err(StoreError::Transient)
    }
}

fn apply_commit(
    conn: &mut Connection,
    commit: &CounterCommit,
    now: &str,
) -> rusqlite::Result<Applied> {
    let tx = conn.transaction()?;
    let marker = tx.execute(
        "INSERT INTO processed (marker_id, expire_at) VALUES (?1, ?2)",
        params![commit.marker_id, format_timestamp(commit.expire_at)],
    );
    match marker {
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::ConstraintViolation => {
            // Dropping the transaction rolls back: a duplicate changes nothing.
            return Ok(Applied::Duplicate);
        }
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    for item in &commit.items {
        let existing: Option<String> = tx
            .query_row(
                "SELECT fields FROM items WHERE item_id = ?1",
                params![item.item_id],
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
                item.item_id,
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
                .map_err(StoreError::Transient)
        })
    }

    fn catalog<'a>(
        &'a self,
        item_ids: &'a [String],
    ) -> BoxFuture<'a, Result<CatalogEntries, StoreError>> {
        Box::pin(async move {
            let ids = item_ids.to_vec();
            self.db
                .call(move |c| {
                    let mut stmt =
                        c.prepare_cached("SELECT fields FROM catalog WHERE item_id = ?1")?;
                    let mut found = CatalogEntries::new();
                    for id in ids {
                        let text: Option<String> =
                            stmt.query_row(params![id], |r| r.get(0)).optional()?;
                        if let Some(fields) = text.and_then(|t| serde_json::from_str(&t).ok()) {
                            found.insert(id, fields);
                        }
                    }
                    Ok(found)
                })
                .await
                .map_err(StoreError::Transient)
        })
    }

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
                .map_err(StoreError::Transient)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ItemUpdate;
    use std::time::Duration;

    fn commit(marker: &str, items: &[(&str, i64, f64)]) -> CounterCommit {
        CounterCommit {
            marker_id: marker.into(),
            shard: None,
            items: items
                .iter()
                .map(|(id, c, r)| ItemUpdate {
                    item_id: (*id).into(),
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
                .await,
            Ok(Applied::Applied)
        );
        assert_eq!(
            store.apply(&commit("m1", &[("a", 2, 10.0)])).await,
            Ok(Applied::Duplicate)
        );
        assert_eq!(
            store.apply(&commit("m2", &[("a", 1, 5.0)])).await,
            Ok(Applied::Applied)
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

    #[tokio::test]
    async fn catalog_round_trip() {
        let store = SqliteStore::new(Db::memory().unwrap());
        let fields: Map<String, Value> =
            serde_json::from_str(r#"{"cost": 10, "brand": "Acme"}"#).unwrap();
        store.put_catalog("a", fields.clone()).await.unwrap();
        let found = store.catalog(&["a".into(), "b".into()]).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found["a"], fields);
    }
}
