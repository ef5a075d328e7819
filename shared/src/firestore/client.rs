//! [`FirestoreStore`]: the counters' store on Firestore's REST API, with
//! retries inside one deadline per call.

use super::value::{
    double_of, field_path, from_value, int_of, normalize_timestamp, timestamp_value, to_value,
    valid_field_name,
};
use crate::gcp::{error_chain, http_client, ApiError, Auth, AuthError, Endpoint};
use crate::pubsub::BoxFuture;
use crate::retry::{is_retryable_status, retry, Attempt, Backoff, GaveUp};
use crate::store::{
    merge_shards, valid_document_id, Applied, CatalogEntries, CounterCommit, CounterStore,
    ItemTotals, ItemUpdate, StoreError, CATALOG_COLLECTION, ITEMS_COLLECTION, PROCESSED_COLLECTION,
    RESERVED_FIELDS, SHARDS_COLLECTION,
};
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

pub const ENV_EMULATOR_HOST: &str = "FIRESTORE_EMULATOR_HOST";
pub const PRODUCTION_BASE: &str = "https://firestore.googleapis.com";
/// Firestore emulators treat the bearer token `owner` as an admin (no security rules).
const EMULATOR_TOKEN: &str = "owner";
/// Firestore's documented limit of documents per `batchGet` we keep to.
const BATCH_GET_CHUNK: usize = 100;
const LIST_PAGE_SIZE: u32 = 300;
/// Shard documents per `runQuery` page (cursor on `__name__` between pages).
const QUERY_PAGE_SIZE: usize = 1000;

/// Counters on Cloud Firestore (or an emulator) over REST.
#[derive(Debug, Clone)]
pub struct FirestoreStore {
    http: reqwest::Client,
    endpoint: Endpoint,
    /// `projects/{p}/databases/{d}`.
    database: String,
    deadline: Duration,
    backoff: Backoff,
}

/// A request's outcome the caller decides on.
enum Reply {
    Ok(Vec<u8>),
    /// `ALREADY_EXISTS` / `FAILED_PRECONDITION`: for a commit, the marker exists.
    Precondition(ApiError),
}

impl FirestoreStore {
    /// `database` is the database id, `(default)` for the default one. `deadline`
    /// bounds each call (apply, catalog, items), retries and pages included.
    pub fn new(endpoint: Endpoint, project: &str, database: &str, deadline: Duration) -> Self {
        Self {
            http: http_client(),
            endpoint,
            database: format!("projects/{project}/databases/{database}"),
            deadline,
            backoff: Backoff::default(),
        }
    }

    /// The emulator when `FIRESTORE_EMULATOR_HOST` is set (plain HTTP,
    /// `Authorization: Bearer owner`), else Firestore with ADC.
    pub async fn from_env(
        project: &str,
        database: &str,
        deadline: Duration,
    ) -> Result<Self, AuthError> {
        let endpoint = Endpoint::from_env(
            ENV_EMULATOR_HOST,
            PRODUCTION_BASE,
            Auth::Static(EMULATOR_TOKEN.into()),
        )
        .await?;
        Ok(Self::new(endpoint, project, database, deadline))
    }

    /// For a function: the project from `GOOGLE_CLOUD_PROJECT` (required), then
    /// [`Self::from_env`].
    pub async fn from_function_env(
        database: &str,
        deadline: Duration,
    ) -> Result<Self, crate::config::StartupError> {
        let project = crate::config::project_from_env().ok_or_else(|| {
            crate::config::ConfigError::invalid(
                crate::config::ENV_PROJECT,
                "must name the project of the Firestore database",
            )
        })?;
        Ok(Self::from_env(&project, database, deadline).await?)
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.endpoint.base
    }

    /// `projects/{p}/databases/{d}`.
    pub fn database_name(&self) -> &str {
        &self.database
    }

    /// The full name of the document at `path` (`items/abc`).
    pub fn document_name(&self, path: &str) -> String {
        format!("{}/documents/{path}", self.database)
    }

