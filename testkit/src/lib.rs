//! The Hermes test kit: what the workspace's tests share, one idea per module.
//! A dev-dependency only; see the README's "Tests" section for what the tests cover.
//!
//! - [`emulator`]: the peers the end-to-end tests run — Google's Pub/Sub and Firestore
//!   emulators, the tools `scripts/install-test-tools` installs, the workspace's own
//!   binaries on free ports.
//! - [`paths`]: the repository root, its target directory, the test tools' folder.
//! - [`discovery`]: requests checked against Google's API discovery documents.
//! - [`sse`]: a Server-Sent Events reader.
//! - [`publishers`]: recording `Publisher`s (one that records and holds whole calls) and a
//!   fake Pub/Sub publish answer.
//! - [`stores`]: in-memory `CounterStore`s, and a `FirestoreStore` aimed at a test server.
//! - [`traces`]: an in-memory preview trace store.
//! - [`oidc`]: RSA test keys, their JWKS, and Google-style signed tokens.
//! - [`samples`]: the shared test configuration, events and push envelopes.
//! - [`faults`]: faults between real peers: lost answers, failed and slow pushes.
//! - [`federation`]: recording stand-ins for AWS's instance metadata, Google's STS and IAM
//!   and a publish, an AWS-sourced `external_account` file naming them, the checks of the
//!   token exchange (the AWS signature recomputed by botocore).
//! - [`reads`]: a forwarder to the Firestore emulator that counts the documents read.
//! - [`webhook`]: a webhook receiver on loopback that records calls and answers by rule.
//! - [`ci`]: CI detection and [`ci::skip`], which makes a test that cannot run visible.

pub mod ci;
pub mod discovery;
pub mod emulator;
pub mod faults;
pub mod federation;
pub mod geo;
pub mod loopback;
pub mod oidc;
pub mod paths;
pub mod publishers;
pub mod reads;
pub mod samples;
pub mod sse;
pub mod stores;
pub mod traces;
pub mod webhook;
