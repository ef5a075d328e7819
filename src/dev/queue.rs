//! The embedded queue of `hermes dev`: a [`Publisher`] that keeps messages in
//! SQLite until a delivery loop has pushed them under Pub/Sub's rules (2xx
//! acks, anything else retries with exponential backoff, the 5th failure
//! dead-letters). A message is durable once `publish` returns.

use super::db::{Db, DbError};
use hermes_core::destination::{Message, PublishError, Publisher, TopicName};
use hermes_core::destination::{ATTR_EVENT_ID, ATTR_EVENT_NAME};
use hermes_core::future::BoxFuture;
use hermes_core::time::format_timestamp;
use hermes_ingest::quarantine::ATTR_QUARANTINE_REASON;
use rusqlite::params;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;

/// Pub/Sub's dead-letter policy default and minimum.
pub const MAX_DELIVERY_ATTEMPTS: u32 = 5;

/// The subscriber of the counted topics (every queue has it).
pub const COUNTERS: &str = "counters";
/// The subscriber of notify's topics, when `[notify]` is configured.
pub const NOTIFY: &str = "notify";
/// The enrich job's subscriber name, when `[enrich]` is configured.
pub const ENRICH: &str = "enrich";

/// A message waiting for (re)delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    /// The queue sequence number: also the message id.
    pub seq: i64,
    pub topic: String,
    pub data: Vec<u8>,
    pub attributes: HashMap<String, String>,
    pub publish_time: String,
    /// Deliveries already attempted.
    pub attempts: u32,
    /// The message's id when it is not `seq`: every subscriber's copy of one
    /// message has the id of the first, as Pub/Sub gives every subscription the same.
    pub shared_id: Option<String>,
}

impl Queued {
    pub fn message_id(&self) -> String {
        self.shared_id
            .clone()
            .unwrap_or_else(|| self.seq.to_string())
    }
}

/// A message that failed every attempt.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub message_id: String,
    /// Who failed it: `counters` or `notify`.
    pub subscriber: String,
    pub topic: String,
    pub data: String,
    pub attributes: HashMap<String, String>,
    pub publish_time: String,
    pub attempts: u32,
    pub last_error: String,
}

/// A bad row of the quarantine topic, as `/dev/quarantine` lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuarantineRow {
    /// `q` and the row's number: its own sequence, apart from the queue's.
    pub message_id: String,
    pub publish_time: String,
    /// `schema` or `destination` (the `hermes_quarantine_reason` attribute).
    pub reason: String,
    pub event_id: Option<String>,
    pub event_name: Option<String>,
    /// The bad row's data as JSON (as a string if it were not JSON, which
    /// ingest's rows always are).
    pub row: serde_json::Value,
    pub attributes: BTreeMap<String, String>,
}

/// The prefix of a bad row's message id, so it never equals a queue message's.
const QUARANTINE_ID_PREFIX: &str = "q";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct QueueStats {
    /// Waiting for delivery (including retries).
    pub pending: i64,
    /// Dead-lettered.
    pub dead: i64,
    /// Kept without delivery (topics nobody subscribes to in dev).
    pub stored: i64,
}

/// What a failed delivery became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nacked {
    RetryIn(Duration),
    DeadLettered,
}

struct Subscriber {
    name: &'static str,
    topics: Vec<TopicName>,
    /// Wakes its delivery loop when something is published for it.
    wake: Arc<Notify>,
}

impl Subscriber {
    fn new(name: &'static str, topics: Vec<TopicName>) -> Self {
        Self {
            name,
            topics,
            wake: Arc::new(Notify::new()),
        }
    }
}

#[derive(Clone)]
pub struct SqliteQueue {
    db: Db,
    /// Each subscriber and the topics pushed to it; messages of other topics are only stored.
    subscribers: Arc<Vec<Subscriber>>,
    /// `[quarantine] topic`: its messages are kept as bad rows in their own table.
    quarantine: Option<TopicName>,
    retry_min: Duration,
    retry_max: Duration,
}

/// The value of `key` among a message's attributes.
fn attribute(message: &Message, key: &str) -> Option<String> {
    message
        .attributes
        .iter()
        .find(|(k, _)| k.as_str() == key)
        .map(|(_, v)| v.clone())
}