    /// The `CommitRequest` for `commit`, as sent: the marker write first (some
    /// emulators apply writes in order and stop at the failed precondition),
    /// then one write per distinct item.
    pub fn commit_body(&self, commit: &CounterCommit) -> Result<Value, StoreError> {
        if !valid_document_id(&commit.marker_id) {
            return Err(StoreError::Permanent(format!(
                "marker id {:?} cannot be a Firestore document id",
                commit.marker_id
            )));
        }
        let marker = self.document_name(&format!("{PROCESSED_COLLECTION}/{}", commit.marker_id));
        let mut writes = vec![json!({
            "update": {
                "name": marker,
                "fields": {
                    "expireAt": timestamp_value(commit.expire_at),
                    "processedAt": timestamp_value(SystemTime::now()),
                },
            },
            "currentDocument": { "exists": false },
        })];
        for item in merge_updates(&commit.items) {
            writes.push(self.item_write(&item, commit.shard)?);
        }
        Ok(json!({ "writes": writes }))
    }

    fn item_write(&self, item: &ItemUpdate, shard: Option<u32>) -> Result<Value, StoreError> {
        if !valid_document_id(&item.item_id) {
            return Err(StoreError::Permanent(format!(
                "item id {:?} cannot be a Firestore document id",
                item.item_id
            )));
        }
        // JSON has no NaN / Infinity: serde_json would send `null`, an invalid increment.
        if !item.revenue.is_finite() || item.profit.is_some_and(|p| !p.is_finite()) {
            return Err(StoreError::Permanent(format!(
                "item {:?}: revenue / profit is not a finite number",
                item.item_id
            )));
        }
        let path = match shard {
            None => format!("{ITEMS_COLLECTION}/{}", item.item_id),
            Some(k) => format!(
                "{ITEMS_COLLECTION}/{}/{SHARDS_COLLECTION}/{k}",
                item.item_id
            ),
        };
        let fields: Map<String, Value> = item
            .fields
            .iter()
            .filter(|(k, _)| !RESERVED_FIELDS.contains(&k.as_str()) && valid_field_name(k))
            .map(|(k, v)| (k.clone(), to_value(v)))
            .collect();
        // Always a mask, even an empty one: without it the update would replace
        // the whole document and lose the counters.
        let mask: Vec<String> = fields.keys().map(|k| field_path(k)).collect();
        let mut transforms = vec![
            json!({ "fieldPath": "counter", "increment": { "integerValue": item.counter.to_string() } }),
            json!({ "fieldPath": "revenue", "increment": { "doubleValue": item.revenue } }),
        ];
        if let Some(profit) = item.profit {
            transforms
                .push(json!({ "fieldPath": "profit", "increment": { "doubleValue": profit } }));
        }
        transforms
            .push(json!({ "fieldPath": "last_event_at", "setToServerValue": "REQUEST_TIME" }));
        Ok(json!({
            "update": { "name": self.document_name(&path), "fields": fields },
            "updateMask": { "fieldPaths": mask },
            "updateTransforms": transforms,
        }))
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &str,
        body: Option<&[u8]>,
        left: Duration,
    ) -> Attempt<Reply, String> {
        let auth = match self.endpoint.auth.header().await {
            Ok(h) => h,
            Err(e) => return Attempt::Retry(e.to_string()),
        };
        let mut req = self.http.request(method.clone(), url).timeout(left);
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.to_vec());
        }
        if let Some(h) = auth {
            req = req.header(reqwest::header::AUTHORIZATION, h);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(format!("unreachable: {}", error_chain(&e))),
        };
        let status = resp.status().as_u16();
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return Attempt::Retry(format!("reading the answer: {}", error_chain(&e))),
        };
        if (200..300).contains(&status) {
            return Attempt::Done(Reply::Ok(bytes.to_vec()));
        }
        let api = ApiError::from_body(status, &bytes);
        match classify(status, &api.status) {
            Class::Precondition => Attempt::Done(Reply::Precondition(api)),
            Class::Retry => Attempt::Retry(format!("HTTP {status} {api}")),
            Class::Fail => Attempt::Fail(format!("HTTP {status} {api}")),
        }
    }

    /// One request with retries until `deadline`.
    async fn call(
        &self,
        what: &str,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
        deadline: Instant,
    ) -> Result<Reply, StoreError> {
        retry(deadline, self.backoff, |left| {
            self.attempt(&method, url, body.as_deref(), left)
        })
        .await
        .map_err(|g| match g {
            GaveUp::Error(e) => StoreError::Permanent(format!("Firestore {what}: {e}")),
            GaveUp::Deadline(last) => StoreError::Transient(format!(
                "Firestore {what}: deadline of {}ms passed{}",
                self.deadline.as_millis(),
                last.map(|e| format!(" (last error: {e})"))
                    .unwrap_or_default()
            )),
        })
    }

    /// A read: a failed precondition (a missing index, say) will not heal by retrying.
    async fn read(
        &self,
        what: &str,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
        deadline: Instant,
    ) -> Result<Vec<u8>, StoreError> {
        match self.call(what, method, url, body, deadline).await? {
            Reply::Ok(bytes) => Ok(bytes),
            Reply::Precondition(e) => Err(StoreError::Permanent(format!("Firestore {what}: {e}"))),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1/{}{path}", self.endpoint.base, self.database)
    }

    async fn commit(&self, commit: &CounterCommit) -> Result<Applied, StoreError> {
        let body = encode(&self.commit_body(commit)?)?;
        let deadline = Instant::now() + self.deadline;
        let url = self.url("/documents:commit");
        match self
            .call("commit", Method::POST, &url, Some(body), deadline)
            .await?
        {
            Reply::Ok(_) => Ok(Applied::Applied),
            Reply::Precondition(e) => {
                tracing::debug!(marker = %commit.marker_id, error = %e, "marker exists: duplicate");
                Ok(Applied::Duplicate)
            }
        }
    }

    async fn read_catalog(&self, item_ids: &[String]) -> Result<CatalogEntries, StoreError> {
        let deadline = Instant::now() + self.deadline;
        let mut seen = HashSet::new();
        let wanted: Vec<&str> = item_ids
            .iter()
            .map(String::as_str)
            .filter(|id| valid_document_id(id) && seen.insert(*id))
            .collect();
        let url = self.url("/documents:batchGet");
        let mut out = CatalogEntries::new();
        for chunk in wanted.chunks(BATCH_GET_CHUNK) {
            let names: Vec<String> = chunk
                .iter()
                .map(|id| self.document_name(&format!("{CATALOG_COLLECTION}/{id}")))
                .collect();
            let body = encode(&json!({ "documents": names }))?;
            let bytes = self
                .read("batchGet", Method::POST, &url, Some(body), deadline)
                .await?;
            for response in stream_of("batchGet", &bytes)? {
                let Some(doc) = response.get("found") else {
                    continue;
                };
                let name = doc.get("name").and_then(Value::as_str).unwrap_or_default();
                // Document ids contain no `/`: the last segment is the id.
                let Some(id) = name.rsplit('/').next().filter(|id| !id.is_empty()) else {
                    continue;
                };
                let fields = doc.get("fields").and_then(Value::as_object);
                out.insert(
                    id.to_string(),
                    fields.map(super::value::from_fields).unwrap_or_default(),
                );
            }
        }
        Ok(out)
    }

    async fn read_items(&self) -> Result<Vec<ItemTotals>, StoreError> {
        let deadline = Instant::now() + self.deadline;
        // Each item's documents: its own (unsharded counts) and its shards.
        let mut docs: BTreeMap<String, Vec<ItemTotals>> = BTreeMap::new();

        let list = self.url(&format!("/documents/{ITEMS_COLLECTION}"));
        let mut token: Option<String> = None;
        loop {
            let mut url = reqwest::Url::parse(&list)
                .map_err(|e| StoreError::Permanent(format!("Firestore URL {list}: {e}")))?;
            url.query_pairs_mut()
                .append_pair("pageSize", &LIST_PAGE_SIZE.to_string());
            if let Some(t) = &token {
                url.query_pairs_mut().append_pair("pageToken", t);
            }
            let bytes = self
                .read("list items", Method::GET, url.as_str(), None, deadline)
                .await?;
            let page: Value = serde_json::from_slice(&bytes).map_err(|e| {
                StoreError::Permanent(format!("Firestore list items: unexpected answer: {e}"))
            })?;
            for doc in page
                .get("documents")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some((id, false)) = self.item_of(doc) {
                    let totals = totals_of(&id, doc);
                    docs.entry(id).or_default().push(totals);
                }
            }
            token = page
                .get("nextPageToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                break;
            }
        }

        // Every `shards` collection at once (a collection-group query), paged by name.
        let url = self.url("/documents:runQuery");
        let mut after: Option<String> = None;
        loop {
            let mut query = json!({
                "from": [{ "collectionId": SHARDS_COLLECTION, "allDescendants": true }],
                "orderBy": [{ "field": { "fieldPath": "__name__" }, "direction": "ASCENDING" }],
                "limit": QUERY_PAGE_SIZE,
            });
            if let Some(last) = &after {
                query["startAt"] =
                    json!({ "values": [{ "referenceValue": last }], "before": false });
            }
            let body = encode(&json!({ "structuredQuery": query }))?;
            let bytes = self
                .read("runQuery shards", Method::POST, &url, Some(body), deadline)
                .await?;
            let mut count = 0;
            let mut last = None;
            for response in stream_of("runQuery shards", &bytes)? {
                let Some(doc) = response.get("document") else {
                    continue;
                };
                count += 1;
                last = doc.get("name").and_then(Value::as_str).map(str::to_string);
                if let Some((id, true)) = self.item_of(doc) {
                    let totals = totals_of(&id, doc);
                    docs.entry(id).or_default().push(totals);
                }
            }
            match last {
                Some(name) if count >= QUERY_PAGE_SIZE && after.as_ref() != Some(&name) => {
                    after = Some(name)
                }
                _ => break,
            }
        }

        Ok(docs
            .into_iter()
            .map(|(id, parts)| merge_shards(&id, parts))
            .collect())
    }

    /// `(item id, is a shard)` of `items/{id}` or `items/{id}/shards/{k}`; `None` for
    /// any other document (a `shards` collection elsewhere, deeper documents).
    fn item_of(&self, doc: &Value) -> Option<(String, bool)> {
        let name = doc.get("name")?.as_str()?;
        let root = format!("{}/documents/", self.database);
        let rest = match name.strip_prefix(&root) {
            Some(rest) => rest,
            // An emulator may spell the database differently; the path is what matters.
            None => name.split_once("/documents/")?.1,
        };
        let segments: Vec<&str> = rest.split('/').collect();
        match segments.as_slice() {
            [c, id] if *c == ITEMS_COLLECTION && !id.is_empty() => Some((id.to_string(), false)),
            [c, id, s, k]
                if *c == ITEMS_COLLECTION
                    && *s == SHARDS_COLLECTION
                    && !id.is_empty()
                    && !k.is_empty() =>
            {
                Some((id.to_string(), true))
            }
            _ => None,
        }
    }
}

