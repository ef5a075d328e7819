//! The reads: documents of any collection by `batchGet` (the catalog, enrich's
//! lookups), a marker by its name, every
//! item's totals by listing `items` and a `shards` collection-group `runQuery`,
//! both paged, and the items changed since a time (`last_event_at`, the
//! commit's `REQUEST_TIME`) by the same two queries with a filter.

use super::commit::document_name;
use super::store::FirestoreStore;
use super::value::{double_of, from_fields, from_value, int_of};
use super::{encode, FirestoreError};
use crate::{CallError, Deadline};
use hermes_core::excerpt::preview;
use hermes_core::store::{
    merge_shards, Amounts, CatalogEntries, Document, DocumentId, DocumentKey, ItemTotals,
    CATALOG_COLLECTION, ITEMS_COLLECTION, NO_CURRENCY, PROCESSED_COLLECTION, SHARDS_COLLECTION,
};
use hermes_core::time::{format_timestamp, normalize_timestamp};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::SystemTime;

/// Firestore's documented limit of documents per `batchGet` we keep to.
const BATCH_GET_CHUNK: usize = 100;
const LIST_PAGE_SIZE: u32 = 300;
/// Documents per `runQuery` page (a cursor on the order's values between pages).
const QUERY_PAGE_SIZE: usize = 1000;
/// Queries of changed items' shards under way at once.
const SHARD_READS_AT_ONCE: usize = 8;
/// Items whose own document changed whose shards are read by a query each;
/// past it, by one scan of every shard.
const SHARD_QUERIES_MAX: usize = 20;

/// The items of `parts` not in `missing` (those found by their own document only).
fn missing_own_doc_complement(
    parts: &BTreeMap<String, Vec<ItemTotals>>,
    missing: &[String],
) -> Vec<String> {
    let by_shard: HashSet<&str> = missing.iter().map(String::as_str).collect();
    parts
        .keys()
        .filter(|id| !by_shard.contains(id.as_str()))
        .cloned()
        .collect()
}

impl FirestoreStore {
    pub(super) async fn read_catalog(
        &self,
        item_ids: &[DocumentId],
    ) -> Result<CatalogEntries, FirestoreError> {
        let paths = item_ids
            .iter()
            .map(|id| (format!("{CATALOG_COLLECTION}/{id}"), id.clone()));
        Ok(self.batch_get(paths).await?.into_iter().collect())
    }

    /// Documents of any collection (enrich's lookups).
    pub(super) async fn read_documents(
        &self,
        keys: &[DocumentKey],
    ) -> Result<HashMap<DocumentKey, Document>, FirestoreError> {
        let paths = keys
            .iter()
            .map(|key| (format!("{}/{}", key.0, key.1), key.clone()));
        self.batch_get(paths).await
    }

    /// The documents found at `paths` (`collection/id`, each with the key it
    /// is answered under), by `batchGet`: a hundred a call, a path asked
    /// twice read once. Documents that do not exist are absent.
    async fn batch_get<K: Clone + Eq + std::hash::Hash>(
        &self,
        paths: impl Iterator<Item = (String, K)>,
    ) -> Result<HashMap<K, Document>, FirestoreError> {
        let deadline = Deadline::after(self.deadline);
        // By the name Firestore answers with, which is the name asked for.
        let mut wanted: Vec<(String, K)> = Vec::new();
        let mut seen = HashSet::new();
        for (path, key) in paths {
            let name = document_name(&self.database, &path);
            if seen.insert(name.clone()) {
                wanted.push((name, key));
            }
        }
        let url = self.url("/documents:batchGet")?;
        let mut out = HashMap::new();
        for chunk in wanted.chunks(BATCH_GET_CHUNK) {
            let names: Vec<&str> = chunk.iter().map(|(name, _)| name.as_str()).collect();
            let body = encode(&json!({ "documents": names }))?;
            let bytes = self
                .call("batchGet", Method::POST, &url, Some(body), deadline)
                .await?;
            for response in stream_of("batchGet", &bytes)? {
                let Some(doc) = response.get("found") else {
                    continue;
                };
                let name = doc.get("name").and_then(Value::as_str).unwrap_or_default();
                let Some((_, key)) = chunk.iter().find(|(n, _)| n == name) else {
                    continue;
                };
                let fields = doc.get("fields").and_then(Value::as_object);
                out.insert(key.clone(), fields.map(from_fields).unwrap_or_default());
            }
        }
        Ok(out)
    }

