//! [`FirestoreMarkers`]: a [`MarkerStore`] in one Firestore collection
//! (`hermes_notified` for notify): a document `GET` to look a marker up, and a
//! one-write commit to create it (`exists: false`; `ALREADY_EXISTS` means it
//! is there already, which is what was asked).

use super::commit::document_name;
use super::encode;
use super::store::FirestoreStore;
use super::value::timestamp_value;
use super::FirestoreError;
use crate::{CallError, Deadline};
use hermes_core::future::BoxFuture;
use hermes_core::store::{DocumentId, MarkerOrigin, MarkerStore, StoreError};
use reqwest::Method;
use serde_json::json;
use std::time::SystemTime;

#[derive(Debug, Clone)]
pub struct FirestoreMarkers {
    store: FirestoreStore,
    collection: &'static str,
}

impl FirestoreMarkers {
    pub fn new(store: FirestoreStore, collection: &'static str) -> Self {
        Self { store, collection }
    }

    async fn read(&self, id: &DocumentId) -> Result<bool, FirestoreError> {
        let deadline = Deadline::after(self.store.deadline);
        self.store.exists(self.collection, id, deadline).await
    }

    async fn write(
        &self,
        id: &DocumentId,
        origin: &MarkerOrigin,
        expire_at: SystemTime,
    ) -> Result<(), FirestoreError> {
        let name = document_name(&self.store.database, &format!("{}/{id}", self.collection));
        let body = encode(&json!({ "writes": [{
            "update": {
                "name": name,
                "fields": {
                    "expireAt": timestamp_value(expire_at),
                    "processedAt": timestamp_value(SystemTime::now()),
                    "subscription": { "stringValue": origin.subscription },
                    "eventId": { "stringValue": origin.event.as_str() },
                    "eventIdFrom": { "stringValue": origin.event.source() },
                },
            },
            "currentDocument": { "exists": false },
        }]}))?;
        let url = self.store.url("/documents:commit")?;
        let deadline = Deadline::after(self.store.deadline);
        match self
            .store
            .call("marker write", Method::POST, &url, Some(body), deadline)
            .await
        {
            Ok(_) => Ok(()),
            Err(FirestoreError::Call {
                source: CallError::Rejected(e),
                ..
            }) if e
                .api()
                .is_some_and(|(_, api)| api.status == "ALREADY_EXISTS") =>
            {
                Ok(())
            }
            Err(FirestoreError::Call {
                source: CallError::Rejected(e),
                what,
            }) if e
                .api()
                .is_some_and(|(_, api)| api.status == "FAILED_PRECONDITION") =>
            {
                // Some emulators answer so for an existing document: only a read tells.
                if self.read(id).await? {
                    Ok(())
                } else {
                    Err(FirestoreError::Call {
                        what,
                        source: CallError::Rejected(e),
                    })
                }
            }
            Err(e) => Err(e),
        }
    }
}

impl MarkerStore for FirestoreMarkers {
    fn exists<'a>(&'a self, id: &'a DocumentId) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { Ok(self.read(id).await?) })
    }

    fn put<'a>(
        &'a self,
        id: &'a DocumentId,
        origin: &'a MarkerOrigin,
        expire_at: SystemTime,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { Ok(self.write(id, origin, expire_at).await?) })
    }
}
