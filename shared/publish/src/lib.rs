//! `hermes-publish`: [`Batcher`], publish calls shared by every request, one queue per topic,
//! as Google's client libraries batch.
//!
//! A lone message on an idle topic is sent at once. While a call for a topic
//! is in flight, new messages wait and the next call takes what waited
//! (split at Pub/Sub's limits). A call starts when messages wait and either
//! nothing is in flight for the topic or what waits fills a whole call, up to
//! [`BatcherLimits::max_calls_in_flight`] per topic. The requests waiting are
//! served in turn, not first come first served: a call takes one part of the
//! next request, then one of each request after it that still fits, so a
//! small request waits for a call slot, never behind every part of a large
//! one queued before it. Each request gets back
//! exactly its own ids, in its own order. What waits is bounded: a request
//! whose messages do not fit is refused whole ([`QueueFull`]), before anything
//! of it is queued. Calls run in tasks no request owns, so a request that is
//! dropped (its client hung up) never aborts a call; [`Batcher::drain`] waits
//! for them at shutdown. Retries stay in the [`Publisher`].

use hermes_core::destination::{
    Message, PublishError, Publisher, TopicName, MAX_BATCH_MESSAGES, MAX_REQUEST_BYTES,
};
use hermes_core::error::report;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{oneshot, Semaphore};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

/// Bytes one call may hold: the request envelope `{"messages":[]}` and the
/// commas stay safely under Pub/Sub's 10 MB.
pub const CALL_BUDGET: usize = MAX_REQUEST_BYTES - 1024;

/// Calls in flight per topic: enough to keep a busy topic's pipe full while
/// the others wait their turn, few enough not to flood Pub/Sub.
pub const DEFAULT_MAX_CALLS_IN_FLIGHT: usize = 8;
/// Messages waiting per topic: two requests of the most events ingest takes
/// (`[limits] max_events`, 10,000).
pub const DEFAULT_MAX_WAITING_MESSAGES: usize = 20_000;
/// Encoded bytes waiting per topic: about six full calls, the same figure as
/// the request bytes a server holds (`[limits] max_inflight_bytes`).
pub const DEFAULT_MAX_WAITING_BYTES: usize = 64 * 1024 * 1024;

/// How much a topic's queue holds and sends at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatcherLimits {
    pub max_calls_in_flight: usize,
    /// A request larger than this on its own waits for an empty queue.
    pub max_waiting_messages: usize,
    pub max_waiting_bytes: usize,
}

impl Default for BatcherLimits {
    fn default() -> Self {
        Self {
            max_calls_in_flight: DEFAULT_MAX_CALLS_IN_FLIGHT,
            max_waiting_messages: DEFAULT_MAX_WAITING_MESSAGES,
            max_waiting_bytes: DEFAULT_MAX_WAITING_BYTES,
        }
    }
}

/// A request refused because a topic's queue has no room for its messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the publish queue of {topic} is full")]
pub struct QueueFull {
    pub topic: TopicName,
}

/// Why a part of a request was not published.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BatchError {
    /// The call that carried it failed (after the publisher's retries).
    #[error(transparent)]
    Publish(Arc<PublishError>),
    /// The request's deadline passed before its call answered.
    #[error("publish deadline of {}ms passed", .0.as_millis())]
    Deadline(Duration),
    /// The call's task ended without an answer (it panicked).
    #[error("publish task failed")]
    Lost,
}

/// What became of one [`Ticket`]'s messages.
#[derive(Debug)]
pub struct Outcome {
    /// Index of the submitted batch the messages came from.
    pub batch: usize,
    /// Position of the first of them in that batch.
    pub first: usize,
    /// How many they are.
    pub len: usize,
    /// Their ids, in order, or why they failed.
    pub result: Result<Vec<String>, BatchError>,
    /// Wall time of the call that carried them (or of the wait, on a deadline).
    pub millis: u64,
}

/// The answer to a part of one request: its ids, or the call's failure.
type Answer = (Result<Vec<String>, BatchError>, u64);

