//! A short-lived cache of catalog documents, so hot items do not cost a
//! Firestore read per message. Absent documents are cached too.

use hermes_core::store::{CatalogEntries, CounterStore, DocumentId, StoreError};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

type Entry = (Instant, Option<Map<String, Value>>);

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
    ) -> Result<CatalogEntries, StoreError> {
        let now = Instant::now();
        let mut found = CatalogEntries::new();
        let mut missing = Vec::new();
        if let Ok(entries) = self.entries.lock() {
            for id in ids {
                match entries.get(id) {
                    Some((at, entry)) if now.duration_since(*at) < self.ttl => {
                        if let Some(fields) = entry {
                            found.insert(id.clone(), fields.clone());
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
        let fetched = store.catalog(&missing).await?;
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
