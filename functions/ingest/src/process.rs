//! The event path: type-check each event, run the destinations it triggers
//! (Hermes encoding), publish through the batcher shared by every request (calls
//! split at Pub/Sub's limits), and account every tag execution back to its event.

use crate::quarantine::{FailedDestination, Reason, RefusedEvent};
use bytes::Bytes;
use hermes_core::config::Config;
use hermes_core::destination::{Marks, Message, Publisher, TopicName};
use hermes_core::error::report;
use hermes_core::identity;
use hermes_core::json::{share, Element};
use hermes_core::schema::SchemaError;
use hermes_publish::{BatchError, Batcher, BatcherLimits, QueueFull};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// The longest `Idempotency-Key` taken (visible ASCII).
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 1000;

/// What a request says about itself besides its events.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    /// Sent with the preview header: messages carry `hermes_preview`.
    pub preview: bool,
    /// Sent with `X-Hermes-Backfill: true` (production token only): messages
    /// carry `hermes_backfill`.
    pub backfill: bool,
    /// The `Idempotency-Key` header, at most [`MAX_IDEMPOTENCY_KEY_BYTES`].
    pub idempotency_key: Option<&'a str>,
    /// The identity of every event of the request, instead of the rules of
    /// [`event_identity`]: `hermes replay` republishes a quarantined event
    /// (one per request) with the identity it had.
    pub identity: Option<&'a str>,
    /// Keep what the quarantine needs of each event refused for good, in
    /// [`Report::refused`].
    pub quarantine: bool,
    /// Traced by the preview inspector: keep each tag's message in [`Report::traced`].
    pub trace: bool,
    /// The body's size in bytes: large ones are worked on off the async workers.
    pub size: usize,
    /// When the body had been read: the request's publish deadline runs from here.
    pub received: Instant,
}

impl RequestContext<'_> {
    /// The attributes every message of the request carries.
    pub fn marks(&self) -> Marks {
        Marks {
            preview: self.preview,
            backfill: self.backfill,
        }
    }
}

impl Default for RequestContext<'_> {
    /// A plain request (no preview, no key, not traced, small) received now.
    fn default() -> Self {
        Self {
            preview: false,
            backfill: false,
            idempotency_key: None,
            identity: None,
            quarantine: false,
            trace: false,
            size: 0,
            received: Instant::now(),
        }
    }
}

/// The identity of event `index` (its `hermes_event_id`, see
/// [`hermes_core::identity`]): the event's own id field when it is a
/// non-empty string; else derived from the `Idempotency-Key`, the index and
/// the event's text; else random. Fixed here, before any publish attempt, so
/// every retry — ours or the client's — carries the same value.
pub fn event_identity(
    config: &Config,
    element: &Element<'_>,
    index: usize,
    key: Option<&str>,
) -> String {
    Identities::default()
        .identity(config, element, index, key)
        .0
}

/// Random ids for the events of one request, from secure random bytes drawn
/// 32 identities at a time: one system call per event cost more than the
/// rest of the event's work (the request-path benchmark, at 100 events).
pub struct Identities {
    random: [u8; 16 * 32],
    used: usize,
}

impl Default for Identities {
    fn default() -> Self {
        Self {
            random: [0; 16 * 32],
            used: 16 * 32,
        }
    }
}

impl Identities {
    /// [`event_identity`], drawing from this request's random bytes; with
    /// where the identity came from.
    pub fn identity(
        &mut self,
        config: &Config,
        element: &Element<'_>,
        index: usize,
        key: Option<&str>,
    ) -> (String, identity::Source) {
        if let Some(id) = identity::of_field(&config.idempotency_field, &element.value) {
            return (id.into_owned(), identity::Source::Field);
        }
        match key {
            Some(key) => (
                identity::from_key(key, index, &element.minified_text()),
                identity::Source::Key,
            ),
            None => (self.random(), identity::Source::Random),
        }
    }

    fn random(&mut self) -> String {
        if self.used == self.random.len() {
            if getrandom::fill(&mut self.random).is_err() {
                return identity::from_random(&unique_bits());
            }
            self.used = 0;
        }
        let mut bits = [0u8; 16];
        bits.copy_from_slice(&self.random[self.used..self.used + 16]);
        self.used += 16;
        identity::from_random(&bits)
    }
}

