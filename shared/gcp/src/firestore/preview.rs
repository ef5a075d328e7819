//! The preview inspector's traces on Firestore: the counters' trace route
//! writes `hermes_preview/{session}/hermes_preview_requests/{id}` (the trace as
//! JSON text, so no payload depth can exceed Firestore's nesting limit, plus
//! `receivedAt` and `expireAt` for the TTL policy); the dashboard reads a
//! session's newest ones with a `runQuery` on that sub-collection (a
//! single-field order: no composite index needed).

use super::encode;
use super::read::stream_of;
use super::store::FirestoreStore;
use super::value::timestamp_value;
use super::FirestoreError;
use crate::Deadline;
use hermes_core::future::BoxFuture;
use hermes_core::preview::{
    RequestTrace, SessionId, TraceReader, TraceSink, PREVIEW_COLLECTION, REQUESTS_COLLECTION,
};
use hermes_core::store::{DocumentId, StoreError};
use hermes_core::time::parse_timestamp;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

/// No trace is kept longer than this, whatever its `expire_at` says.
const MAX_KEEP: Duration = Duration::from_secs(86_400 + 300);

impl FirestoreStore {
    async fn write_trace(&self, trace: &RequestTrace) -> Result<(), StoreError> {
        let id = DocumentId::parse(trace.id.clone()).map_err(StoreError::permanent)?;
        let now = SystemTime::now();
        let expire_at = parse_timestamp(&trace.expire_at)
            .unwrap_or(now)
            .min(now + MAX_KEEP);
        let received_at = parse_timestamp(&trace.received_at).unwrap_or(now);
        let text = serde_json::to_string(trace).map_err(StoreError::permanent)?;
        let path = format!(
            "{PREVIEW_COLLECTION}/{}/{REQUESTS_COLLECTION}/{id}",
            trace.session
        );
        // A redelivered trace writes the same document again: no precondition.
        let body = json!({ "writes": [{ "update": {
            "name": self.document_name(&path),
            "fields": {
                "session": { "stringValue": trace.session.as_str() },
                "receivedAt": timestamp_value(received_at),
                "expireAt": timestamp_value(expire_at),
                "trace": { "stringValue": text },
            },
        }}]});
        let url = self.url("/documents:commit")?;
        self.call(
            "trace commit",
            Method::POST,
            &url,
            Some(encode(&body)?),
            Deadline::after(self.deadline),
        )
        .await?;
        Ok(())
    }

    async fn read_traces(
        &self,
        session: &SessionId,
        limit: usize,
    ) -> Result<Vec<RequestTrace>, FirestoreError> {
        let url = self.url(&format!(
            "/documents/{PREVIEW_COLLECTION}/{session}:runQuery"
        ))?;
        let query = json!({ "structuredQuery": {
            "from": [{ "collectionId": REQUESTS_COLLECTION }],
            "orderBy": [{ "field": { "fieldPath": "receivedAt" }, "direction": "DESCENDING" }],
            "limit": limit,
        }});
        let bytes = self
            .call(
                "runQuery traces",
                Method::POST,
                &url,
                Some(encode(&query)?),
                Deadline::after(self.deadline),
            )
            .await?;
        let now = SystemTime::now();
        let mut traces = Vec::new();
        for response in stream_of("runQuery traces", &bytes)? {
            let Some(fields) = response.pointer("/document/fields") else {
                continue;
            };
            // TTL deletion runs within a day of expiry: expired traces are skipped here.
            let expired = fields
                .pointer("/expireAt/timestampValue")
                .and_then(Value::as_str)
                .and_then(parse_timestamp)
                .is_none_or(|t| t <= now);
            if expired {
                continue;
            }
            let text = fields.pointer("/trace/stringValue").and_then(Value::as_str);
            match text.map(serde_json::from_str::<RequestTrace>) {
                Some(Ok(trace)) if trace.session == *session => traces.push(trace),
                _ => tracing::warn!("skipping an unreadable preview trace document"),
            }
        }
        Ok(traces)
    }
}

impl TraceSink for FirestoreStore {
    fn record<'a>(&'a self, trace: &'a RequestTrace) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.write_trace(trace))
    }
}

impl TraceReader for FirestoreStore {
    fn traces<'a>(
        &'a self,
        session: &'a SessionId,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<RequestTrace>, StoreError>> {
        Box::pin(async move { Ok(self.read_traces(session, limit).await?) })
    }
}
