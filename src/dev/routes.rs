//! `hermes dev`'s own routes: `/dev/queue`, `/dev/dead-letters`,
//! `/dev/quarantine`, `PUT /dev/catalog/{item_id}` and
//! `PUT /dev/collections/{collection}/{id}`, with one error type and its
//! status table.

use super::db::DbError;
use super::notified::SqliteNotified;
use super::queue::{SqliteQueue, NOTIFY};
use super::store::SqliteStore;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use hermes_core::auth::Tokens;
use hermes_core::error::report;
use hermes_core::store::{CollectionId, DocumentId, InvalidDocumentId, StoreError};
use serde_json::{json, Value};
use std::sync::Arc;

pub struct DevState {
    /// Absent when a Pub/Sub emulator replaces the embedded queue.
    pub queue: Option<SqliteQueue>,
    /// The embedded store, for `PUT /dev/catalog/{item_id}` (absent with a Firestore emulator).
    pub catalog: Option<SqliteStore>,
    /// Notify's webhook calls, when `[notify]` is configured (with the SQLite file).
    pub notify_log: Option<SqliteNotified>,
    /// With a production token configured, every `/dev/*` route requires it.
    pub tokens: Tokens,
    /// Pipeline health from the embedded queue (absent with a Pub/Sub emulator).
    pub health: Option<Arc<super::health::Health>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("send the production bearer token")]
    Unauthorized,
    #[error("no embedded queue: a Pub/Sub emulator is in use")]
    NoQueue,
    #[error("the quarantine is off: the configuration has no [quarantine] section")]
    NoQuarantine,
    #[error("limit must be a whole number from 1 to {MAX_LIST_LIMIT}")]
    Limit,
    #[error(
        "the catalog and the collections live in the Firestore emulator: write the documents there"
    )]
    NoCatalog,
    #[error("send a JSON object of the document's fields")]
    NotAnObject,
    #[error("not a valid item id")]
    ItemId(#[source] InvalidDocumentId),
    #[error("not a valid collection or document id")]
    DocumentPath(#[source] InvalidDocumentId),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IntoResponse for RouteError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NoQueue | Self::NoQuarantine | Self::NoCatalog => StatusCode::NOT_FOUND,
            Self::NotAnObject | Self::ItemId(_) | Self::DocumentPath(_) | Self::Limit => {
                StatusCode::BAD_REQUEST
            }
            Self::Db(_) | Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let error = match self {
            // The client's own input needs no cause chain.
            Self::ItemId(_) | Self::DocumentPath(_) => self.to_string(),
            _ => report(&self),
        };
        (status, Json(json!({ "error": error }))).into_response()
    }
}

pub fn router(state: Arc<DevState>) -> Router {
    Router::new()
        .route("/dev/queue", get(queue_stats))
        .route("/dev/dead-letters", get(dead_letters))
        .route("/dev/quarantine", get(quarantine))
        .route("/dev/catalog/{item_id}", put(put_catalog))
        .route("/dev/collections/{collection}/{id}", put(put_document))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            production_token,
        ))
        .with_state(state)
}

/// `GET /dashboard/api/health`: beside the dashboard's own routes, and open
/// like them (the dashboard and its figures are served on loopback).
pub fn health_router(state: Arc<DevState>) -> Router {
    Router::new()
        .route("/dashboard/api/health", get(health))
        .with_state(state)
}

async fn health(State(state): State<Arc<DevState>>) -> Result<Response, RouteError> {
    let health = state.health.as_ref().ok_or(RouteError::NoQueue)?;
    let no_store = [(header::CACHE_CONTROL, "no-store")];
    Ok((no_store, Json(health.snapshot().await?)).into_response())
}

/// The production token, when one is configured (as ingest checks it).
pub(super) async fn production_token(
    State(state): State<Arc<DevState>>,
    request: Request,
    next: Next,
) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    if !state.tokens.authorize(authorization, false) {
        return RouteError::Unauthorized.into_response();
    }
    next.run(request).await
}

async fn queue_stats(State(state): State<Arc<DevState>>) -> Result<Response, RouteError> {
    let queue = state.queue.as_ref().ok_or(RouteError::NoQueue)?;
    let mut stats = serde_json::to_value(queue.stats().await?).unwrap_or_default();
    // Notify's own copies of the messages, and the webhook calls it made.
    if let (Some(log), Value::Object(map)) = (&state.notify_log, &mut stats) {
        let (pending, dead) = queue.pending_and_dead(NOTIFY).await?;
        let calls = log.calls().await?;
        map.insert(
            "notify".into(),
            json!({ "pending": pending, "dead": dead, "webhookCalls": calls }),
        );
    }
    Ok(Json(stats).into_response())
}

