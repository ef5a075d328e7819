//! Stores for tests: in-memory item readers whose reads a test sets, fails or
//! makes panic, and the real `FirestoreStore` aimed at an emulator or a wiremock server.

use hermes_core::future::BoxFuture;
use hermes_core::store::{ItemTotals, ItemsReader, StoreError};
use hermes_gcp::firestore::FirestoreStore;
use hermes_gcp::{Auth, Endpoint};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// An items reader whose answer the test sets (or fails), counting reads.
pub struct MemoryStore {
    /// The items, or the message of the transient error to answer.
    items: Mutex<Result<Vec<ItemTotals>, String>>,
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
        *self.items.lock().unwrap() = Err(message.to_string());
    }
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

impl ItemsReader for MemoryStore {
    fn items(&self) -> BoxFuture<'_, Result<Vec<ItemTotals>, StoreError>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let items = self.items.lock().unwrap().clone();
        Box::pin(async move { items.map_err(StoreError::transient) })
    }
}

/// A store whose first read panics (a store bug); later reads find no items.
#[derive(Default)]
pub struct PanickingStore(pub AtomicUsize);

impl ItemsReader for PanickingStore {
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
