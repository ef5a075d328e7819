//! [`MarkerStore`]: the redelivery markers of a push job whose effect lies
//! outside the store (a webhook call), so it cannot be committed atomically
//! with the marker: the job looks the marker up first, does its work, then
//! writes the marker. Firestore in the cloud (`hermes_notified`, with an
//! `expireAt` field for a TTL policy), SQLite under `hermes dev`.

use super::{DocumentId, MarkerOrigin, StoreError};
use crate::future::BoxFuture;
use std::time::SystemTime;

/// Collection of notify's markers (with `expireAt` for a TTL policy).
pub const NOTIFIED_COLLECTION: &str = "hermes_notified";

pub trait MarkerStore: Send + Sync + 'static {
    /// Whether the marker `id` exists (and has not expired).
    fn exists<'a>(&'a self, id: &'a DocumentId) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Writes the marker `id`; writing one that exists changes nothing.
    fn put<'a>(
        &'a self,
        id: &'a DocumentId,
        origin: &'a MarkerOrigin,
        expire_at: SystemTime,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}
