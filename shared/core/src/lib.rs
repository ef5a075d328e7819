//! `hermes-core`: the Hermes contract, with no async runtime, no HTTP stack
//! and no cloud client — configuration (the common keys and the names of the
//! functions' sections), schema checking, the JSON tree, destinations and the
//! Hermes encoding, personal-data transforms and consent, limits as values,
//! the preview inspector's sessions and traces, and the seams (traits) that
//! the Google clients (`hermes-gcp`) and `hermes dev` implement. See
//! docs/ARCHITECTURE.md for the map.

pub mod auth;
pub mod config;
pub mod destination;
pub mod error;
pub mod excerpt;
pub mod field_path;
pub mod future;
pub mod hex;
pub mod identity;
pub mod json;
pub mod limits;
pub mod preview;
pub mod schema;
pub mod store;
pub mod time;
pub mod transform;