enum Class {
    Precondition,
    Retry,
    Fail,
}

/// Decided by Google's `status` string, not the HTTP code: 409 is both
/// ALREADY_EXISTS (the marker exists) and ABORTED (contention, retry).
fn classify(http: u16, status: &str) -> Class {
    match status {
        "ALREADY_EXISTS" | "FAILED_PRECONDITION" => Class::Precondition,
        "ABORTED" | "UNAVAILABLE" | "DEADLINE_EXCEEDED" | "RESOURCE_EXHAUSTED" | "INTERNAL"
        | "CANCELLED" => Class::Retry,
        // A 409 without a status could be either: retrying is safe (the marker
        // makes a repeated commit a duplicate), calling it a duplicate is not.
        "" if http == 409 => Class::Retry,
        _ if is_retryable_status(http) => Class::Retry,
        _ => Class::Fail,
    }
}

/// Sums updates of the same item: one write per document per commit.
fn merge_updates(items: &[ItemUpdate]) -> Vec<ItemUpdate> {
    let mut out: Vec<ItemUpdate> = Vec::with_capacity(items.len());
    let mut index: HashMap<&str, usize> = HashMap::new();
    for item in items {
        match index
            .get(item.item_id.as_str())
            .and_then(|&i| out.get_mut(i))
        {
            Some(m) => {
                m.counter = m.counter.saturating_add(item.counter);
                m.revenue += item.revenue;
                m.profit = match (m.profit, item.profit) {
                    (None, None) => None,
                    (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
                };
                for (k, v) in &item.fields {
                    m.fields.insert(k.clone(), v.clone());
                }
            }
            None => {
                index.insert(&item.item_id, out.len());
                out.push(item.clone());
            }
        }
    }
    out
}

/// An item document's counters; every other field goes to `fields` as JSON.
fn totals_of(item_id: &str, doc: &Value) -> ItemTotals {
    let mut totals = ItemTotals {
        item_id: item_id.to_string(),
        ..ItemTotals::default()
    };
    let Some(fields) = doc.get("fields").and_then(Value::as_object) else {
        return totals;
    };
    for (k, v) in fields {
        match k.as_str() {
            "counter" => totals.counter = integer(v),
            "revenue" => totals.revenue = number(v),
            "profit" => totals.profit = number(v),
            "last_event_at" => {
                totals.last_event_at = v
                    .get("timestampValue")
                    .or_else(|| v.get("stringValue"))
                    .and_then(Value::as_str)
                    .map(|t| normalize_timestamp(t).unwrap_or_else(|| t.to_string()));
            }
            _ => {
                totals.fields.insert(k.clone(), from_value(v));
            }
        }
    }
    totals
}

/// A counter stored as `integerValue` (or `doubleValue`, when someone wrote a double).
fn integer(v: &Value) -> i64 {
    if let Some(i) = v.get("integerValue").and_then(int_of) {
        return i;
    }
    match v.get("doubleValue").and_then(double_of) {
        // `as` saturates; the guard keeps NaN out.
        Some(d) if d.is_finite() => d.round() as i64,
        _ => 0,
    }
}

fn number(v: &Value) -> f64 {
    v.get("doubleValue")
        .and_then(double_of)
        .or_else(|| v.get("integerValue").and_then(int_of).map(|i| i as f64))
        .filter(|d| d.is_finite())
        .unwrap_or(0.0)
}

/// A streamed REST answer: a JSON array of responses (one object accepted too).
fn stream_of(what: &str, bytes: &[u8]) -> Result<Vec<Value>, StoreError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Array(list)) => Ok(list),
        Ok(v @ Value::Object(_)) => Ok(vec![v]),
        Ok(other) => Err(StoreError::Permanent(format!(
            "Firestore {what}: unexpected answer {}",
            other.to_string().chars().take(200).collect::<String>()
        ))),
        Err(e) => Err(StoreError::Permanent(format!(
            "Firestore {what}: unexpected answer: {e}"
        ))),
    }
}

