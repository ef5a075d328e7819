//! The workspace's integration tests but the shared crates' own: the functions in
//! process (ingest's contract, counters' store faults) and the real binaries end
//! to end against their peers (the emulator, the Lambda runtime emulator, a
//! browser, wiremock). One test binary, one module per area, to keep linking
//! cheap; the helpers they share are in `hermes-testkit`.

mod backfill;
mod browser;
mod config_sections;
mod contract_pubsub;
mod counters_emulator;
mod counters_faults;
mod dashboard_emulator;
mod dashboard_scale;
mod dev;
mod dev_enrich;
mod dev_notify;
mod dev_quarantine;
mod emulator_pubsub;
mod enrich_emulator;
mod exactly_once;
mod firestore_emulator;
mod ingest;
mod lambda;
mod log_fields;
mod notify_emulator;
mod overload;
mod pipeline_emulator;
mod preview;
mod preview_emulator;
mod publish_shared;
mod push_kit;
mod push_oidc;
mod quarantine;
mod validate;
mod warehouse;
