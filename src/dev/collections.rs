//! `hermes dev`'s stand-in for Firestore collections that enrich's lookups
//! read: `PUT /dev/collections/{collection}/{id}` writes a document, the
//! [`DocumentReader`] reads them. The `catalog` collection is the counters'
//! catalog itself (the same rows `PUT /dev/catalog/{item_id}` writes), as in
//! Firestore, where both read `catalog/{id}`.

use super::store::SqliteStore;
use hermes_core::future::BoxFuture;
use hermes_core::store::{
    CollectionId, CounterStore, Document, DocumentId, DocumentKey, DocumentReader, StoreError,
    CATALOG_COLLECTION,
};
use rusqlite::{params, OptionalExtension};
use serde_json::Value;
use std::collections::HashMap;

impl SqliteStore {
    /// Adds or replaces the document `collection/id`.
    pub async fn put_document(
        &self,
        collection: &CollectionId,
        id: &DocumentId,
        fields: Document,
    ) -> Result<(), StoreError> {
        if collection.as_str() == CATALOG_COLLECTION {
            return self.put_catalog(id, fields).await;
        }
        let (collection, id) = (collection.to_string(), id.to_string());
        let text = Value::Object(fields).to_string();
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT INTO documents (collection, id, fields) VALUES (?1, ?2, ?3)
                     ON CONFLICT (collection, id) DO UPDATE SET fields = excluded.fields",
                    params![collection, id, text],
                )
            })
            .await
            .map(|_| ())
            .map_err(StoreError::transient)
    }
}

impl DocumentReader for SqliteStore {
    fn documents<'a>(
        &'a self,
        keys: &'a [DocumentKey],
    ) -> BoxFuture<'a, Result<HashMap<DocumentKey, Document>, StoreError>> {
        Box::pin(async move {
            let (catalog, others): (Vec<&DocumentKey>, Vec<&DocumentKey>) = keys
                .iter()
                .partition(|(c, _)| c.as_str() == CATALOG_COLLECTION);
            let mut found = HashMap::new();
            if let Some((collection, _)) = catalog.first() {
                let ids: Vec<DocumentId> = catalog.iter().map(|(_, id)| id.clone()).collect();
                for (id, fields) in self.catalog(&ids).await? {
                    found.insert(((*collection).clone(), id), fields);
                }
            }
            let others: Vec<DocumentKey> = others.into_iter().cloned().collect();
            let rows = self
                .db
                .call(move |c| {
                    let mut stmt = c.prepare_cached(
                        "SELECT fields FROM documents WHERE collection = ?1 AND id = ?2",
                    )?;
                    let mut rows = Vec::new();
                    for key in others {
                        let text: Option<String> = stmt
                            .query_row(params![key.0.as_str(), key.1.as_str()], |r| r.get(0))
                            .optional()?;
                        if let Some(Value::Object(fields)) =
                            text.and_then(|t| serde_json::from_str(&t).ok())
                        {
                            rows.push((key, fields));
                        }
                    }
                    Ok(rows)
                })
                .await
                .map_err(StoreError::transient)?;
            found.extend(rows);
            Ok(found)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::db::Db;
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn documents_round_trip_and_the_catalog_is_one_collection() {
        let store = SqliteStore::new(Db::memory().unwrap());
        let customers = CollectionId::parse("customers").unwrap();
        let catalog = CollectionId::parse("catalog").unwrap();
        let id = |s: &str| DocumentId::parse(s).unwrap();
        let doc = |v: Value| v.as_object().cloned().unwrap();
        store
            .put_document(&customers, &id("u1"), doc(json!({"segment": "gold"})))
            .await
            .unwrap();
        store
            .put_document(&customers, &id("u1"), doc(json!({"segment": "vip"})))
            .await
            .unwrap();
        store
            .put_catalog(&id("sku"), doc(json!({"cost": 3})))
            .await
            .unwrap();
        let keys = vec![
            (customers.clone(), id("u1")),
            (customers.clone(), id("nobody")),
            (catalog.clone(), id("sku")),
            // Another collection's document of the same id is not this one.
            (CollectionId::parse("orders").unwrap(), id("u1")),
        ];
        let found = store.documents(&keys).await.unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[&keys[0]], doc(json!({"segment": "vip"})));
        assert_eq!(found[&keys[2]], doc(json!({"cost": 3})));
        // Written through the collections route, read by the counters' catalog.
        store
            .put_document(&catalog, &id("sku2"), doc(json!({"cost": 4})))
            .await
            .unwrap();
        assert_eq!(store.catalog(&[id("sku2")]).await.unwrap().len(), 1);
    }
}