/// A part of a request's batch (at most one call's worth), queued.
#[derive(Debug)]
pub struct Ticket {
    batch: usize,
    first: usize,
    len: usize,
    deadline: Instant,
    budget: Duration,
    started: Instant,
    answer: oneshot::Receiver<Answer>,
}

impl Ticket {
    /// Waits for this part's call, until the request's deadline.
    pub async fn outcome(mut self) -> Outcome {
        let waited = tokio::time::timeout_at(self.deadline, &mut self.answer).await;
        let (result, millis) = match waited {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => (Err(BatchError::Lost), millis_since(self.started)),
            // A call that gave up at the same moment says more (its last error).
            Err(_) => self.answer.try_recv().unwrap_or_else(|_| {
                (
                    Err(BatchError::Deadline(self.budget)),
                    millis_since(self.started),
                )
            }),
        };
        Outcome {
            batch: self.batch,
            first: self.first,
            len: self.len,
            result,
            millis,
        }
    }
}

fn millis_since(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Shares publish calls between requests; one per process, cheap to clone.
#[derive(Clone)]
pub struct Batcher {
    inner: Arc<Inner>,
}

struct Inner {
    publisher: Arc<dyn Publisher>,
    limits: BatcherLimits,
    topics: Mutex<HashMap<TopicName, Arc<Topic>>>,
    running: TaskTracker,
    next_request: AtomicU64,
}

/// One topic's queue.
struct Topic {
    name: TopicName,
    state: Mutex<TopicState>,
    /// Room for waiting messages and bytes; a part holds its share until a call takes it.
    messages: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
}

#[derive(Default)]
struct TopicState {
    /// The parts of each request waiting, one queue per request, in the
    /// order they are served (never an empty one).
    waiting: VecDeque<VecDeque<Part>>,
    waiting_messages: usize,
    waiting_bytes: usize,
    in_flight: usize,
}

struct Part {
    request: u64,
    messages: Vec<Message>,
    bytes: usize,
    deadline: Instant,
    answer: oneshot::Sender<Answer>,
    /// Its share of the topic's room (messages, bytes).
    room: (u32, u32),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The state stays consistent between statements: a panic elsewhere does not spoil it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn permits(n: usize, max: usize) -> u32 {
    u32::try_from(n.min(max)).unwrap_or(u32::MAX)
}

impl Batcher {
    pub fn new(publisher: Arc<dyn Publisher>) -> Self {
        Self::with_limits(publisher, BatcherLimits::default())
    }

    pub fn with_limits(publisher: Arc<dyn Publisher>, limits: BatcherLimits) -> Self {
        let limits = BatcherLimits {
            max_calls_in_flight: limits.max_calls_in_flight.max(1),
            max_waiting_messages: limits.max_waiting_messages.clamp(1, u32::MAX as usize),
            max_waiting_bytes: limits.max_waiting_bytes.clamp(1, u32::MAX as usize),
        };
        Self {
            inner: Arc::new(Inner {
                publisher,
                limits,
                topics: Mutex::new(HashMap::new()),
                running: TaskTracker::new(),
                next_request: AtomicU64::new(0),
            }),
        }
    }

    pub fn limits(&self) -> BatcherLimits {
        self.inner.limits
    }

    /// Queues one request's messages, one batch per topic, and returns the
    /// tickets to wait on (each names its batch and positions). Room on every
    /// topic is reserved first: on [`QueueFull`] nothing was queued. The
    /// request waits until `start + deadline` at most; a part still queued
    /// then is not sent.
    pub fn submit(
        &self,
        batches: Vec<(TopicName, Vec<Message>)>,
        start: Instant,
        deadline: Duration,
    ) -> Result<Vec<Ticket>, QueueFull> {
        let limits = self.inner.limits;
        let request = self.inner.next_request.fetch_add(1, Ordering::Relaxed);
        let until = start + deadline;
        // Split into parts of one call each and size them, then reserve room.
        let mut planned = Vec::new();
        let mut needs: BTreeMap<TopicName, (usize, usize)> = BTreeMap::new();
        for (b, (topic, messages)) in batches.into_iter().enumerate() {
            if messages.is_empty() {
                continue;
            }
            let parts = split(messages);
            let need = needs.entry(topic.clone()).or_default();
            for (_, messages, bytes) in &parts {
                need.0 += messages.len();
                need.1 += bytes;
            }
            planned.push((b, topic, parts));
        }
        let mut rooms = BTreeMap::new();
        for (topic, (messages, bytes)) in needs {
            let queue = self.topic(&topic);
            // A request larger than the whole bound takes all of it, so it waits
            // for an empty queue rather than never fitting.
            let (m, b) = (
                permits(messages, limits.max_waiting_messages),
                permits(bytes, limits.max_waiting_bytes),
            );
            let taken = (
                Arc::clone(&queue.messages).try_acquire_many_owned(m),
                Arc::clone(&queue.bytes).try_acquire_many_owned(b),
            );
            match taken {
                (Ok(pm), Ok(pb)) => {
                    rooms.insert(topic, (queue, pm, pb));
                }
                // What was taken so far is given back as `rooms` drops.
                _ => return Err(QueueFull { topic }),
            }
        }
        // Room for everything: from here each part holds its share, given back
        // when a call takes it (TopicState::take_call).
        let mut rooms: BTreeMap<TopicName, (Arc<Topic>, u32, u32)> = rooms
            .into_iter()
            .map(|(topic, (queue, pm, pb))| {
                let held = (pm.num_permits() as u32, pb.num_permits() as u32);
                pm.forget();
                pb.forget();
                (topic, (queue, held.0, held.1))
            })
            .collect();
        let mut tickets = Vec::new();
        let mut queues = Vec::new();
        for (batch, topic, parts) in planned {
            let Some((queue, room_m, room_b)) = rooms.get_mut(&topic) else {
                continue;
            };
            let mut state = lock(&queue.state);
            let mut own = VecDeque::with_capacity(parts.len());
            for (first, messages, bytes) in parts {
                let (tx, rx) = oneshot::channel();
                let len = messages.len();
                let room = (
                    permits(len, *room_m as usize),
                    permits(bytes, *room_b as usize),
                );
                *room_m -= room.0;
                *room_b -= room.1;
                state.waiting_messages += len;
                state.waiting_bytes += bytes;
                own.push_back(Part {
                    request,
                    messages,
                    bytes,
                    deadline: until,
                    answer: tx,
                    room,
                });
                tickets.push(Ticket {
                    batch,
                    first,
                    len,
                    deadline: until,
                    budget: deadline,
                    started: start,
                    answer: rx,
                });
            }
            if !own.is_empty() {
                state.waiting.push_back(own);
            }
            drop(state);
            queues.push(Arc::clone(queue));
        }
        for queue in queues {
            self.dispatch(&queue);
        }
        Ok(tickets)
    }

    /// Messages waiting for a call on `topic` now.
    pub fn waiting(&self, topic: &TopicName) -> usize {
        let queue = lock(&self.inner.topics).get(topic).cloned();
        queue.map_or(0, |q| lock(&q.state).waiting_messages)
    }

    /// Waits, at most `timeout`, for the calls queued and in flight (at
    /// shutdown); `false` when some were still running then.
    pub async fn drain(&self, timeout: Duration) -> bool {
        let running = &self.inner.running;
        running.close();
        let done = tokio::time::timeout(timeout, running.wait()).await.is_ok();
        running.reopen();
        done
    }

    fn topic(&self, name: &TopicName) -> Arc<Topic> {
        let mut topics = lock(&self.inner.topics);
        let limits = self.inner.limits;
        Arc::clone(topics.entry(name.clone()).or_insert_with(|| {
            Arc::new(Topic {
                name: name.clone(),
                state: Mutex::new(TopicState::default()),
                messages: Arc::new(Semaphore::new(limits.max_waiting_messages)),
                bytes: Arc::new(Semaphore::new(limits.max_waiting_bytes)),
            })
        }))
    }

    /// Starts the calls the rule allows: messages wait, a call slot is free,
    /// and nothing is in flight or what waits fills a whole call.
    fn dispatch(&self, queue: &Arc<Topic>) {
        let max = self.inner.limits.max_calls_in_flight;
        let mut calls = Vec::new();
        {
            let mut state = lock(&queue.state);
            while state.in_flight < max && !state.waiting.is_empty() {
                let full = state.waiting_messages >= MAX_BATCH_MESSAGES
                    || state.waiting_bytes >= CALL_BUDGET;
                if state.in_flight > 0 && !full {
                    break;
                }
                let call = state.take_call(queue);
                if !call.is_empty() {
                    state.in_flight += 1;
                    calls.push(call);
                }
            }
        }
        for call in calls {
            let slot = Slot {
                batcher: self.clone(),
                queue: Arc::clone(queue),
            };
            self.inner.running.spawn(slot.run(call));
        }
    }
}

impl TopicState {
    /// The parts of one call, the requests in turn: the first part of the
    /// next request, then the first part of each following request that
    /// still fits. A request served goes behind those that were not; one
    /// whose deadline has passed is dropped unsent (it has failed them).
    fn take_call(&mut self, queue: &Topic) -> Vec<Part> {
        let now = Instant::now();
        let mut call = Vec::new();
        let (mut messages, mut bytes) = (0, 0);
        let mut passed_over = VecDeque::new();
        let mut served = VecDeque::new();
        while let Some(mut parts) = self.waiting.pop_front() {
            // A request's parts share its deadline.
            if parts.front().is_some_and(|p| p.deadline <= now) {
                for part in parts {
                    self.release(queue, &part);
                }
                continue;
            }
            let fits = parts.front().is_some_and(|p| {
                call.is_empty()
                    || (messages + p.messages.len() <= MAX_BATCH_MESSAGES
                        && bytes + p.bytes <= CALL_BUDGET)
            });
            let taken = if fits { parts.pop_front() } else { None };
            match taken {
                Some(part) => {
                    self.release(queue, &part);
                    messages += part.messages.len();
                    bytes += part.bytes;
                    call.push(part);
                    if !parts.is_empty() {
                        served.push_back(parts);
                    }
                }
                None => passed_over.push_back(parts),
            }
            if messages >= MAX_BATCH_MESSAGES || bytes >= CALL_BUDGET {
                break;
            }
        }
        // Not visited (the call filled up) keep their place after those
        // passed over; the served go last.
        passed_over.append(&mut self.waiting);
        passed_over.append(&mut served);
        self.waiting = passed_over;
        call
    }

    /// A part leaves the queue: its messages, bytes and room are given back.
    fn release(&mut self, queue: &Topic, part: &Part) {
        self.waiting_messages -= part.messages.len();
        self.waiting_bytes -= part.bytes;
        queue.messages.add_permits(part.room.0 as usize);
        queue.bytes.add_permits(part.room.1 as usize);
    }
}

/// Splits one topic's messages at 1,000 messages / the call budget: (first
/// position, messages, encoded bytes) per part.
fn split(messages: Vec<Message>) -> Vec<(usize, Vec<Message>, usize)> {
    let mut parts: Vec<(usize, Vec<Message>, usize)> = Vec::new();
    for (i, message) in messages.into_iter().enumerate() {
        let size = message.encoded_len() + 1;
        match parts.last_mut() {
            Some((_, list, bytes))
                if list.len() < MAX_BATCH_MESSAGES && *bytes + size <= CALL_BUDGET =>
            {
                list.push(message);
                *bytes += size;
            }
            _ => parts.push((i, vec![message], size)),
        }
    }
    parts
}

/// A call's slot in its topic's count of calls in flight, given back (and the
/// next call started) when the call ends, however it ends.
struct Slot {
    batcher: Batcher,
    queue: Arc<Topic>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.queue.state).in_flight -= 1;
        // Not when the runtime is gone (dropped at its shutdown): nothing could run then.
        if tokio::runtime::Handle::try_current().is_ok() {
            self.batcher.dispatch(&self.queue);
        }
    }
}

