//! [`FirestoreStore`]: the counters' store on Firestore's REST API, with
//! retries inside one deadline per call.

use super::commit::{commit_body, commit_bytes, document_name};
use super::FirestoreError;
use crate::StartupError;
use crate::{
    project_from_env, Auth, AuthError, Backoff, CallError, Deadline, Endpoint, ErrorClass,
    Transport, ENV_PROJECT,
};
use bytes::Bytes;
use hermes_core::config::ConfigError;
use hermes_core::future::BoxFuture;
use hermes_core::store::{
    Applied, CatalogEntries, CounterCommit, CounterStore, Document, DocumentId, DocumentKey,
    DocumentReader, ItemTotals, ItemsReader, StoreError,
};
use reqwest::{Method, Url};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

pub const ENV_EMULATOR_HOST: &str = "FIRESTORE_EMULATOR_HOST";
pub const PRODUCTION_BASE: &str = "https://firestore.googleapis.com";
/// Another endpoint of Firestore (regional, Private Service Connect): an https URL.
pub const ENV_ENDPOINT: &str = "HERMES_FIRESTORE_ENDPOINT";
pub const ENDPOINT_VARS: crate::EndpointVars = crate::EndpointVars {
    emulator: ENV_EMULATOR_HOST,
    endpoint: ENV_ENDPOINT,
    production: PRODUCTION_BASE,
};
/// Firestore emulators treat the bearer token `owner` as an admin (no security rules).
const EMULATOR_TOKEN: &str = "owner";

/// Counters on Cloud Firestore (or an emulator) over REST.
#[derive(Debug, Clone)]
pub struct FirestoreStore {
    transport: Transport,
    /// `projects/{p}/databases/{d}`.
    pub(super) database: String,
    /// Bounds each call (apply, catalog, items), retries and pages included.
    pub(super) deadline: Duration,
}

impl FirestoreStore {
    /// `database` is the database id, `(default)` for the default one.
    pub fn new(endpoint: Endpoint, project: &str, database: &str, deadline: Duration) -> Self {
        Self {
            transport: Transport::new(endpoint),
            database: format!("projects/{project}/databases/{database}"),
            deadline,
        }
    }

    /// The emulator when `FIRESTORE_EMULATOR_HOST` is set (plain HTTP,
    /// `Authorization: Bearer owner`), else Firestore (at
    /// `HERMES_FIRESTORE_ENDPOINT` when set) with ADC.
    pub async fn from_env(
        project: &str,
        database: &str,
        deadline: Duration,
    ) -> Result<Self, AuthError> {
        let endpoint =
            Endpoint::from_env(ENDPOINT_VARS, Auth::Static(EMULATOR_TOKEN.into())).await?;
        Ok(Self::new(endpoint, project, database, deadline))
    }

    /// For a function: the project from `GOOGLE_CLOUD_PROJECT` (required), then
    /// [`Self::from_env`].
    pub async fn from_function_env(
        database: &str,
        deadline: Duration,
    ) -> Result<Self, StartupError> {
        let project = project_from_env().ok_or_else(|| {
            ConfigError::invalid(
                ENV_PROJECT,
                "must name the project of the Firestore database",
            )
        })?;
        Ok(Self::from_env(&project, database, deadline).await?)
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.transport = self.transport.with_backoff(backoff);
        self
    }

    pub fn base_url(&self) -> &str {
        self.transport.base_url()
    }

    /// `projects/{p}/databases/{d}`.
    pub fn database_name(&self) -> &str {
        &self.database
    }

    /// The full name of the document at `path` (`items/abc`).
    pub fn document_name(&self, path: &str) -> String {
        document_name(&self.database, path)
    }

    /// The `CommitRequest` for `commit`, as sent.
    pub fn commit_body(&self, commit: &CounterCommit) -> Result<Value, StoreError> {
        Ok(commit_body(&self.database, commit)?)
    }

    pub(super) fn url(&self, path: &str) -> Result<Url, FirestoreError> {
        let path = format!("/v1/{}{path}", self.database);
        self.transport.url(&path).ok_or(FirestoreError::Url(path))
    }

