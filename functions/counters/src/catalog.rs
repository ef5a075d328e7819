//! A short-lived cache of catalog documents, so hot items do not cost a
//! Firestore read per message. Absent documents are cached too. Entries are
//! shared (`Arc`): a message's lookup copies no document.

use hermes_core::store::{CounterStore, DocumentId, StoreError};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One catalog document's fields, shared with the cache.
pub type Document = Arc<Map<String, Value>>;

/// The catalog documents found for a message's items, by item id.
pub type Found = HashMap<DocumentId, Document>;

type Entry = (Instant, Option<Document>);

pub struct CatalogCache {
    ttl: Duration,
    entries: Mutex<HashMap<DocumentId, Entry>>,
}

/// Bound on cached ids, so a stream of one-off ids cannot grow memory without end.
const MAX_ENTRIES: usize = 50_000;

impl CatalogCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Catalog entries for `ids`, reading only the ones not cached (or expired).
    pub async fn get(
        &self,
        store: &dyn CounterStore,
        ids: &[DocumentId],
    ) -> Result<Found, StoreError> {
        let now = Instant::now();
        let mut found = Found::new();
        let mut missing = Vec::new();
        if let Ok(entries) = self.entries.lock() {
            for id in ids {
                match entries.get(id) {
                    Some((at, entry)) if now.duration_since(*at) < self.ttl => {
                        if let Some(fields) = entry {
                            found.insert(id.clone(), Arc::clone(fields));
                        }
                    }
                    _ => missing.push(id.clone()),
                }
            }
        } else {
            missing = ids.to_vec();
        }
        missing.sort();
        missing.dedup();
        if missing.is_empty() {
            return Ok(found);
        }
        let fetched: Found = store
            .catalog(&missing)
            .await?
            .into_iter()
            .map(|(id, fields)| (id, Arc::new(fields)))
            .collect();
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() + missing.len() > MAX_ENTRIES {
                entries.retain(|_, (at, _)| now.duration_since(*at) < self.ttl);
            }
            if entries.len() + missing.len() <= MAX_ENTRIES && !self.ttl.is_zero() {
                for id in &missing {
                    entries.insert(id.clone(), (now, fetched.get(id).cloned()));
                }
            }
        }
        found.extend(fetched);
        Ok(found)
    }
}