impl Slot {
    async fn run(self, parts: Vec<Part>) {
        let publisher = Arc::clone(&self.batcher.inner.publisher);
        let topic = &self.queue.name;
        let mut messages = Vec::with_capacity(parts.iter().map(|p| p.messages.len()).sum());
        let mut answers = Vec::with_capacity(parts.len());
        let mut requests: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (i, part) in parts.into_iter().enumerate() {
            let start = messages.len();
            messages.extend(part.messages);
            requests.entry(part.request).or_default().push(i);
            answers.push((start..messages.len(), part.deadline, part.answer));
        }
        let (result, millis) = call(publisher.as_ref(), topic, &messages).await;
        let permanent = matches!(&result, Err(e) if is_permanent(e));
        let mut hung_up = (0, 0);
        if permanent && requests.len() > 1 {
            // One request's bad message must not fail another's: each request's
            // messages once more, in a call of their own.
            let mut resends = tokio::task::JoinSet::new();
            let limit = Arc::new(Semaphore::new(
                self.batcher.inner.limits.max_calls_in_flight,
            ));
            let mut answers: Vec<_> = answers.into_iter().map(Some).collect();
            for (_, indices) in requests {
                let own: Vec<_> = indices.iter().filter_map(|i| answers[*i].take()).collect();
                let batch: Vec<Message> = own
                    .iter()
                    .flat_map(|(range, _, _)| messages[range.clone()].iter().cloned())
                    .collect();
                let publisher = Arc::clone(&publisher);
                let topic = topic.clone();
                let limit = Arc::clone(&limit);
                resends.spawn(async move {
                    let _turn = limit.acquire_owned().await;
                    let (result, millis) = call(publisher.as_ref(), &topic, &batch).await;
                    let mut offset = 0;
                    let ranges = own.into_iter().map(|(range, deadline, answer)| {
                        let len = range.len();
                        let r = offset..offset + len;
                        offset += len;
                        (r, deadline, answer)
                    });
                    answer_all(ranges.collect(), &result, millis)
                });
            }
            while let Some(done) = resends.join_next().await {
                if let Ok((published, failed)) = done {
                    hung_up.0 += published;
                    hung_up.1 += failed;
                }
            }
        } else {
            hung_up = answer_all(answers, &result, millis);
        }
        if hung_up != (0, 0) {
            tracing::info!(
                topic = %topic,
                published = hung_up.0,
                failed = hung_up.1,
                "publish finished after the client hung up"
            );
        }
    }
}

