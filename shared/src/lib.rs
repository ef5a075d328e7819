//! `hermes-core`: what the Hermes cloud functions share — configuration,
//! schema checking, the Hermes encoding, the Google Cloud REST transport and
//! its Pub/Sub and Firestore clients, the storage seams, Pub/Sub push, logging
//! and the runtime adapter that runs one `axum::Router` on Cloud Run or AWS
//! Lambda. See docs/ARCHITECTURE.md for the map.

pub mod auth;
pub mod config;
pub mod error;
pub mod excerpt;
pub mod firestore;
pub mod future;
pub mod gcp;
pub mod hermes;
pub mod json;
pub mod limits;
pub mod logging;
pub mod preview;
pub mod pubsub;
pub mod push;
pub mod runtime;
pub mod schema;
pub mod store;
pub mod time;
pub mod transform;