fn now_ms() -> i64 {
    super::db::epoch_ms(SystemTime::now())
}

impl SqliteQueue {
    /// `retry_min` / `retry_max` bound the exponential backoff between attempts
    /// (Pub/Sub's retry policy; 10 s and 600 s there by default).
    pub fn new(
        db: Db,
        push_topics: Vec<TopicName>,
        retry_min: Duration,
        retry_max: Duration,
    ) -> Self {
        Self {
            db,
            subscribers: Arc::new(vec![Subscriber::new(COUNTERS, push_topics)]),
            quarantine: None,
            retry_min,
            retry_max,
        }
    }

    /// Another subscriber (`notify`) of `topics`: each message of those gets a
    /// copy of its own, delivered, retried and dead-lettered on its own.
    /// Call before cloning the queue: clones share the subscribers.
    pub fn with_subscriber(mut self, name: &'static str, topics: Vec<TopicName>) -> Self {
        if let Some(subscribers) = Arc::get_mut(&mut self.subscribers) {
            subscribers.push(Subscriber::new(name, topics));
        }
        self
    }

    /// Keeps the messages of `topic` (`[quarantine] topic`) as bad rows:
    /// listed by [`Self::quarantined`], counted by reason in the health figures
    /// instead of as events, never pending nor dead-lettered.
    pub fn with_quarantine(mut self, topic: TopicName) -> Self {
        self.quarantine = Some(topic);
        self
    }

    /// The quarantine topic, when `[quarantine]` is configured.
    pub fn quarantine_topic(&self) -> Option<&TopicName> {
        self.quarantine.as_ref()
    }

