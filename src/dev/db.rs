//! The one SQLite file of `hermes dev`: the queue's and the store's tables,
//! opened durable against a crash, used from async code off the runtime.

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, the time column of every dev table.
pub fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

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
-- The dashboard reads the items changed since its last read (README, The
-- dashboard): last_event_at is the commit's time, RFC 3339 with microseconds
-- in UTC, whose text orders as its instants.
CREATE INDEX IF NOT EXISTS items_by_change ON items (last_event_at);
-- Money per item and currency (README, Data model); profit NULL while no
-- cost is known. The items table's own revenue / profit columns are what dev
-- databases from before held: read as XXX, never written again.
CREATE TABLE IF NOT EXISTS item_money (
    item_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    revenue REAL NOT NULL,
    profit REAL,
    PRIMARY KEY (item_id, currency)
);
-- Pipeline health of the last hour (dev/health.rs): counts per minute, and
-- the event ids counted, so an event published to two topics counts once.
CREATE TABLE IF NOT EXISTS health (
    minute INTEGER NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (minute, kind, key)
);
CREATE TABLE IF NOT EXISTS health_event_ids (
    minute INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (minute, event_id)
);
-- Bad rows published to the quarantine topic (dev/queue.rs): a table of their
-- own, so they are kept for `/dev/quarantine` and never pending, delivered
-- or dead-lettered (a subscriber of that topic, if any, gets queue copies).
CREATE TABLE IF NOT EXISTS quarantine (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    data BLOB NOT NULL,
    attributes TEXT NOT NULL,
    publish_time TEXT NOT NULL,
    reason TEXT NOT NULL,
    event_id TEXT,
    event_name TEXT
);
CREATE TABLE IF NOT EXISTS processed (
    marker_id TEXT PRIMARY KEY,
    expire_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS catalog (
    item_id TEXT PRIMARY KEY,
    fields TEXT NOT NULL
);
-- The documents enrich's lookups read (dev/collections.rs), by collection and id.
CREATE TABLE IF NOT EXISTS documents (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    fields TEXT NOT NULL,
    PRIMARY KEY (collection, id)
);
-- What notify delivered under hermes dev (dev/notified.rs): its markers and
-- the latest webhook calls.
CREATE TABLE IF NOT EXISTS notified (
    marker_id TEXT PRIMARY KEY,
    expire_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS notify_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    message_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    status INTEGER,
    outcome TEXT NOT NULL
);
";

/// Since notify, each subscriber has its own copy of a message: the queue of an
/// older file gains the columns (its rows were all the counters').
fn migrate_subscribers(conn: &Connection) -> rusqlite::Result<()> {
    let has = conn
        .prepare("SELECT 1 FROM pragma_table_info('queue') WHERE name = 'subscriber'")?
        .exists([])?;
    if !has {
        conn.execute_batch(
            "ALTER TABLE queue ADD COLUMN subscriber TEXT NOT NULL DEFAULT 'counters';
             ALTER TABLE queue ADD COLUMN message_id TEXT;",
        )?;
    }
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS queue_due_by_subscriber
         ON queue (subscriber, push, dead, next_attempt_ms);",
    )
}

/// One SQLite connection shared by the queue and the store (same file).
#[derive(Clone)]
pub struct Db(Arc<Mutex<Connection>>);

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the folder of the SQLite database {}", .path.display())]
    Folder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the SQLite database {}", .path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

/// Why a query did not run.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("SQLite")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the database lock is poisoned (an earlier query panicked)")]
    Poisoned,
    #[error("the database task did not finish")]
    Task(#[from] tokio::task::JoinError),
}

impl Db {
    /// Opens (creating it and its folder) the database file, durable against a crash:
    /// WAL with full sync, so what was committed before a `kill -9` is there after.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| OpenError::Folder {
                path: path.to_path_buf(),
                source,
            })?;
        }
        Connection::open(path)
            .and_then(Self::init)
            .map_err(|source| OpenError::Open {
                path: path.to_path_buf(),
                source,
            })
    }

    /// A private in-memory database (tests).
    #[cfg(test)]
    pub fn memory() -> Result<Self, OpenError> {
        Connection::open_in_memory()
            .and_then(Self::init)
            .map_err(|source| OpenError::Open {
                path: ":memory:".into(),
                source,
            })
    }

    fn init(conn: Connection) -> rusqlite::Result<Self> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        migrate_subscribers(&conn)?;
        Ok(Self(Arc::new(Mutex::new(conn))))
    }

    /// Runs `f` on the connection off the async runtime.
    pub async fn call<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let db = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.lock().map_err(|_| DbError::Poisoned)?;
            Ok(f(&mut conn)?)
        })
        .await?
    }
}