fn encode(v: &Value) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Permanent(format!("encoding a request: {e}")))
}

impl CounterStore for FirestoreStore {
    fn apply<'a>(
        &'a self,
        commit: &'a CounterCommit,
    ) -> BoxFuture<'a, Result<Applied, StoreError>> {
        Box::pin(self.commit(commit))
    }

    fn catalog<'a>(
        &'a self,
        item_ids: &'a [String],
    ) -> BoxFuture<'a, Result<CatalogEntries, StoreError>> {
        Box::pin(self.read_catalog(item_ids))
    }

    fn items(&self) -> BoxFuture<'_, Result<Vec<ItemTotals>, StoreError>> {
        Box::pin(self.read_items())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn store() -> FirestoreStore {
        let endpoint = Endpoint {
            base: "http://127.0.0.1:1".into(),
            auth: Auth::None,
        };
        FirestoreStore::new(endpoint, "p", "(default)", Duration::from_secs(1))
    }

    fn update(id: &str, counter: i64, profit: Option<f64>) -> ItemUpdate {
        ItemUpdate {
            item_id: id.into(),
            fields: [
                ("item_name".to_string(), json!(format!("name {counter}"))),
                ("counter".to_string(), json!(99)),
                ("a.b".to_string(), json!(1)),
            ]
            .into_iter()
            .collect(),
            counter,
            revenue: 2.5 * counter as f64,
            profit,
        }
    }

    #[test]
    fn commit_body_marker_first_then_one_write_per_item() {
        let commit = CounterCommit {
            marker_id: "m1".into(),
            shard: None,
            items: vec![
                update("a", 1, None),
                update("b", 2, Some(1.0)),
                update("a", 3, Some(0.5)),
            ],
            expire_at: UNIX_EPOCH,
        };
        let body = store().commit_body(&commit).unwrap();
        let writes = body["writes"].as_array().unwrap();
        assert_eq!(writes.len(), 3);
        assert_eq!(
            writes[0]["update"]["name"],
            "projects/p/databases/(default)/documents/hermes_processed/m1"
        );
        assert_eq!(writes[0]["currentDocument"], json!({ "exists": false }));
        assert_eq!(
            writes[0]["update"]["fields"]["expireAt"],
            json!({ "timestampValue": "1970-01-01T00:00:00.000000Z" })
        );
        let a = &writes[1];
        assert_eq!(
            a["update"]["name"],
            "projects/p/databases/(default)/documents/items/a"
        );
        assert_eq!(a["updateMask"]["fieldPaths"], json!(["item_name", "`a.b`"]));
        assert_eq!(
            a["update"]["fields"]["item_name"],
            json!({ "stringValue": "name 3" })
        );
        assert!(a["update"]["fields"].get("counter").is_none());
        let t = a["updateTransforms"].as_array().unwrap();
        assert_eq!(
            t[0],
            json!({ "fieldPath": "counter", "increment": { "integerValue": "4" } })
        );
        assert_eq!(
            t[1],
            json!({ "fieldPath": "revenue", "increment": { "doubleValue": 10.0 } })
        );
        assert_eq!(
            t[2],
            json!({ "fieldPath": "profit", "increment": { "doubleValue": 0.5 } })
        );
        assert_eq!(
            t[3],
            json!({ "fieldPath": "last_event_at", "setToServerValue": "REQUEST_TIME" })
        );
        let b = writes[2]["updateTransforms"].as_array().unwrap();
        assert_eq!(b.len(), 4);
    }

    #[test]
    fn sharded_writes_go_to_the_shard_and_bad_input_is_permanent() {
        let mut commit = CounterCommit {
            marker_id: "m1".into(),
            shard: Some(3),
            items: vec![update("a", 1, None)],
            expire_at: UNIX_EPOCH,
        };
        let body = store().commit_body(&commit).unwrap();
        assert_eq!(
            body["writes"][1]["update"]["name"],
            "projects/p/databases/(default)/documents/items/a/shards/3"
        );
        assert_eq!(
            body["writes"][1]["updateTransforms"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        commit.items[0].revenue = f64::NAN;
        assert!(matches!(
            store().commit_body(&commit),
            Err(StoreError::Permanent(_))
        ));
        commit.items[0].revenue = 1.0;
        commit.items[0].item_id = "a/b".into();
        assert!(matches!(
            store().commit_body(&commit),
            Err(StoreError::Permanent(_))
        ));
        commit.items.clear();
        commit.marker_id = "__m__".into();
        assert!(matches!(
            store().commit_body(&commit),
            Err(StoreError::Permanent(_))
        ));
    }

    #[test]
    fn classification_uses_the_status_string() {
        assert!(matches!(
            classify(409, "ALREADY_EXISTS"),
            Class::Precondition
        ));
        assert!(matches!(
            classify(412, "FAILED_PRECONDITION"),
            Class::Precondition
        ));
        assert!(matches!(classify(409, "ABORTED"), Class::Retry));
        assert!(matches!(classify(409, ""), Class::Retry));
        assert!(matches!(classify(503, ""), Class::Retry));
        assert!(matches!(classify(500, "UNKNOWN"), Class::Retry));
        assert!(matches!(classify(403, "PERMISSION_DENIED"), Class::Fail));
        assert!(matches!(classify(400, "INVALID_ARGUMENT"), Class::Fail));
    }

    #[test]
    fn totals_read_counters_and_keep_other_fields() {
        let doc = json!({
            "name": "projects/p/databases/(default)/documents/items/a/shards/0",
            "fields": {
                "counter": { "integerValue": "5" },
                "revenue": { "integerValue": "3" },
                "profit": { "doubleValue": 1.5 },
                "last_event_at": { "timestampValue": "2026-01-01T00:00:00Z" },
                "item_name": { "stringValue": "A" },
            }
        });
        let s = store();
        assert_eq!(s.item_of(&doc), Some(("a".to_string(), true)));
        let t = totals_of("a", &doc);
        assert_eq!((t.counter, t.revenue, t.profit), (5, 3.0, 1.5));
        assert_eq!(
            t.last_event_at.as_deref(),
            Some("2026-01-01T00:00:00.000000Z")
        );
        assert_eq!(Value::Object(t.fields), json!({ "item_name": "A" }));
        let other = json!({ "name": "projects/p/databases/(default)/documents/orders/x/shards/0" });
        assert_eq!(s.item_of(&other), None);
        let deep =
            json!({ "name": "projects/p/databases/(default)/documents/items/a/shards/0/x/y" });
        assert_eq!(s.item_of(&deep), None);
        assert_eq!(
            totals_of(
                "a",
                &json!({ "fields": { "counter": { "doubleValue": 2.6 } } })
            )
            .counter,
            3
        );
    }
}
