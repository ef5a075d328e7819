//! hermes-gcp's integration tests, one binary: `FirestoreStore` against Google's
//! discovery document and against injected REST faults.

mod firestore_contract;
mod firestore_faults;