    /// The latest `limit` bad rows, newest first, and how many are kept in all.
    pub async fn quarantined(&self, limit: usize) -> Result<(Vec<QuarantineRow>, i64), DbError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .call(move |c| {
                let total = c.query_row("SELECT COUNT(*) FROM quarantine", [], |r| r.get(0))?;
                let mut stmt = c.prepare_cached(
                    "SELECT seq, data, attributes, publish_time, reason, event_id, event_name
                     FROM quarantine ORDER BY seq DESC LIMIT ?1",
                )?;
                let rows = stmt.query_map(params![limit], |r| {
                    let seq: i64 = r.get(0)?;
                    let data: Vec<u8> = r.get(1)?;
                    let attributes: String = r.get(2)?;
                    Ok(QuarantineRow {
                        message_id: format!("{QUARANTINE_ID_PREFIX}{seq}"),
                        publish_time: r.get(3)?,
                        reason: r.get(4)?,
                        event_id: r.get(5)?,
                        event_name: r.get(6)?,
                        row: serde_json::from_slice(&data).unwrap_or_else(|_| {
                            serde_json::Value::String(String::from_utf8_lossy(&data).into_owned())
                        }),
                        attributes: serde_json::from_str(&attributes).unwrap_or_default(),
                    })
                })?;
                Ok((rows.collect::<rusqlite::Result<Vec<_>>>()?, total))
            })
            .await
    }

    /// Wakes `subscriber`'s delivery loop when something is published for it.
    pub fn notified(&self, subscriber: &str) -> Arc<Notify> {
        self.subscribers
            .iter()
            .find(|s| s.name == subscriber)
            .map(|s| s.wake.clone())
            // An unknown subscriber is never woken: its loop polls.
            .unwrap_or_default()
    }

    /// Up to `limit` messages due for `subscriber` now, oldest first.
    pub async fn due_for(
        &self,
        subscriber: &'static str,
        limit: usize,
    ) -> Result<Vec<Queued>, DbError> {
        let now = now_ms();
        self.db
            .call(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT seq, topic, data, attributes, publish_time, attempts, message_id FROM queue
                     WHERE subscriber = ?3 AND push = 1 AND dead = 0 AND next_attempt_ms <= ?1
                     ORDER BY next_attempt_ms, seq LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![now, limit as i64, subscriber], |r| {
                    let attributes: String = r.get(3)?;
                    Ok(Queued {
                        seq: r.get(0)?,
                        topic: r.get(1)?,
                        data: r.get(2)?,
                        attributes: serde_json::from_str(&attributes).unwrap_or_default(),
                        publish_time: r.get(4)?,
                        attempts: r.get(5)?,
                        shared_id: r.get(6)?,
                    })
                })?;
                rows.collect()
            })
            .await
    }

    /// How long until `subscriber`'s next retry is due (`None`: nothing pending).
    pub async fn next_due_in(&self, subscriber: &'static str) -> Result<Option<Duration>, DbError> {
        let next: Option<i64> = self
            .db
            .call(move |c| {
                c.query_row(
                    "SELECT MIN(next_attempt_ms) FROM queue WHERE subscriber = ?1 AND push = 1 AND dead = 0",
                    params![subscriber],
                    |r| r.get(0),
                )
            })
            .await?;
        Ok(next.map(|at| Duration::from_millis((at - now_ms()).max(0) as u64)))
    }

    /// Delivered: the message leaves the queue.
    pub async fn ack(&self, seq: i64) -> Result<(), DbError> {
        self.db
            .call(move |c| c.execute("DELETE FROM queue WHERE seq = ?1", params![seq]))
            .await
            .map(|_| ())
    }

    /// A failed attempt: retry later, or dead-letter after the 5th.
    pub async fn nack(&self, message: &Queued, error: &str) -> Result<Nacked, DbError> {
        let attempts = message.attempts + 1;
        let outcome = if attempts >= MAX_DELIVERY_ATTEMPTS {
            Nacked::DeadLettered
        } else {
            let backoff = self
                .retry_min
                .saturating_mul(1u32 << (attempts - 1).min(16))
                .min(self.retry_max);
            Nacked::RetryIn(backoff)
        };
        let (dead, next) = match outcome {
            Nacked::DeadLettered => (1, now_ms()),
            Nacked::RetryIn(d) => (0, now_ms() + d.as_millis() as i64),
        };
        let (seq, error) = (message.seq, hermes_core::excerpt::preview(error, 1000));
        self.db
            .call(move |c| {
                c.execute(
                    "UPDATE queue SET attempts = ?2, next_attempt_ms = ?3, dead = ?4, last_error = ?5 WHERE seq = ?1",
                    params![seq, attempts, next, dead, error],
                )
            })
            .await?;
        Ok(outcome)
    }

    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, DbError> {
        self.db
            .call(|c| {
                let mut stmt = c.prepare_cached(
                    "SELECT seq, topic, data, attributes, publish_time, attempts, last_error, subscriber, message_id
                     FROM queue WHERE dead = 1 ORDER BY seq",
                )?;
                let rows = stmt.query_map([], |r| {
                    let seq: i64 = r.get(0)?;
                    let data: Vec<u8> = r.get(2)?;
                    let attributes: String = r.get(3)?;
                    let shared_id: Option<String> = r.get(8)?;
                    Ok(DeadLetter {
                        message_id: shared_id.unwrap_or_else(|| seq.to_string()),
                        subscriber: r.get(7)?,
                        topic: r.get(1)?,
                        data: String::from_utf8_lossy(&data).into_owned(),
                        attributes: serde_json::from_str(&attributes).unwrap_or_default(),
                        publish_time: r.get(4)?,
                        attempts: r.get(5)?,
                        last_error: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
                    })
                })?;
                rows.collect()
            })
            .await
    }

    /// `subscriber`'s messages waiting for delivery and dead-lettered.
    pub async fn pending_and_dead(&self, subscriber: &'static str) -> Result<(i64, i64), DbError> {
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT COALESCE(SUM(push = 1 AND dead = 0), 0), COALESCE(SUM(dead = 1), 0)
                     FROM queue WHERE subscriber = ?1",
                    params![subscriber],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
            })
            .await
    }

    pub async fn stats(&self) -> Result<QueueStats, DbError> {
        self.db
            .call(|c| {
                c.query_row(
                    "SELECT
                       COALESCE(SUM(push = 1 AND dead = 0), 0),
                       COALESCE(SUM(dead = 1), 0),
                       COALESCE(SUM(push = 0), 0)
                     FROM queue",
                    [],
                    |r| {
                        Ok(QueueStats {
                            pending: r.get(0)?,
                            dead: r.get(1)?,
                            stored: r.get(2)?,
                        })
                    },
                )
            })
            .await
    }
}

