//! hermes-ingest in-process: the template's scenarios, the HTTP contract, the
//! Hermes encoding, Pub/Sub faults injected with wiremock, and a property test
//! that it never panics.

mod common;
mod event_identity;
mod hermes_encoding;
mod http_contract;
mod limits;
mod no_panic;
mod personal_data;
mod publish_faults;
mod template_scenarios;
