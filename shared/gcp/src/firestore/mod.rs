//! Firestore over REST: the backend of the [`hermes_core::store`] seams on Google Cloud.
//!
//! Only the REST surface of Google's `firestore.v1` API is used (no gRPC, no
//! client library): `documents:commit` for the exactly-once counter updates
//! (encoded in `commit`), a document `GET` of a marker when a refused commit
//! must be told apart from a duplicate, `documents:batchGet` for the catalog, and
//! `documents/items` (list) with a `shards` collection-group `runQuery` for the
//! dashboard's totals (in `read`).

mod commit;
mod markers;
mod preview;
mod read;
mod store;
pub mod value;

pub use markers::FirestoreMarkers;
pub use store::{FirestoreStore, ENDPOINT_VARS, ENV_EMULATOR_HOST, ENV_ENDPOINT, PRODUCTION_BASE};

use crate::{AttemptError, CallError, ErrorClass};
use hermes_core::store::{DocumentId, StoreError};

/// Why a Firestore call failed.
#[derive(Debug, thiserror::Error)]
pub enum FirestoreError {
    #[error("Firestore {what}")]
    Call {
        what: &'static str,
        #[source]
        source: CallError,
    },
    #[error("Firestore {what}: unexpected answer")]
    Decode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("Firestore {what}: unexpected answer {text}")]
    Shape { what: &'static str, text: String },
    #[error("Firestore URL for {0}")]
    Url(String),
    #[error("item {0:?}: revenue / profit is not a finite number")]
    NotFinite(DocumentId),
    #[error("encoding a request")]
    Encode(#[source] serde_json::Error),
    /// A conflict that was not the marker: the commit was refused for another reason.
    #[error(
        "Firestore refused the commit of marker {marker}, which does not exist: not a duplicate"
    )]
    NotADuplicate {
        marker: DocumentId,
        #[source]
        source: AttemptError,
    },
}

impl From<FirestoreError> for StoreError {
    fn from(e: FirestoreError) -> Self {
        match &e {
            FirestoreError::Call { source, .. } if source.class() == ErrorClass::Transient => {
                StoreError::transient(e)
            }
            // An amount JSON cannot carry, or a commit over Firestore's size
            // limits: no retry can send it, so the message is poison.
            FirestoreError::NotFinite(_) => StoreError::Refused(e.into()),
            FirestoreError::Call { source, .. } if source.is_too_large() => {
                StoreError::Refused(e.into())
            }
            _ => StoreError::permanent(e),
        }
    }
}

/// A request body as bytes.
pub(super) fn encode(v: &serde_json::Value) -> Result<bytes::Bytes, FirestoreError> {
    serde_json::to_vec(v)
        .map(bytes::Bytes::from)
        .map_err(FirestoreError::Encode)
}