/// 128 random bits, or [`unique_bits`] when the system has none.
pub(crate) fn random_bits() -> [u8; 16] {
    let mut bits = [0u8; 16];
    match getrandom::fill(&mut bits) {
        Ok(()) => bits,
        Err(_) => unique_bits(),
    }
}

/// Bits no other event of any process shares, for when the operating system
/// gives no random bytes (Linux does once booted): the time, the process id
/// and a counter. Never one id shared by two events, which would drop one.
fn unique_bits() -> [u8; 16] {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut bits = [0u8; 16];
    bits[..8].copy_from_slice(&nanos.to_be_bytes());
    bits[8..12].copy_from_slice(&std::process::id().to_be_bytes());
    bits[12..].copy_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    bits
}

/// Where messages go: one [`Batcher`] shared by every request, so concurrent
/// requests share publish calls. Calls run in tasks no request owns: a client
/// that hangs up drops its request, never a publish under way.
#[derive(Clone)]
pub struct Publishing {
    batcher: Batcher,
}

impl Publishing {
    pub fn new(publisher: Arc<dyn Publisher>) -> Self {
        Self::with_limits(publisher, BatcherLimits::default())
    }

    /// With other bounds on each topic's queue than the defaults.
    pub fn with_limits(publisher: Arc<dyn Publisher>, limits: BatcherLimits) -> Self {
        Self {
            batcher: Batcher::with_limits(publisher, limits),
        }
    }

    /// The shared batcher.
    pub fn batcher(&self) -> &Batcher {
        &self.batcher
    }

    /// Waits, at most `timeout`, for the publishes queued and running (at
    /// shutdown); `false` when some were still running then.
    pub async fn drain(&self, timeout: Duration) -> bool {
        self.batcher.drain(timeout).await
    }
}

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
    /// Refused for good (the quarantine takes the event); not in the answer.
    #[serde(skip)]
    pub permanent: bool,
}

/// Everything the response reports about the events of one request.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Report {
    pub event_count: usize,
    pub invalid_schema_events: Vec<usize>,
    pub fully_failed_tag_events: Vec<usize>,
    pub partial_failed_tag_events: Vec<usize>,
    pub failed_tags: Vec<FailedTag>,
    /// At most `[limits] max_errors` of them.
    pub errors: Vec<SchemaError>,
    /// The failing values past `max_errors`, counted only.
    pub errors_omitted: usize,
    /// Per event: destination name → message id.
    pub message_ids: Vec<MessageIds>,
    pub tags_total: usize,
    pub tags_failed: usize,
    /// Every tag execution with its message, for the preview inspector (only
    /// when [`RequestContext::trace`]); the response never reads it.
    pub traced: Vec<TracedTag>,
    /// A topic's publish queue had no room for this request's messages:
    /// nothing of it was queued, and ingest refuses it (503).
    pub queue_full: Option<QueueFull>,
    /// The events refused for good, in request order, with what their bad
    /// rows need (only when [`RequestContext::quarantine`]): the quarantine
    /// publishes them and the preview trace shows them; the response never
    /// reads it.
    pub refused: Vec<RefusedEvent>,
}

/// One event's message ids by destination name, in name order: a JSON object
/// in the response. A short sorted list: most events go to one or two
/// destinations, and a map's node cost more than the ids (a BTreeMap leaf
/// is about 0.5 kB).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MessageIds(Vec<(String, String)>);

impl MessageIds {
    pub fn insert(&mut self, destination: &str, id: String) {
        match self
            .0
            .binary_search_by(|(d, _)| d.as_str().cmp(destination))
        {
            Ok(i) => self.0[i].1 = id,
            Err(i) => self.0.insert(i, (destination.to_string(), id)),
        }
    }

    pub fn get(&self, destination: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(d, _)| d == destination)
            .map(|(_, id)| id.as_str())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for MessageIds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (destination, id) in &self.0 {
            map.serialize_entry(destination, id)?;
        }
        map.end()
    }
}

