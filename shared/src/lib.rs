//! `hermes-core`: what every Hermes function shares — configuration, schema
//! checking, the Hermes encoding, Google Cloud REST clients, logging and the
//! runtime adapter that runs one `axum::Router` on Cloud Run or AWS Lambda.

pub mod auth;
pub mod config;
pub mod firestore;
pub mod gcp;
pub mod hermes;
pub mod logging;
pub mod pubsub;
pub mod push;
pub mod retry;
pub mod runtime;
pub mod schema;
pub mod sqlite;
pub mod store;
