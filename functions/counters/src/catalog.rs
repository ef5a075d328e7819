//! A short-lived cache of catalog documents, so hot items do not cost a
//! Firestore read per message; absent documents are cached too.

use hermes_core::store::{CounterStore, DocumentCache, DocumentId, StoreError};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// One catalog document's fields, shared with the cache.
pub type Document = Arc<Map<String, Value>>;

/// The catalog documents found for a message's items, by item id.
pub type Found = HashMap<DocumentId, Document>;

pub struct CatalogCache {
    ttl: Duration,
    cache: DocumentCache<DocumentId>,
}

impl CatalogCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            cache: DocumentCache::new(hermes_core::store::cache::DEFAULT_MAX_ENTRIES),
        }
    }

    /// Catalog entries for `ids`, reading only the ones not cached (or expired).
    pub async fn get(
        &self,
        store: &dyn CounterStore,
        ids: &[DocumentId],
    ) -> Result<Found, StoreError> {
        let keys: Vec<(DocumentId, Duration)> =
            ids.iter().map(|id| (id.clone(), self.ttl)).collect();
        self.cache
            .get(
                &keys,
                |missing| async move { store.catalog(&missing).await },
            )
            .await
    }
}
