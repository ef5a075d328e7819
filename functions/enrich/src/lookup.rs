//! `[[enrich.lookups]]`: Firestore documents joined into the event by a
//! payload value. All of a message's lookups are one read (`batchGet`), and
//! documents — and their absence — are cached for each lookup's TTL.

use crate::settings::{Lookup, OnMissing};
use hermes_core::excerpt::preview;
use hermes_core::json::Json;
use hermes_core::store::{
    CollectionId, DocumentCache, DocumentId, DocumentKey, DocumentReader, StoreError,
};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// Documents cached at most: a stream of one-off ids cannot grow memory without end.
pub const MAX_CACHED_DOCUMENTS: usize = 50_000;

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("reading the lookups' documents")]
    Store(#[from] StoreError),
    /// `on_missing = "fail"` and the document does not exist.
    #[error("{collection}/{id} does not exist (on_missing = \"fail\")")]
    Missing {
        collection: CollectionId,
        id: String,
    },
}

pub struct Lookups {
    reader: Arc<dyn DocumentReader>,
    cache: DocumentCache<DocumentKey>,
}

/// What one lookup gives the event: a value to write under its `into`, or nothing.
pub type Joined = Vec<(usize, Value)>;

impl Lookups {
    pub fn new(reader: Arc<dyn DocumentReader>) -> Self {
        Self {
            reader,
            cache: DocumentCache::new(MAX_CACHED_DOCUMENTS),
        }
    }

    /// The value each lookup writes (by its index in `lookups`): the listed
    /// fields of its document, `null` for a missing one with `on_missing =
    /// "null"`; nothing for a lookup skipped (no usable key, or a missing
    /// document with `on_missing = "skip"`).
    pub async fn join(&self, lookups: &[Lookup], event: &Json<'_>) -> Result<Joined, LookupError> {
        let mut wanted: Vec<(usize, DocumentKey)> = Vec::new();
        for (i, lookup) in lookups.iter().enumerate() {
            if let Some(id) = document_id(lookup, event) {
                wanted.push((i, (lookup.collection.clone(), id)));
            }
        }
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<(DocumentKey, Duration)> = wanted
            .iter()
            .map(|(i, key)| (key.clone(), lookups[*i].cache_ttl))
            .collect();
        let reader = &self.reader;
        let found = self
            .cache
            .get(
                &keys,
                |missing| async move { reader.documents(&missing).await },
            )
            .await?;
        let mut joined = Vec::with_capacity(wanted.len());
        for (i, key) in wanted {
            let lookup = &lookups[i];
            match found.get(&key) {
                Some(doc) => joined.push((i, Value::Object(pick(doc, lookup.fields.as_deref())))),
                None => match lookup.on_missing {
                    OnMissing::Skip => {}
                    OnMissing::Null => joined.push((i, Value::Null)),
                    OnMissing::Fail => {
                        return Err(LookupError::Missing {
                            collection: key.0,
                            id: preview(key.1.as_str(), 128),
                        })
                    }
                },
            }
        }
        Ok(joined)
    }
}

/// The document id a lookup's key gives: the value at its path when it is a
/// string or a number (as written). Anything else skips the lookup; a value
/// Firestore cannot take as an id is logged (the event is still published).
fn document_id(lookup: &Lookup, event: &Json<'_>) -> Option<DocumentId> {
    let text = match lookup.key.lookup(event)? {
        Json::String(s) => s.as_cow().into_owned(),
        Json::Number(n) => (*n).to_string(),
        _ => return None,
    };
    match DocumentId::parse(text) {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::warn!(
                collection = %lookup.collection,
                key = lookup.key.as_str(),
                error = %e,
                "lookup skipped: the key's value cannot be a document id"
            );
            None
        }
    }
}

/// The listed fields that the document has (every field when none are listed).
fn pick(doc: &Map<String, Value>, fields: Option<&[String]>) -> Map<String, Value> {
    match fields {
        None => doc.clone(),
        Some(fields) => fields
            .iter()
            .filter_map(|f| doc.get(f).map(|v| (f.clone(), v.clone())))
            .collect(),
    }
}
