//! The pipeline-health lines of one processed request: what Terraform's
//! log-based metrics count (terraform/monitoring.tf; README, "Monitoring").
//! The `metric` field and the counted fields are a contract with those
//! metrics' filters: a test checks them against the lines really logged.

use crate::process::Report;
use std::collections::{BTreeMap, BTreeSet};

/// One `ingest_events` line; one `ingest_rejections` line per error code
/// (events with that code, each event once); one `ingest_tag_failures` line
/// per destination that failed. Bounded: codes and destinations are few.
pub fn log_request(report: &Report, preview: bool) {
    let rejected = report.invalid_schema_events.len();
    tracing::info!(
        metric = "ingest_events",
        events_accepted = report.event_count.saturating_sub(rejected),
        events_rejected = rejected,
        tag_runs = report.tags_total,
        tag_failures = report.tags_failed,
        preview,
        "events processed"
    );
    let mut by_code: BTreeMap<String, BTreeSet<Option<usize>>> = BTreeMap::new();
    for e in &report.errors {
        let code = serde_json::to_value(e.code)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        by_code.entry(code).or_default().insert(e.event_index);
    }
    for (code, events) in by_code {
        tracing::info!(
            metric = "ingest_rejections",
            code = %code,
            events = events.len(),
            preview,
            "events rejected"
        );
    }
    let mut by_destination: BTreeMap<&str, usize> = BTreeMap::new();
    for failed in &report.failed_tags {
        *by_destination.entry(&failed.tag_info.name).or_default() += 1;
    }
    for (destination, failures) in by_destination {
        tracing::warn!(
            metric = "ingest_tag_failures",
            destination,
            tag_failures = failures,
            preview,
            "tag failures"
        );
    }
}
