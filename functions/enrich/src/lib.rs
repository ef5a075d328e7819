//! `hermes-enrich`: a Pub/Sub push target on the push-job kit that joins
//! Firestore documents, the device and the place into each event and
//! publishes the enriched event to an output topic (README, "The enrich
//! function").

pub mod device;
pub mod place;
pub mod settings;
