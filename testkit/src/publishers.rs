//! Stand-ins for Pub/Sub: a `Publisher` that records what it is given, for
//! asserting which tags ran in-process, and the answer of a fake Pub/Sub publish
//! endpoint for wiremock. (Real Pub/Sub is exercised by the emulator tests.)

use hermes_core::destination::{Message, PublishError, Publisher, TopicName};
use hermes_core::future::BoxFuture;
use serde_json::{json, Value};
use std::sync::Mutex;
use wiremock::{Request, Respond, ResponseTemplate};

/// A `Publisher` that keeps what it was given; message ids are `m1`, `m2`, … in
/// publish order.
#[derive(Default)]
pub struct Recorder {
    pub published: Mutex<Vec<(String, Message)>>,
}

impl Recorder {
    pub fn count(&self) -> usize {
        self.published.lock().map(|p| p.len()).unwrap_or(0)
    }
    pub fn messages(&self) -> Vec<(String, Message)> {
        self.published.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

impl Publisher for Recorder {
    fn publish<'a>(
        &'a self,
        topic: &'a TopicName,
        messages: &'a [Message],
    ) -> BoxFuture<'a, Result<Vec<String>, PublishError>> {
        Box::pin(async move {
            let mut published = self.published.lock().map_err(|e| PublishError::Failed {
                backend: "publisher",
                source: e.to_string().into(),
            })?;
            let mut ids = Vec::new();
            for m in messages {
                published.push((topic.to_string(), m.clone()));
                ids.push(format!("m{}", published.len()));
            }
            Ok(ids)
        })
    }
}

/// A `Publisher` that always fails, as an unreachable Pub/Sub would.
#[derive(Default)]
pub struct Failing;

impl Publisher for Failing {
    fn publish<'a>(
        &'a self,
        _topic: &'a TopicName,
        _messages: &'a [Message],
    ) -> BoxFuture<'a, Result<Vec<String>, PublishError>> {
        Box::pin(async {
            Err(PublishError::Failed {
                backend: "publisher",
                source: "publisher down".into(),
            })
        })
    }
}

/// A `Publisher` that holds every publish until [`Gate::open`]: requests stay
/// in flight, with their bodies held, for as long as a test needs.
#[derive(Default)]
pub struct Gate {
    open: tokio::sync::Notify,
    opened: std::sync::atomic::AtomicBool,
    /// Publishes that reached the gate.
    pub waiting: std::sync::atomic::AtomicUsize,
}

impl Gate {
    pub fn open(&self) {
        self.opened.store(true, std::sync::atomic::Ordering::SeqCst);
        self.open.notify_waiters();
    }
}

impl Publisher for Gate {
    fn publish<'a>(
        &'a self,
        _topic: &'a TopicName,
        messages: &'a [Message],
    ) -> BoxFuture<'a, Result<Vec<String>, PublishError>> {
        Box::pin(async move {
            self.waiting
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let notified = self.open.notified();
            if !self.opened.load(std::sync::atomic::Ordering::SeqCst) {
                notified.await;
            }
            Ok((0..messages.len()).map(|i| format!("g{i}")).collect())
        })
    }
}

/// Answers a `topics.publish` as Pub/Sub does, one id per message in the request:
/// `{prefix}{first}`, `{prefix}{first + 1}`, …, so a test knows the ids in advance.
pub struct PublishIds {
    pub prefix: &'static str,
    pub first: usize,
}

impl PublishIds {
    pub fn new(prefix: &'static str, first: usize) -> Self {
        Self { prefix, first }
    }
}

impl Respond for PublishIds {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let n = body["messages"].as_array().map_or(0, Vec::len);
        let ids: Vec<String> = (self.first..self.first + n)
            .map(|i| format!("{}{i}", self.prefix))
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({ "messageIds": ids }))
    }
}

/// A `Publisher` that records every call, for the shared-call tests: each call
/// is one entry (topic, messages), ids are `c<call>-<position>`. While held,
/// calls wait at the gate until [`Calls::release`]; a call carrying a message
/// with the attribute `reject` (any value) is refused as Pub/Sub refuses a bad
/// request (400 `INVALID_ARGUMENT`, a permanent error).
#[derive(Default)]
pub struct Calls {
    pub calls: Mutex<Vec<(String, Vec<Message>)>>,
    gate: Gate,
    held: std::sync::atomic::AtomicBool,
    /// Signalled whenever a call starts.
    pub started: tokio::sync::Notify,
    /// How long each call takes (on tokio's clock, so a test with paused
    /// time runs it in no real time).
    delay: Option<std::time::Duration>,
}

/// The attribute that makes [`Calls`] refuse a call.
pub const REJECT_ATTRIBUTE: &str = "reject";

impl Calls {
    /// Every call waits until [`Calls::release`].
    pub fn held() -> Self {
        let calls = Self::default();
        calls.held.store(true, std::sync::atomic::Ordering::SeqCst);
        calls
    }

    /// Every call takes `delay`, then answers.
    pub fn slow(delay: std::time::Duration) -> Self {
        Self {
            delay: Some(delay),
            ..Self::default()
        }
    }

    pub fn release(&self) {
        self.gate.open();
    }

    /// Calls started so far.
    pub fn count(&self) -> usize {
        self.calls.lock().map(|c| c.len()).unwrap_or(0)
    }

    pub fn recorded(&self) -> Vec<(String, Vec<Message>)> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Waits until at least `n` calls have started.
    pub async fn wait_for(&self, n: usize) {
        loop {
            let started = self.started.notified();
            if self.count() >= n {
                return;
            }
            started.await;
        }
    }
}

impl Publisher for Calls {
    fn publish<'a>(
        &'a self,
        topic: &'a TopicName,
        messages: &'a [Message],
    ) -> BoxFuture<'a, Result<Vec<String>, PublishError>> {
        Box::pin(async move {
            let call = {
                let mut calls = self.calls.lock().map_err(|e| PublishError::Failed {
                    backend: "publisher",
                    source: e.to_string().into(),
                })?;
                calls.push((topic.to_string(), messages.to_vec()));
                calls.len()
            };
            self.started.notify_waiters();
            if let Some(delay) = self.delay {
                tokio::time::sleep(delay).await;
            }
            if self.held.load(std::sync::atomic::Ordering::SeqCst) {
                self.gate.publish(topic, messages).await?;
            }
            if messages
                .iter()
                .any(|m| m.attribute(REJECT_ATTRIBUTE).is_some())
            {
                use hermes_gcp::{ApiError, AttemptError, CallError};
                return Err(PublishError::Refused {
                    backend: "Pub/Sub",
                    source: Box::new(CallError::Rejected(AttemptError::Api {
                        http: 400,
                        api: ApiError {
                            code: 400,
                            message: "bad message".into(),
                            status: "INVALID_ARGUMENT".into(),
                        },
                    })),
                });
            }
            Ok((0..messages.len())
                .map(|i| format!("c{call}-{i}"))
                .collect())
        })
    }
}