async fn dead_letters(State(state): State<Arc<DevState>>) -> Result<Response, RouteError> {
    let queue = state.queue.as_ref().ok_or(RouteError::NoQueue)?;
    let letters = queue.dead_letters().await?;
    Ok(Json(json!({ "deadLetters": letters })).into_response())
}

/// Bad rows `/dev/quarantine` lists unless `?limit=` says otherwise, and at most.
const DEFAULT_LIST_LIMIT: usize = 100;
const MAX_LIST_LIMIT: usize = 1000;

#[derive(serde::Deserialize)]
struct ListQuery {
    limit: Option<String>,
}

/// `?limit=`: absent is the default; anything but 1 to the maximum is refused
/// rather than quietly changed.
fn list_limit(query: Result<Query<ListQuery>, QueryRejection>) -> Result<usize, RouteError> {
    let Ok(Query(query)) = query else {
        return Err(RouteError::Limit);
    };
    match query.limit {
        None => Ok(DEFAULT_LIST_LIMIT),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_LIST_LIMIT).contains(&n) => Ok(n),
            _ => Err(RouteError::Limit),
        },
    }
}

/// `GET /dev/quarantine[?limit=N]`: the latest bad rows, newest first, and how
/// many the file keeps in all.
async fn quarantine(
    State(state): State<Arc<DevState>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, RouteError> {
    let queue = state.queue.as_ref().ok_or(RouteError::NoQueue)?;
    if queue.quarantine_topic().is_none() {
        return Err(RouteError::NoQuarantine);
    }
    let limit = list_limit(query)?;
    let (rows, total) = queue.quarantined(limit).await?;
    Ok(Json(json!({ "rows": rows, "total": total })).into_response())
}

/// `PUT /dev/catalog/{item_id}` with a JSON object (`{"cost": 12.5, "brand": "Acme"}`):
/// the dev stand-in for a Firestore `catalog/{item_id}` document.
async fn put_catalog(
    State(state): State<Arc<DevState>>,
    Path(item_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, RouteError> {
    let store = state.catalog.as_ref().ok_or(RouteError::NoCatalog)?;
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body) else {
        return Err(RouteError::NotAnObject);
    };
    let item_id = DocumentId::parse(item_id).map_err(RouteError::ItemId)?;
    store.put_catalog(&item_id, fields).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /dev/collections/{collection}/{id}` with a JSON object: the dev
/// stand-in for the Firestore document `{collection}/{id}` that enrich's
/// lookups read (`catalog` is the counters' catalog).
async fn put_document(
    State(state): State<Arc<DevState>>,
    Path((collection, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<StatusCode, RouteError> {
    let store = state.catalog.as_ref().ok_or(RouteError::NoCatalog)?;
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body) else {
        return Err(RouteError::NotAnObject);
    };
    let collection = CollectionId::parse(collection).map_err(RouteError::DocumentPath)?;
    let id = DocumentId::parse(id).map_err(RouteError::DocumentPath)?;
    store.put_document(&collection, &id, fields).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Uri;

    fn limit(query: &str) -> Result<usize, RouteError> {
        let uri: Uri = format!("/dev/quarantine{query}").parse().unwrap();
        list_limit(Query::try_from_uri(&uri))
    }

    /// `?limit=` is 100 when absent, 1 to 1000 as asked, and anything else
    /// a 400 in the routes' JSON shape, not a quietly different list.
    #[test]
    fn the_quarantine_list_is_bounded() {
        assert_eq!(limit("").unwrap(), DEFAULT_LIST_LIMIT);
        assert_eq!(limit("?limit=1").unwrap(), 1);
        assert_eq!(limit("?limit=1000").unwrap(), 1000);
        for bad in [
            "?limit=0",
            "?limit=1001",
            "?limit=-1",
            "?limit=ten",
            "?limit=",
        ] {
            let err = limit(bad).unwrap_err();
            assert!(matches!(err, RouteError::Limit), "{bad}");
            assert_eq!(
                err.into_response().status(),
                StatusCode::BAD_REQUEST,
                "{bad}"
            );
        }
    }
}
