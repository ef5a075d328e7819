//! [`DocumentReader`]: documents read by id from any collection — the enrich
//! function's lookups. Firestore's `batchGet` in the cloud, the collections
//! table of `hermes dev`'s SQLite store on one machine.

use super::{DocumentId, InvalidDocumentId, StoreError};
use crate::future::BoxFuture;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;

/// A collection id: Firestore's rules for ids are the same as a document's
/// (not empty, at most 1,500 bytes, no `/`, not `.`, `..` or `__.*__`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollectionId(String);

impl CollectionId {
    pub fn parse(id: impl Into<String>) -> Result<Self, InvalidDocumentId> {
        let id = DocumentId::parse(id)?;
        Ok(Self(id.as_str().to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CollectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One document's address.
pub type DocumentKey = (CollectionId, DocumentId);

/// A document's fields as JSON values (Firestore's typed values decoded).
pub type Document = Map<String, Value>;

pub trait DocumentReader: Send + Sync + 'static {
    /// The documents found among `keys` (one call where the backend allows:
    /// a message's lookups are read together); absent documents are absent
    /// from the answer, never an error.
    fn documents<'a>(
        &'a self,
        keys: &'a [DocumentKey],
    ) -> BoxFuture<'a, Result<HashMap<DocumentKey, Document>, StoreError>>;
}