    /// `GET` of `hermes_processed/{marker_id}`: found, or NOT_FOUND.
    pub(super) async fn read_marker(
        &self,
        marker_id: &DocumentId,
        deadline: Deadline,
    ) -> Result<bool, FirestoreError> {
        self.exists(PROCESSED_COLLECTION, marker_id, deadline).await
    }

    /// `GET` of `{collection}/{id}`: found, or NOT_FOUND (any other refusal
    /// is an error, never taken for absence).
    pub(super) async fn exists(
        &self,
        collection: &str,
        id: &DocumentId,
        deadline: Deadline,
    ) -> Result<bool, FirestoreError> {
        let url = self.url(&format!("/documents/{collection}/{id}"))?;
        match self
            .call("marker read", Method::GET, &url, None, deadline)
            .await
        {
            Ok(_) => Ok(true),
            Err(FirestoreError::Call {
                source: CallError::Rejected(e),
                ..
            }) if e
                .api()
                .is_some_and(|(http, api)| http == 404 || api.status == "NOT_FOUND") =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    pub(super) async fn read_items(&self) -> Result<Vec<ItemTotals>, FirestoreError> {
        // Each item's documents: its own (unsharded counts) and its shards.
        let mut docs: BTreeMap<String, Vec<ItemTotals>> = BTreeMap::new();
        self.scan_item_parts(&mut |part| docs.entry(part.item_id.clone()).or_default().push(part))
            .await?;
        Ok(docs
            .into_iter()
            .map(|(id, parts)| merge_shards(&id, parts))
            .collect())
    }

    /// Every item document (listing `items`) and every shard (a `shards`
    /// collection-group query), both paged, each handed to `each` as its page
    /// is read: no more than a page is held here.
    pub(super) async fn scan_item_parts(
        &self,
        each: &mut (dyn FnMut(ItemTotals) + Send),
    ) -> Result<(), FirestoreError> {
        let deadline = Deadline::after(self.deadline);
        let list = self.url(&format!("/documents/{ITEMS_COLLECTION}"))?;
        let mut token: Option<String> = None;
        loop {
            let mut url = list.clone();
            url.query_pairs_mut()
                .append_pair("pageSize", &LIST_PAGE_SIZE.to_string());
            if let Some(t) = &token {
                url.query_pairs_mut().append_pair("pageToken", t);
            }
            let bytes = self
                .call("list items", Method::GET, &url, None, deadline)
                .await?;
            let page: Value =
                serde_json::from_slice(&bytes).map_err(|source| FirestoreError::Decode {
                    what: "list items",
                    source,
                })?;
            for doc in page
                .get("documents")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some((id, false)) = self.item_of(doc) {
                    each(totals_of(&id, doc));
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
        let from = json!([{ "collectionId": SHARDS_COLLECTION, "allDescendants": true }]);
        self.query_pages("runQuery shards", "", from, None, deadline, &mut |doc| {
            if let Some((id, true)) = self.item_of(doc) {
                each(totals_of(&id, doc));
            }
            true
        })
        .await
    }

    /// The items with a document whose `last_event_at` is after `since`, each
    /// with its complete totals. Two queries find the changed documents:
    /// `items` where `last_event_at > since` (Firestore's automatic
    /// single-field index) and the `shards` collection group likewise (the
    /// collection-group index of `terraform/firestore.tf`). Then every changed
    /// item's shards are read (one query per item, a few at once) and, for an
    /// item found by a shard, its own document (`batchGet`): a changed shard
    /// alone cannot give the item's sum, and an item may hold counts both in
    /// its document and in shards (sharding switched on or off).
    pub(super) async fn read_changed(
        &self,
        since: SystemTime,
        at_most: usize,
    ) -> Result<Option<Vec<ItemTotals>>, FirestoreError> {
        let deadline = Deadline::after(self.deadline);
        let since = json!({ "timestampValue": format_timestamp(since) });
        let filter = json!({ "fieldFilter": {
            "field": { "fieldPath": "last_event_at" },
            "op": "GREATER_THAN",
            "value": since,
        } });
        // Each changed item: its own document when that changed too.
        let mut changed: BTreeMap<String, Option<ItemTotals>> = BTreeMap::new();
        let from = json!([{ "collectionId": ITEMS_COLLECTION }]);
        self.query_pages(
            "runQuery changed items",
            "",
            from,
            Some(filter.clone()),
            deadline,
            &mut |doc| {
                if let Some((id, false)) = self.item_of(doc) {
                    let totals = totals_of(&id, doc);
                    changed.insert(id, Some(totals));
                }
                changed.len() <= at_most
            },
        )
        .await?;
        if changed.len() > at_most {
            return Ok(None);
        }
        let from = json!([{ "collectionId": SHARDS_COLLECTION, "allDescendants": true }]);
        self.query_pages(
            "runQuery changed shards",
            "",
            from,
            Some(filter),
            deadline,
            &mut |doc| {
                if let Some((id, true)) = self.item_of(doc) {
                    changed.entry(id).or_insert(None);
                }
                changed.len() <= at_most
            },
        )
        .await?;
        if changed.len() > at_most {
            return Ok(None);
        }
        if changed.is_empty() {
            return Ok(Some(Vec::new()));
        }

        // The own documents of items found by a shard (`missing` is also
        // the list of items whose shards changed).
        let missing: Vec<String> = changed
            .iter()
            .filter(|(_, own)| own.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        let mut parts: BTreeMap<String, Vec<ItemTotals>> = BTreeMap::new();
        for (id, own) in &mut changed {
            parts.insert(id.clone(), own.take().into_iter().collect());
        }
        if !missing.is_empty() {
            let url = self.url("/documents:batchGet")?;
            for chunk in missing.chunks(BATCH_GET_CHUNK) {
                let names: Vec<String> = chunk
                    .iter()
                    .map(|id| document_name(&self.database, &format!("{ITEMS_COLLECTION}/{id}")))
                    .collect();
                let body = encode(&json!({ "documents": names }))?;
                let bytes = self
                    .call("batchGet items", Method::POST, &url, Some(body), deadline)
                    .await?;
                for response in stream_of("batchGet items", &bytes)? {
                    let Some(doc) = response.get("found") else {
                        continue;
                    };
                    if let Some((id, false)) = self.item_of(doc) {
                        if let Some(list) = parts.get_mut(&id) {
                            list.push(totals_of(&id, doc));
                        }
                    }
                }
            }
        }

        // The shards of the items whose own document changed (counters
        // writes own documents when not sharded, but earlier shards may remain
        // beside them): none to read when there is no shard at all (one query
        // of one document tells); a few items by a query each; many by one
        // scan of every shard, so that a burst of changes never costs a query
        // per item.
        let own_only: Vec<String> = missing_own_doc_complement(&parts, &missing);
        let mut ids: Vec<String> = missing;
        if !own_only.is_empty() && self.any_shard(deadline).await? {
            if own_only.len() <= SHARD_QUERIES_MAX {
                ids.extend(own_only);
            } else {
                let wanted: HashSet<&str> = own_only.iter().map(String::as_str).collect();
                let mut found: Vec<ItemTotals> = Vec::new();
                let from = json!([{ "collectionId": SHARDS_COLLECTION, "allDescendants": true }]);
                self.query_pages("runQuery shards", "", from, None, deadline, &mut |doc| {
                    if let Some((id, true)) = self.item_of(doc) {
                        if wanted.contains(id.as_str()) {
                            found.push(totals_of(&id, doc));
                        }
                    }
                    true
                })
                .await?;
                for shard in found {
                    if let Some(list) = parts.get_mut(&shard.item_id) {
                        list.push(shard);
                    }
                }
            }
        }

        // Every item found by a changed shard: all its shards, by a query
        // each, SHARD_READS_AT_ONCE at a time.
        let mut tasks = tokio::task::JoinSet::new();
        let mut next = ids.into_iter();
        loop {
            while tasks.len() < SHARD_READS_AT_ONCE {
                let Some(id) = next.next() else { break };
                let store = self.clone();
                tasks.spawn(async move {
                    let shards = store.read_shards_of(&id, deadline).await;
                    (id, shards)
                });
            }
            let Some(done) = tasks.join_next().await else {
                break;
            };
            let (id, shards) = done.map_err(|e| FirestoreError::Shape {
                what: "runQuery shards of an item",
                text: e.to_string(),
            })?;
            if let Some(list) = parts.get_mut(&id) {
                list.extend(shards?);
            }
        }
        Ok(Some(
            parts
                .into_iter()
                .map(|(id, parts)| merge_shards(&id, parts))
                .collect(),
        ))
    }

    /// Whether any shard exists: a `shards` collection-group query of one document.
    async fn any_shard(&self, deadline: Deadline) -> Result<bool, FirestoreError> {
        let url = self.url("/documents:runQuery")?;
        let query = json!({ "structuredQuery": {
            "from": [{ "collectionId": SHARDS_COLLECTION, "allDescendants": true }],
            "limit": 1,
        } });
        let bytes = self
            .call(
                "runQuery any shard",
                Method::POST,
                &url,
                Some(encode(&query)?),
                deadline,
            )
            .await?;
        Ok(stream_of("runQuery any shard", &bytes)?
            .iter()
            .any(|r| r.get("document").is_some()))
    }

    /// The shards of one item: a query on `items/{id}/shards`, paged.
    async fn read_shards_of(
        &self,
        item_id: &str,
        deadline: Deadline,
    ) -> Result<Vec<ItemTotals>, FirestoreError> {
        let mut out = Vec::new();
        // The URL's path keeps a `%` of the id as it is: encoded here, the
        // rest (`?`, `#`, spaces) by the URL itself. Ids hold no `/`.
        let parent = format!("/{ITEMS_COLLECTION}/{}", item_id.replace('%', "%25"));
        let from = json!([{ "collectionId": SHARDS_COLLECTION }]);
        self.query_pages(
            "runQuery shards of an item",
            &parent,
            from,
            None,
            deadline,
            &mut |doc| {
                if let Some((id, true)) = self.item_of(doc) {
                    if id == item_id {
                        out.push(totals_of(&id, doc));
                    }
                }
                true
            },
        )
        .await?;
        Ok(out)
    }

    /// A `runQuery` under `documents{parent}`, every page (until `each`
    /// answers `false`): ordered by
    /// `last_event_at` then name with an inequality `filter` on it (Firestore
    /// orders by the inequality's field first), else by name; the cursor is
    /// the last document's values.
    async fn query_pages(
        &self,
        what: &'static str,
        parent: &str,
        from: Value,
        filter: Option<Value>,
        deadline: Deadline,
        each: &mut (dyn FnMut(&Value) -> bool + Send),
    ) -> Result<(), FirestoreError> {
        let url = self.url(&format!("/documents{parent}:runQuery"))?;
        let by_time = filter.is_some();
        let mut after: Option<Vec<Value>> = None;
        loop {
            let mut order = Vec::new();
            if by_time {
                order.push(
                    json!({ "field": { "fieldPath": "last_event_at" }, "direction": "ASCENDING" }),
                );
            }
            order.push(json!({ "field": { "fieldPath": "__name__" }, "direction": "ASCENDING" }));
            let mut query = json!({
                "from": from,
                "orderBy": order,
                "limit": QUERY_PAGE_SIZE,
            });
            if let Some(filter) = &filter {
                query["where"] = filter.clone();
            }
            if let Some(values) = &after {
                query["startAt"] = json!({ "values": values, "before": false });
            }
            let body = encode(&json!({ "structuredQuery": query }))?;
            let bytes = self
                .call(what, Method::POST, &url, Some(body), deadline)
                .await?;
            let mut count = 0;
            let mut last = None;
            for response in stream_of(what, &bytes)? {
                let Some(doc) = response.get("document") else {
                    continue;
                };
                count += 1;
                let name = doc.get("name").and_then(Value::as_str);
                let time = doc.pointer("/fields/last_event_at");
                last = match (by_time, name, time) {
                    (false, Some(n), _) => Some(vec![json!({ "referenceValue": n })]),
                    (true, Some(n), Some(t)) => {
                        Some(vec![t.clone(), json!({ "referenceValue": n })])
                    }
                    _ => None,
                };
                if !each(doc) {
                    // The caller has enough: no further page.
                    return Ok(());
                }
            }
            match last {
                Some(values) if count >= QUERY_PAGE_SIZE && after.as_ref() != Some(&values) => {
                    after = Some(values)
                }
                _ => return Ok(()),
            }
        }
    }

    /// `(item id, is a shard)` of `items/{id}` or `items/{id}/shards/{k}`; `None` for
    /// any other document (a `shards` collection elsewhere, deeper documents).
    pub(super) fn item_of(&self, doc: &Value) -> Option<(String, bool)> {
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
            "revenue" => totals.revenue = amounts(v),
            "profit" => totals.profit = amounts(v),
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

/// A stored amount as it is: a non-finite one (never written by Hermes, whose
/// line amounts are bounded) stays non-finite, and a value that is no number
/// reads as NaN, so a reader never shows a broken amount as 0.
fn number(v: &Value) -> f64 {
    v.get("doubleValue")
        .and_then(double_of)
        .or_else(|| v.get("integerValue").and_then(int_of).map(|i| i as f64))
        .unwrap_or(f64::NAN)
}

/// `revenue` / `profit`: a map of currency code → amount. A plain number is
/// the single-currency field written before amounts were kept per currency:
/// its currency is unknown, so it reads as `XXX` (README, "Data model").
fn amounts(v: &Value) -> Amounts {
    if let Some(fields) = v
        .get("mapValue")
        .map(|m| m.get("fields").and_then(Value::as_object))
    {
        return fields
            .into_iter()
            .flatten()
            .map(|(currency, amount)| (currency.clone(), number(amount)))
            .collect();
    }
    let legacy = number(v);
    if legacy == 0.0 {
        Amounts::new()
    } else {
        [(NO_CURRENCY.to_string(), legacy)].into()
    }
}

/// A streamed REST answer: a JSON array of responses (one object accepted too).
pub(super) fn stream_of(what: &'static str, bytes: &[u8]) -> Result<Vec<Value>, FirestoreError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Array(list)) => Ok(list),
        Ok(v @ Value::Object(_)) => Ok(vec![v]),
        Ok(other) => Err(FirestoreError::Shape {
            what,
            text: preview(&other.to_string(), 200),
        }),
        Err(source) => Err(FirestoreError::Decode { what, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Auth, Endpoint};
    use std::time::Duration;

    #[test]
    fn totals_read_counters_and_keep_other_fields() {
        let endpoint = Endpoint {
            base: "http://127.0.0.1:1".into(),
            auth: Auth::None,
        };
        let s = FirestoreStore::new(endpoint, "p", "(default)", Duration::from_secs(1));
        let doc = json!({
            "name": "projects/p/databases/(default)/documents/items/a/shards/0",
            "fields": {
                "counter": { "integerValue": "5" },
                "revenue": { "mapValue": { "fields": {
                    "DKK": { "integerValue": "3" }, "EUR": { "doubleValue": 0.5 } } } },
                "profit": { "doubleValue": 1.5 },
                "last_event_at": { "timestampValue": "2026-01-01T00:00:00Z" },
                "item_name": { "stringValue": "A" },
            }
        });
        assert_eq!(s.item_of(&doc), Some(("a".to_string(), true)));
        let t = totals_of("a", &doc);
        assert_eq!(t.counter, 5);
        let revenue: Amounts = [("DKK".to_string(), 3.0), ("EUR".to_string(), 0.5)].into();
        assert_eq!(t.revenue, revenue);
        // A single number from before amounts were per currency.
        assert_eq!(t.profit, [("XXX".to_string(), 1.5)].into());
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

    /// A stored amount is read as it is: never 0 in place of a non-finite
    /// or unreadable one (the dashboard shows those as such).
    #[test]
    fn amounts_that_are_not_finite_stay_so() {
        let doc = json!({ "fields": {
            "revenue": { "mapValue": { "fields": {
                "DKK": { "doubleValue": "Infinity" },
                "EUR": { "doubleValue": "-Infinity" },
                "SEK": { "stringValue": "12" } } } },
            "profit": { "doubleValue": "NaN" },
        } });
        let t = totals_of("a", &doc);
        assert_eq!(t.revenue["DKK"], f64::INFINITY);
        assert_eq!(t.revenue["EUR"], f64::NEG_INFINITY);
        assert!(t.revenue["SEK"].is_nan());
        assert!(t.profit["XXX"].is_nan());
    }
}
