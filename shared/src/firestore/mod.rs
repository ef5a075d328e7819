//! Firestore over REST: the [`crate::store::CounterStore`] backend for Google Cloud.
//!
//! Only the REST surface of `firestore.v1.json` is used (no gRPC, no client
//! library): `documents:commit` for the exactly-once counter updates,
//! `documents:batchGet` for the catalog, `documents/items` (list) and a
//! `shards` collection-group `runQuery` for the dashboard's totals.

mod client;
pub mod value;

pub use client::{FirestoreStore, ENV_EMULATOR_HOST, PRODUCTION_BASE};