/// What the quarantine table keeps of a bad row beside its data and attributes.
struct BadRow {
    reason: String,
    event_id: Option<String>,
    event_name: Option<String>,
}

impl Publisher for SqliteQueue {
    fn publish<'a>(
        &'a self,
        topic: &'a TopicName,
        messages: &'a [Message],
    ) -> BoxFuture<'a, Result<Vec<String>, PublishError>> {
        Box::pin(async move {
            // One row per subscriber of the topic (its own attempts and
            // dead-lettering), or one stored row when nobody subscribes.
            let subscribers: Vec<&'static str> = self
                .subscribers
                .iter()
                .filter(|s| s.topics.contains(topic))
                .map(|s| s.name)
                .collect();
            let push = !subscribers.is_empty();
            // A bad row is kept in the quarantine table; it has a queue row only
            // for a subscriber of that topic, never a stored one.
            let quarantine = self.quarantine.as_ref() == Some(topic);
            let subscribers = match (push, quarantine) {
                (true, _) => subscribers,
                (false, true) => Vec::new(),
                (false, false) => vec![COUNTERS],
            };
            let topic_name = topic.to_string();
            let publish_time = format_timestamp(SystemTime::now());
            let rows: Vec<(Vec<u8>, String)> = messages
                .iter()
                .map(|m| {
                    let attrs: HashMap<&str, &str> = m
                        .attributes
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    (
                        m.data.to_vec(),
                        serde_json::to_string(&attrs).unwrap_or_else(|_| "{}".into()),
                    )
                })
                .collect();
            let now = now_ms();
            // Bad rows are not events of the pipeline: counted per reason, not
            // per event_name (nor do they claim their event's id for the
            // minute, which would hide the event itself from the count).
            let (events, bad_rows): (Vec<(String, String)>, Vec<BadRow>) = if quarantine {
                let bad_rows = messages
                    .iter()
                    .map(|m| BadRow {
                        reason: attribute(m, ATTR_QUARANTINE_REASON)
                            .unwrap_or_else(|| "unknown".into()),
                        event_id: attribute(m, ATTR_EVENT_ID),
                        event_name: attribute(m, ATTR_EVENT_NAME),
                    })
                    .collect();
                (Vec::new(), bad_rows)
            } else {
                let events = messages
                    .iter()
                    .filter_map(|m| {
                        Some((attribute(m, ATTR_EVENT_NAME)?, attribute(m, ATTR_EVENT_ID)?))
                    })
                    .collect();
                (events, Vec::new())
            };
            // One transaction: the whole batch is durable, or none of it (and the tag fails).
            let ids = self
                .db
                .call(move |c| {
                    let tx = c.transaction()?;
                    let mut ids = Vec::with_capacity(rows.len());
                    {
                        let mut stmt = tx.prepare_cached(
                            "INSERT INTO queue (topic, data, attributes, publish_time, push, next_attempt_ms, subscriber, message_id)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                        )?;
                        let mut keep = tx.prepare_cached(
                            "INSERT INTO quarantine (topic, data, attributes, publish_time, reason, event_id, event_name)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        )?;
                        for (i, (data, attrs)) in rows.iter().enumerate() {
                            let mut id: Option<String> = None;
                            if let Some(bad) = bad_rows.get(i) {
                                keep.execute(params![
                                    topic_name,
                                    data,
                                    attrs,
                                    publish_time,
                                    bad.reason,
                                    bad.event_id,
                                    bad.event_name
                                ])?;
                                // The bad row's id is the message's, in the queue copies too.
                                id = Some(format!("{QUARANTINE_ID_PREFIX}{}", tx.last_insert_rowid()));
                            }
                            for subscriber in &subscribers {
                                stmt.execute(params![
                                    topic_name,
                                    data,
                                    attrs,
                                    publish_time,
                                    push,
                                    now,
                                    subscriber,
                                    id
                                ])?;
                                id.get_or_insert_with(|| tx.last_insert_rowid().to_string());
                            }
                            ids.extend(id);
                        }
                    }
                    super::health::record::record_published(&tx, &events)?;
                    let reasons: Vec<String> = bad_rows.into_iter().map(|b| b.reason).collect();
                    super::health::record::record_quarantined(&tx, &reasons)?;
                    tx.commit()?;
                    Ok(ids)
                })
                .await
                .map_err(|e| PublishError::Failed {
                    backend: "hermes dev queue",
                    source: e.into(),
                })?;
            for s in self.subscribers.iter().filter(|s| s.topics.contains(topic)) {
                s.wake.notify_one();
            }
            Ok(ids)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(data: &str) -> Message {
        Message {
            data: data.as_bytes().to_vec().into(),
            attributes: vec![("event_name".into(), "purchase".into())],
        }
    }

    #[tokio::test]
    async fn publish_deliver_retry_and_dead_letter() {
        let topic = |id| TopicName::parse(id, Some("p")).unwrap();
        let q = SqliteQueue::new(
            Db::memory().unwrap(),
            vec![topic("ttt")],
            Duration::ZERO,
            Duration::ZERO,
        );
        let ids = q
            .publish(&topic("ttt"), &[message("a"), message("b")])
            .await
            .unwrap();
        assert_eq!(ids, ["1", "2"]);
        q.publish(&topic("other"), &[message("c")]).await.unwrap();
        assert_eq!(
            q.stats().await.unwrap(),
            QueueStats {
                pending: 2,
                dead: 0,
                stored: 1
            }
        );
        let due = q.due_for(COUNTERS, 10).await.unwrap();
        assert_eq!(due.len(), 2);
        assert_eq!(due[0].attributes["event_name"], "purchase");
        q.ack(due[0].seq).await.unwrap();
        let mut b = due[1].clone();
        for attempt in 1..=MAX_DELIVERY_ATTEMPTS {
            let outcome = q.nack(&b, "HTTP 400").await.unwrap();
            if attempt < MAX_DELIVERY_ATTEMPTS {
                assert_eq!(outcome, Nacked::RetryIn(Duration::ZERO));
                b = q.due_for(COUNTERS, 10).await.unwrap().remove(0);
                assert_eq!(b.attempts, attempt);
            } else {
                assert_eq!(outcome, Nacked::DeadLettered);
            }
        }
        assert!(q.due_for(COUNTERS, 10).await.unwrap().is_empty());
        let dead = q.dead_letters().await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!((dead[0].data.as_str(), dead[0].attempts), ("b", 5));
        assert_eq!(
            q.stats().await.unwrap(),
            QueueStats {
                pending: 0,
                dead: 1,
                stored: 1
            }
        );
    }

    fn bad_row(reason: &str, event_id: &str) -> Message {
        Message {
            data: format!(
                r#"{{"event":{{"event_name":"purchase"}},"errors":[],"n":"{event_id}"}}"#
            )
            .into_bytes()
            .into(),
            attributes: vec![
                (ATTR_EVENT_ID.into(), event_id.into()),
                (ATTR_EVENT_NAME.into(), "purchase".into()),
                (ATTR_QUARANTINE_REASON.into(), reason.into()),
            ],
        }
    }

    /// Bad rows go to their own table: never pending, dead or stored in the
    /// queue, listed newest first within the limit, and still there when the
    /// file is opened again.
    #[tokio::test]
    async fn bad_rows_are_kept_apart_from_the_queue_and_survive_a_reopen() {
        let topic = |id| TopicName::parse(id, Some("p")).unwrap();
        let dir =
            std::env::temp_dir().join(format!("hermes-queue-bad-rows-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("hermes.db");
        let open = || {
            SqliteQueue::new(
                Db::open(&path).unwrap(),
                vec![topic("ttt")],
                Duration::ZERO,
                Duration::ZERO,
            )
            .with_quarantine(topic("hermes-quarantine"))
        };
        let q = open();
        let ids = q
            .publish(
                &topic("hermes-quarantine"),
                &[bad_row("schema", "e1"), bad_row("destination", "e2")],
            )
            .await
            .unwrap();
        q.publish(&topic("hermes-quarantine"), &[bad_row("schema", "e3")])
            .await
            .unwrap();
        assert_eq!(ids, ["q1", "q2"]);
        assert_eq!(q.stats().await.unwrap(), QueueStats::default());
        assert!(q.due_for(COUNTERS, 10).await.unwrap().is_empty());
        let (rows, total) = q.quarantined(2).await.unwrap();
        assert_eq!(total, 3);
        let listed: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.message_id.as_str(),
                    r.reason.as_str(),
                    r.event_id.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            listed,
            [
                ("q3", "schema", Some("e3")),
                ("q2", "destination", Some("e2"))
            ]
        );
        assert_eq!(rows[0].row["n"], "e3", "the data as JSON");
        assert_eq!(rows[0].event_name.as_deref(), Some("purchase"));
        assert_eq!(rows[0].attributes[ATTR_QUARANTINE_REASON], "schema");
        drop(q);
        let (rows, total) = open().quarantined(10).await.unwrap();
        assert_eq!((rows.len(), total), (3, 3), "kept in the file");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A subscriber of the quarantine topic still gets its copy, with the bad
    /// row's id; without `with_quarantine` the topic is an ordinary one.
    #[tokio::test]
    async fn a_subscriber_of_the_quarantine_topic_gets_a_copy() {
        let topic = |id| TopicName::parse(id, Some("p")).unwrap();
        let q = SqliteQueue::new(
            Db::memory().unwrap(),
            vec![topic("hermes-quarantine")],
            Duration::ZERO,
            Duration::ZERO,
        )
        .with_quarantine(topic("hermes-quarantine"));
        let ids = q
            .publish(&topic("hermes-quarantine"), &[bad_row("schema", "e1")])
            .await
            .unwrap();
        let due = q.due_for(COUNTERS, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].message_id(), ids[0]);
        assert_eq!(q.quarantined(10).await.unwrap().1, 1);

        let plain = SqliteQueue::new(
            Db::memory().unwrap(),
            vec![],
            Duration::ZERO,
            Duration::ZERO,
        );
        plain
            .publish(&topic("hermes-quarantine"), &[bad_row("schema", "e1")])
            .await
            .unwrap();
        assert_eq!(plain.stats().await.unwrap().stored, 1);
        assert_eq!(plain.quarantined(10).await.unwrap().1, 0);
    }

    #[tokio::test]
    async fn each_subscriber_has_its_own_copy_with_the_same_message_id() {
        let topic = |id| TopicName::parse(id, Some("p")).unwrap();
        let q = SqliteQueue::new(
            Db::memory().unwrap(),
            vec![topic("items")],
            Duration::ZERO,
            Duration::ZERO,
        )
        .with_subscriber(NOTIFY, vec![topic("items"), topic("events")]);
        let ids = q.publish(&topic("items"), &[message("a")]).await.unwrap();
        q.publish(&topic("events"), &[message("b")]).await.unwrap();
        let counted = q.due_for(COUNTERS, 10).await.unwrap();
        let notified = q.due_for(NOTIFY, 10).await.unwrap();
        assert_eq!(counted.len(), 1);
        assert_eq!(notified.len(), 2);
        assert_eq!(counted[0].message_id(), ids[0]);
        assert_eq!(notified[0].message_id(), ids[0], "one message, one id");
        assert_ne!(notified[0].seq, counted[0].seq);
        // Failing one subscriber's copy leaves the other's alone.
        for _ in 0..MAX_DELIVERY_ATTEMPTS {
            let due = q.due_for(NOTIFY, 10).await.unwrap();
            let copy = due.iter().find(|m| m.seq == notified[0].seq).unwrap();
            q.nack(copy, "HTTP 400").await.unwrap();
        }
        assert_eq!(q.pending_and_dead(NOTIFY).await.unwrap(), (1, 1));
        assert_eq!(q.pending_and_dead(COUNTERS).await.unwrap(), (1, 0));
        let dead = q.dead_letters().await.unwrap();
        assert_eq!(
            (dead[0].subscriber.as_str(), dead[0].message_id.as_str()),
            (NOTIFY, ids[0].as_str())
        );
    }
}
