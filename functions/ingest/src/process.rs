//! The event path: type-check each event, run the destinations it triggers
//! (Hermes encoding), publish one request per topic (split at Pub/Sub's limits),
//! and account every tag execution back to its event.

use hermes_core::config::Config;
use hermes_core::error::report;
use hermes_core::pubsub::{Message, Publisher, TopicName, MAX_BATCH_MESSAGES, MAX_REQUEST_BYTES};
use hermes_core::schema::SchemaError;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// `tagInfo` of the response: one tag execution.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TagInfo {
    pub name: String,
    pub id: String,
    pub status: &'static str,
    pub execution_time: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedTag {
    pub tag_info: TagInfo,
    pub event_index: usize,
}

/// Everything the response reports about the events of one request.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Report {
    pub event_count: usize,
    pub invalid_schema_events: Vec<usize>,
    pub fully_failed_tag_events: Vec<usize>,
    pub partial_failed_tag_events: Vec<usize>,
    pub failed_tags: Vec<FailedTag>,
    pub errors: Vec<SchemaError>,
    /// Per event: destination name → message id.
    pub message_ids: Vec<BTreeMap<String, String>>,
    pub tags_total: usize,
    pub tags_failed: usize,
}

impl Report {
    pub fn schema_failures(&self) -> usize {
        self.invalid_schema_events.len()
    }
    pub fn schema_successes(&self) -> usize {
        self.event_count - self.invalid_schema_events.len()
    }
    pub fn tags_succeeded(&self) -> usize {
        self.tags_total - self.tags_failed
    }
}

/// Where a tag execution stands.
enum Run {
    /// Encoded, waiting for its batch; the message moves into the batch.
    Pending(Option<Message>),
    Published {
        message_id: String,
    },
    Failed {
        error: String,
        millis: u64,
    },
}

struct TagRun {
    event: usize,
    dest: usize,
    state: Run,
}

/// Checks, encodes and publishes the events of one request. Without a
/// publisher (`validate_only`) everything but the publish call runs.
pub async fn process(
    config: &Config,
    publisher: Option<&Arc<dyn Publisher>>,
    events: &[Value],
    preview: bool,
) -> Report {
    let mut report = Report {
        event_count: events.len(),
        message_ids: vec![BTreeMap::new(); events.len()],
        ..Report::default()
    };
    let mut runs = check_and_encode(config, events, preview, &mut report);
    if let Some(publisher) = publisher {
        publish(config, publisher, &mut runs).await;
    }
    account(config, runs, &mut report);
    report
}

/// Schema check, then trigger and encode every destination for each valid event.
fn check_and_encode(
    config: &Config,
    events: &[Value],
    preview: bool,
    report: &mut Report,
) -> Vec<TagRun> {
    let mut runs = Vec::new();
    for (i, event) in events.iter().enumerate() {
        if !config.schema.check_event(event, i, &mut report.errors) {
            report.invalid_schema_events.push(i);
            continue;
        }
        for (d, dest) in config.destinations.iter().enumerate() {
            if !dest.triggers(event) {
                continue;
            }
            let state = match dest.encode(event, preview) {
                Ok(message) => Run::Pending(Some(message)),
                Err(e) => Run::Failed {
                    error: e.to_string(),
                    millis: 0,
                },
            };
            runs.push(TagRun {
                event: i,
                dest: d,
                state,
            });
        }
    }
    runs
}

/// One publish request: a topic, its messages, and the runs they belong to.
struct Batch {
    topic: TopicName,
    runs: Vec<usize>,
    messages: Vec<Message>,
    bytes: usize,
}

/// Groups pending messages by topic and splits at 1,000 messages / 10 MB.
fn batches(config: &Config, runs: &mut [TagRun]) -> Vec<Batch> {
    // Request envelope `{"messages":[]}` plus commas: stay safely under the limit.
    const BUDGET: usize = MAX_REQUEST_BYTES - 1024;
    let mut by_topic: BTreeMap<&TopicName, Vec<Batch>> = BTreeMap::new();
    for (r, run) in runs.iter_mut().enumerate() {
        let Run::Pending(slot) = &mut run.state else {
            continue;
        };
        let Some(message) = slot.take() else { continue };
        let topic = &config.destinations[run.dest].topic;
        let list = by_topic.entry(topic).or_default();
        let size = message.encoded_len() + 1;
        let fits = list
            .last()
            .is_some_and(|b| b.messages.len() < MAX_BATCH_MESSAGES && b.bytes + size <= BUDGET);
        if !fits {
            list.push(Batch {
                topic: topic.clone(),
                runs: Vec::new(),
                messages: Vec::new(),
                bytes: 0,
            });
        }
        if let Some(batch) = list.last_mut() {
            batch.runs.push(r);
            batch.messages.push(message);
            batch.bytes += size;
        }
    }
    by_topic.into_values().flatten().collect()
}

/// Publishes every batch concurrently. Each batch runs in its own task, so a
/// client that hangs up does not cancel a publish already under way.
async fn publish(config: &Config, publisher: &Arc<dyn Publisher>, runs: &mut [TagRun]) {
    let mut tasks = tokio::task::JoinSet::new();
    for batch in batches(config, runs) {
        let publisher = Arc::clone(publisher);
        tasks.spawn(async move {
            let start = Instant::now();
            let result = publisher.publish(&batch.topic, &batch.messages).await;
            let millis = start.elapsed().as_millis() as u64;
            if let Err(e) = &result {
                tracing::warn!(topic = %batch.topic, messages = batch.messages.len(), error = %report(e), "publish failed");
            }
            (batch.runs, result, millis)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let Ok((batch_runs, result, millis)) = joined else {
            // A panicking publisher leaves its runs pending; they are reported as failed below.
            continue;
        };
        match result {
            Ok(ids) => {
                for (r, id) in batch_runs.into_iter().zip(ids) {
                    runs[r].state = Run::Published { message_id: id };
                }
            }
            Err(e) => {
                let error = report(&e);
                for r in batch_runs {
                    runs[r].state = Run::Failed {
                        error: error.clone(),
                        millis,
                    };
                }
            }
        }
    }
}

/// Turns tag executions into the response's per-event lists.
fn account(config: &Config, runs: Vec<TagRun>, report: &mut Report) {
    let mut per_event: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    for run in runs {
        let dest = &config.destinations[run.dest];
        let counts = per_event.entry(run.event).or_default();
        counts.0 += 1;
        report.tags_total += 1;
        let failure = match run.state {
            // Validate-only: the message was built, nothing was sent.
            Run::Pending(Some(_)) => None,
            Run::Pending(None) => Some(("publish task failed".to_string(), 0)),
            Run::Published { message_id, .. } => {
                report.message_ids[run.event].insert(dest.name.clone(), message_id);
                None
            }
            Run::Failed { error, millis } => Some((error, millis)),
        };
        if let Some((error, millis)) = failure {
            counts.1 += 1;
            report.tags_failed += 1;
            report.failed_tags.push(FailedTag {
                tag_info: TagInfo {
                    name: dest.name.clone(),
                    id: dest.id.clone(),
                    status: "failure",
                    execution_time: millis,
                    error: Some(error),
                },
                event_index: run.event,
            });
        }
    }
    for (event, (total, failed)) in per_event {
        if failed == total {
            report.fully_failed_tag_events.push(event);
        } else if failed > 0 {
            report.partial_failed_tag_events.push(event);
        }
    }
}