/// One tag execution as the preview inspector shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TracedTag {
    pub event: usize,
    /// Index into the configuration's destinations.
    pub dest: usize,
    /// The message as encoded (`None` when encoding failed).
    pub message: Option<Message>,
    pub message_id: Option<String>,
    pub error: Option<String>,
    pub execution_time: u64,
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
        millis: u64,
    },
    Failed {
        error: String,
        millis: u64,
        /// The same message would be refused again (an encoding failure, a
        /// publish refused for good): the event goes to the quarantine.
        permanent: bool,
    },
}

struct TagRun {
    event: usize,
    dest: usize,
    state: Run,
    /// A copy of the message for the preview inspector.
    traced: Option<Message>,
}

/// Checks, encodes and publishes the events of one request, parsed from
/// `body`. Without publishing (`validate_only`) everything but the publish call runs.
pub async fn process(
    config: &Config,
    publishing: Option<&Publishing>,
    events: &[Element<'_>],
    body: &Bytes,
    request: RequestContext<'_>,
) -> Report {
    prepare(config, events, body, request)
        .publish(config, publishing, request.received)
        .await
}

/// One request's events checked and encoded: its messages, ready to publish.
/// They hold no borrow of the parsed events, which can go before the wait.
pub struct Prepared {
    report: Report,
    runs: Vec<TagRun>,
    trace: bool,
    /// Identity and text of each event with messages, by index (only when
    /// quarantining): what a destination's refusal puts in its bad row.
    kept: Vec<Kept>,
}

struct Kept {
    index: usize,
    event_id: String,
    text: Bytes,
}

/// The CPU work of a request: schema check, triggers, encoding (off the async
/// workers when the body is large).
pub fn prepare(
    config: &Config,
    events: &[Element<'_>],
    body: &Bytes,
    request: RequestContext<'_>,
) -> Prepared {
    let mut report = Report {
        event_count: events.len(),
        message_ids: vec![MessageIds::default(); events.len()],
        ..Report::default()
    };
    let (runs, kept) = hermes_runtime::offload(request.size, || {
        check_and_encode(config, events, body, request, &mut report)
    });
    Prepared {
        report,
        runs,
        trace: request.trace,
        kept,
    }
}

impl Prepared {
    /// Publishes the messages (unless `publishing` is `None`) and waits for
    /// them until `received + publish_deadline`, then accounts every tag.
    pub async fn publish(
        mut self,
        config: &Config,
        publishing: Option<&Publishing>,
        received: Instant,
    ) -> Report {
        if let Some(publishing) = publishing {
            self.report.queue_full = publish(config, publishing, received, &mut self.runs)
                .await
                .err();
        }
        account(config, self.runs, self.trace, &mut self.report);
        if !self.kept.is_empty() {
            refused_by_destinations(&self.kept, &mut self.report);
        }
        self.report
    }
}

/// Schema check, then trigger and encode every destination for each valid event.
fn check_and_encode(
    config: &Config,
    events: &[Element<'_>],
    body: &Bytes,
    request: RequestContext<'_>,
    report: &mut Report,
) -> (Vec<TagRun>, Vec<Kept>) {
    let mut runs = Vec::with_capacity(events.len() * config.destinations.len());
    let mut kept = Vec::new();
    let mut identities = Identities::default();
    let mut identify = |element: &Element<'_>, i: usize| match request.identity {
        Some(id) => (id.to_string(), identity::Source::Field),
        None => identities.identity(config, element, i, request.idempotency_key),
    };
    // Ids from the events' own id field, with the first event that had
    // each: only those can repeat (derived ids cover the index, random ones
    // are new).
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, element) in events.iter().enumerate() {
        let event = &element.value;
        // `errors` stops growing at `max_errors`; the rest are only counted.
        let kept_before = report.errors.len();
        let checked =
            config
                .schema
                .check_element(element, i, &mut report.errors, config.limits.max_errors);
        if !checked.passed {
            report.errors_omitted += checked.failed_leaves - (report.errors.len() - kept_before);
            report.invalid_schema_events.push(i);
            if request.quarantine {
                report.refused.push(RefusedEvent {
                    index: i,
                    reason: Reason::Schema,
                    event_id: identify(element, i).0,
                    text: share(body, element.text.as_bytes()),
                    extra_error: None,
                    failed: Vec::new(),
                });
            }
            continue;
        }
        // One identity per event: every destination's message carries the same.
        let mut event_id: Option<String> = None;
        for (d, dest) in config.destinations.iter().enumerate() {
            if !dest.triggers(event) {
                continue;
            }
            let id = match &mut event_id {
                Some(id) => id,
                None => {
                    let (id, source) = identify(element, i);
                    if source == identity::Source::Field {
                        if let Some(first) = repeated(&mut seen, &id, i) {
                            duplicate(config, report, i, first);
                            if request.quarantine {
                                report.refused.push(RefusedEvent {
                                    index: i,
                                    reason: Reason::Schema,
                                    event_id: id,
                                    text: share(body, element.text.as_bytes()),
                                    extra_error: Some(SchemaError::duplicate_event_id(
                                        i,
                                        first,
                                        config.idempotency_field.as_str(),
                                    )),
                                    failed: Vec::new(),
                                });
                            }
                            break;
                        }
                    }
                    event_id.insert(id)
                }
            };
            let mut traced = None;
            let state = match dest.encode(element, body, id, request.marks()) {
                Ok(message) => {
                    traced = request.trace.then(|| message.clone());
                    Run::Pending(Some(message))
                }
                Err(e) => Run::Failed {
                    error: e.to_string(),
                    millis: 0,
                    permanent: true,
                },
            };
            runs.push(TagRun {
                event: i,
                dest: d,
                state,
                traced,
            });
        }
        if let (true, Some(event_id)) = (request.quarantine, event_id) {
            kept.push(Kept {
                index: i,
                event_id,
                text: share(body, element.text.as_bytes()),
            });
        }
    }
    (runs, kept)
}

/// The events with a message refused for good, as [`Report::refused`] (in
/// request order, beside the schema's), each with every destination that
/// refused it; messages that may pass later (a deadline, an outage) are the
/// client's to resend, not the quarantine's.
fn refused_by_destinations(kept: &[Kept], report: &mut Report) {
    let mut failed: BTreeMap<usize, Vec<FailedDestination>> = BTreeMap::new();
    for f in &report.failed_tags {
        if f.permanent {
            failed
                .entry(f.event_index)
                .or_default()
                .push(FailedDestination {
                    name: f.tag_info.name.clone(),
                    error: f.tag_info.error.clone().unwrap_or_default(),
                });
        }
    }
    for (index, failed) in failed {
        let Ok(k) = kept.binary_search_by_key(&index, |k| k.index) else {
            continue;
        };
        report.refused.push(RefusedEvent {
            index,
            reason: Reason::Destination,
            event_id: kept[k].event_id.clone(),
            text: kept[k].text.clone(),
            extra_error: None,
            failed,
        });
    }
    report.refused.sort_by_key(|r| r.index);
}

/// The first event of the request with identity `id`, when it is not `index`
/// (`index` is remembered as the first otherwise).
fn repeated(seen: &mut HashMap<String, usize>, id: &str, index: usize) -> Option<usize> {
    match seen.get(id) {
        Some(first) => Some(*first),
        None => {
            seen.insert(id.to_string(), index);
            None
        }
    }
}

/// Reports event `index` as a repeat of event `first`: not published, and
/// failed in the status.
fn duplicate(config: &Config, report: &mut Report, index: usize, first: usize) {
    report.invalid_schema_events.push(index);
    if report.errors.len() < config.limits.max_errors {
        report.errors.push(SchemaError::duplicate_event_id(
            index,
            first,
            config.idempotency_field.as_str(),
        ));
    } else {
        report.errors_omitted += 1;
    }
}

/// One topic's messages, and the runs they belong to (the batcher splits them
/// at Pub/Sub's limits).
struct Batch {
    topic: TopicName,
    runs: Vec<usize>,
    messages: Vec<Message>,
}

/// Groups pending messages by topic.
fn batches(config: &Config, runs: &mut [TagRun]) -> Vec<Batch> {
    let mut by_topic: BTreeMap<&TopicName, Batch> = BTreeMap::new();
    for (r, run) in runs.iter_mut().enumerate() {
        let Run::Pending(slot) = &mut run.state else {
            continue;
        };
        let Some(message) = slot.take() else { continue };
        let topic = &config.destinations[run.dest].topic;
        let batch = by_topic.entry(topic).or_insert_with(|| Batch {
            topic: topic.clone(),
            runs: Vec::new(),
            messages: Vec::new(),
        });
        batch.runs.push(r);
        batch.messages.push(message);
    }
    by_topic.into_values().collect()
}

/// Hands the messages to the shared batcher and waits for exactly this
/// request's ids, until its own deadline (`publish_deadline_ms` from
/// `start`, when its body had been read).
/// Should the request be dropped (the client hung up), its calls go on.
/// A full queue refuses the whole request: nothing of it is queued.
async fn publish(
    config: &Config,
    publishing: &Publishing,
    start: Instant,
    runs: &mut [TagRun],
) -> Result<(), QueueFull> {
    let (owners, batches): (Vec<_>, Vec<_>) = batches(config, runs)
        .into_iter()
        .map(|b| (b.runs, (b.topic, b.messages)))
        .unzip();
    if batches.is_empty() {
        return Ok(());
    }
    let tickets = match publishing
        .batcher
        .submit(batches, start, config.publish_deadline)
    {
        Ok(tickets) => tickets,
        Err(full) => {
            let error = full.to_string();
            for r in owners.iter().flatten() {
                runs[*r].state = Run::Failed {
                    error: error.clone(),
                    millis: 0,
                    permanent: false,
                };
            }
            return Err(full);
        }
    };
    for ticket in tickets {
        let outcome = ticket.outcome().await;
        let Some(own) = owners
            .get(outcome.batch)
            .and_then(|o| o.get(outcome.first..outcome.first + outcome.len))
        else {
            continue;
        };
        let millis = outcome.millis;
        match outcome.result {
            Ok(ids) => {
                for (r, id) in own.iter().zip(ids) {
                    runs[*r].state = Run::Published {
                        message_id: id,
                        millis,
                    };
                }
            }
            Err(e) => {
                let error = report(&e);
                let permanent = matches!(&e, BatchError::Publish(p) if p.is_refused());
                for r in own {
                    runs[*r].state = Run::Failed {
                        error: error.clone(),
                        millis,
                        permanent,
                    };
                }
            }
        }
    }
    Ok(())
}

/// Turns tag executions into the response's per-event lists.
fn account(config: &Config, runs: Vec<TagRun>, trace: bool, report: &mut Report) {
    let mut per_event: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    for run in runs {
        let dest = &config.destinations[run.dest];
        let counts = per_event.entry(run.event).or_default();
        counts.0 += 1;
        report.tags_total += 1;
        let (failure, published) = match run.state {
            // Validate-only: the message was built, nothing was sent.
            Run::Pending(Some(_)) => (None, None),
            Run::Pending(None) => (Some(("publish task failed".to_string(), 0, false)), None),
            Run::Published { message_id, millis } => {
                // The copy is only for the preview trace.
                let traced = trace.then(|| (message_id.clone(), millis));
                report.message_ids[run.event].insert(&dest.name, message_id);
                (None, traced)
            }
            Run::Failed {
                error,
                millis,
                permanent,
            } => (Some((error, millis, permanent)), None),
        };
        if trace {
            report.traced.push(TracedTag {
                event: run.event,
                dest: run.dest,
                message: run.traced,
                message_id: published.as_ref().map(|(id, _)| id.clone()),
                error: failure.as_ref().map(|(e, _, _)| e.clone()),
                execution_time: published
                    .as_ref()
                    .map(|(_, ms)| *ms)
                    .or(failure.as_ref().map(|(_, ms, _)| *ms))
                    .unwrap_or(0),
            });
        }
        if let Some((error, millis, permanent)) = failure {
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
                permanent,
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