    pub(super) async fn call(
        &self,
        what: &'static str,
        method: Method,
        url: &Url,
        body: Option<Bytes>,
        deadline: Deadline,
    ) -> Result<Bytes, FirestoreError> {
        self.transport
            .call(method, url, body, deadline)
            .await
            .map_err(|source| FirestoreError::Call { what, source })
    }

    /// Whether the marker `hermes_processed/{marker_id}` exists: what tells a
    /// refused commit that was a duplicate from one that was not.
    pub async fn marker_exists(&self, marker_id: &DocumentId) -> Result<bool, StoreError> {
        Ok(self
            .read_marker(marker_id, Deadline::after(self.deadline))
            .await?)
    }

    async fn commit(&self, commit: &CounterCommit) -> Result<Applied, FirestoreError> {
        let body = Bytes::from(commit_bytes(&self.database, commit)?);
        let url = self.url("/documents:commit")?;
        let deadline = Deadline::after(self.deadline);
        let refusal = match self
            .call("commit", Method::POST, &url, Some(body), deadline)
            .await
        {
            Ok(_) => return Ok(Applied::Applied),
            Err(FirestoreError::Call {
                source: CallError::Rejected(e),
                ..
            }) if e.class() == ErrorClass::Conflict => e,
            Err(e) => return Err(e),
        };
        let marker = &commit.marker_id;
        // The marker's `exists: false` is the commit's only precondition, and
        // ALREADY_EXISTS is what that one answers: the proof of a duplicate.
        if refusal
            .api()
            .is_some_and(|(_, api)| api.status == "ALREADY_EXISTS")
        {
            tracing::debug!(%marker, error = %refusal, "marker exists: duplicate");
            return Ok(Applied::Duplicate);
        }
        // FAILED_PRECONDITION may be the marker (some emulators answer so) or
        // anything else about the database: only the marker itself tells. An
        // acknowledged non-duplicate would lose its counts without a trace.
        if self.read_marker(marker, deadline).await? {
            tracing::debug!(%marker, error = %refusal, "refused, and the marker exists: duplicate");
            return Ok(Applied::Duplicate);
        }
        tracing::error!(%marker, error = %refusal, "commit refused and the marker does not exist: not counted");
        Err(FirestoreError::NotADuplicate {
            marker: marker.clone(),
            source: refusal,
        })
    }
}

impl CounterStore for FirestoreStore {
    fn apply<'a>(
        &'a self,
        commit: &'a CounterCommit,
    ) -> BoxFuture<'a, Result<Applied, StoreError>> {
        Box::pin(async move { Ok(self.commit(commit).await?) })
    }

    fn catalog<'a>(
        &'a self,
        item_ids: &'a [DocumentId],
    ) -> BoxFuture<'a, Result<CatalogEntries, StoreError>> {
        Box::pin(async move { Ok(self.read_catalog(item_ids).await?) })
    }
}

impl DocumentReader for FirestoreStore {
    fn documents<'a>(
        &'a self,
        keys: &'a [DocumentKey],
    ) -> BoxFuture<'a, Result<HashMap<DocumentKey, Document>, StoreError>> {
        Box::pin(async move { Ok(self.read_documents(keys).await?) })
    }
}

impl ItemsReader for FirestoreStore {
    fn items(&self) -> BoxFuture<'_, Result<Vec<ItemTotals>, StoreError>> {
        Box::pin(async move { Ok(self.read_items().await?) })
    }

    fn scan_parts<'a>(
        &'a self,
        each: &'a mut (dyn FnMut(ItemTotals) + Send),
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { Ok(self.scan_item_parts(each).await?) })
    }

    fn items_changed_since(
        &self,
        since: std::time::SystemTime,
        at_most: usize,
    ) -> BoxFuture<'_, Result<Option<Vec<ItemTotals>>, StoreError>> {
        Box::pin(async move { Ok(self.read_changed(since, at_most).await?) })
    }
}
