//! Counter stores for tests: in-memory ones whose reads a test sets, fails or makes
//! panic, and the real `FirestoreStore` aimed at an emulator or a wiremock server.

use hermes_core::firestore::FirestoreStore;
use hermes_core::gcp::{Auth, Endpoint};
use hermes_core::pubsub::BoxFuture;
use hermes_core::store::{
    Applied, CatalogEntries, CounterCommit, CounterStore, ItemTotals, StoreError,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// A read-only store whose `items()` answer the test sets (or fails), counting reads.
pub struct MemoryStore {
    items: Mutex<Result<Vec<ItemTotals>, StoreError>>,
    reads: AtomicUsize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            items: Mutex::new(Ok(Vec::new())),
            reads: AtomicUsize::new(0),
        }
    }
}

impl MemoryStore {
    pub fn set(&self, items: Vec<ItemTotals>) {
        *self.items.lock().unwrap() = Ok(items);
    }
    pub fn fail(&self, message: &str) {
        *self.items.lock().unwrap() = Err(StoreError::Transient(message.into()));
    }
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

/// The answer of a read-only store to `apply`.
fn read_only<'a>() -> BoxFuture<'a, Result<Applied, StoreError>> {
    Box::pin(async { Err(StoreError::Permanent("read-only".into())) })
}

/// The answer of a store without a catalog to `catalog`.
fn no_catalog<'a>() -> BoxFuture<'a, Result<CatalogEntries, StoreError>> {
    Box::pin(async { Ok(CatalogEntries::new()) })
}

impl CounterStore for MemoryStore {
    fn apply<'a>(&'a self, _: &'a CounterCommit) -> BoxFuture<'a, Result<Applied, StoreError>> {
        read_only()
    }
    fn catalog<'a>(&'a self, _: &'a [String]) -> BoxFuture<'a, Result<CatalogEntries, StoreError>> {
        no_catalog()
    }
    fn items(&self) -> BoxFuture<'_, Result<Vec<ItemTotals>, StoreError>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let items = self.items.lock().unwrap().clone();
        Box::pin(async move { items })
    }
}

/// A store whose first read panics (a store bug); later reads find no items.
#[derive(Default)]
pub struct PanickingStore(pub AtomicUsize);

impl CounterStore for PanickingStore {
    fn apply<'a>(&'a self, _: &'a CounterCommit) -> BoxFuture<'a, Result<Applied, StoreError>> {
        read_only()
    }
    fn catalog<'a>(&'a self, _: &'a [String]) -> BoxFuture<'a, Result<CatalogEntries, StoreError>> {
        no_catalog()
    }
    fn items(&self) -> BoxFuture<'_, Result<Vec<ItemTotals>, StoreError>> {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            if n == 0 {
                panic!("store bug");
            }
            Ok(Vec::new())
        })
    }
}

/// The `(default)` database of `project` at `base` (an emulator or a wiremock
/// server), with the token Firestore emulators take as the owner.
pub fn firestore_at(base: &str, project: &str, deadline: Duration) -> FirestoreStore {
    let endpoint = Endpoint {
        base: base.to_string(),
        auth: Auth::Static("owner".into()),
    };
    FirestoreStore::new(endpoint, project, "(default)", deadline)
}
