//! hermes-core's integration tests, one binary: `FirestoreStore` against Google's
//! discovery document and against injected REST faults; the shared publish calls.

mod batcher;
mod firestore_contract;
mod firestore_faults;