/// One publish call, timed; a failure is logged once, for the whole call.
async fn call(
    publisher: &dyn Publisher,
    topic: &TopicName,
    messages: &[Message],
) -> (Result<Vec<String>, BatchError>, u64) {
    let start = Instant::now();
    let result = publisher.publish(topic, messages).await;
    let millis = millis_since(start);
    let result = match result {
        Ok(ids) if ids.len() == messages.len() => Ok(ids),
        Ok(ids) => Err(PublishError::IdCount {
            got: ids.len(),
            expected: messages.len(),
        }),
        Err(e) => Err(e),
    };
    if let Err(e) = &result {
        tracing::warn!(topic = %topic, messages = messages.len(), error = %report(e), "publish failed");
    }
    (result.map_err(|e| BatchError::Publish(Arc::new(e))), millis)
}

/// Sends each part its ids (by position) or the call's error; counts the
/// messages of parts whose request stopped waiting for another reason than
/// its deadline (published, failed).
fn answer_all(
    answers: Vec<(std::ops::Range<usize>, Instant, oneshot::Sender<Answer>)>,
    result: &Result<Vec<String>, BatchError>,
    millis: u64,
) -> (usize, usize) {
    let now = Instant::now();
    let mut gone = (0, 0);
    for (range, deadline, answer) in answers {
        let len = range.len();
        let part = match result {
            Ok(ids) => Ok(ids[range].to_vec()),
            Err(e) => Err(e.clone()),
        };
        let ok = part.is_ok();
        if answer.send((part, millis)).is_err() && deadline > now {
            if ok {
                gone.0 += len;
            } else {
                gone.1 += len;
            }
        }
    }
    gone
}

/// A failure the same call would meet again (a bad request, a refused
/// permission): worth resending per request.
fn is_permanent(e: &BatchError) -> bool {
    match e {
        BatchError::Publish(e) => e.is_refused(),
        _ => false,
    }
}
