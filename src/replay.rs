//! `hermes replay`: pulls the messages of a subscription and sends each on
//! again (README, "Nothing lost"). A quarantine bad row runs through ingest's
//! current configuration (schema, destinations, transforms) as a new request's
//! one event, with the `hermes_event_id` it had; any other message (a dead
//! letter) is republished as it was to the topic it was dead-lettered from, or
//! to `--to-topic`. A message is acknowledged only once its republish
//! succeeded; everything else is handed back. Identities are kept, so a push
//! job that already counted an event counts nothing twice.

use hermes_core::config::{project_from_env, Config, ConfigError};
use hermes_core::destination::{
    Message, Publisher, TopicName, ATTR_BACKFILL, ATTR_EVENT_ID, ATTR_PREVIEW,
};
use hermes_gcp::pubsub::{PubSubError, PubSubRest};
use hermes_gcp::subscription::{Received, SubscriptionName, SubscriptionNameError, MAX_PULL};
use hermes_gcp::AuthError;
use hermes_ingest::process::{self, Publishing, RequestContext};
use hermes_ingest::quarantine::ATTR_QUARANTINE_REASON;
use std::collections::{BTreeMap, HashSet};
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

/// The attributes Pub/Sub adds when it dead-letters a message.
const DEAD_LETTER_PREFIX: &str = "CloudPubSubDeadLetter";
const DEAD_LETTER_SUBSCRIPTION: &str = "CloudPubSubDeadLetterSourceSubscription";
const DEAD_LETTER_PROJECT: &str = "CloudPubSubDeadLetterSourceSubscriptionProject";
/// The lease taken on pulled messages while they are replayed: longer than
/// any publish deadline (at most 600 s) would need is not asked for; a
/// message whose lease ends is only delivered again, never lost.
const LEASE_SECONDS: u32 = 120;
/// Empty pulls in a row before the subscription is taken as drained
/// (`returnImmediately` may answer empty while messages wait).
const EMPTY_PULLS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("--subscription: {0}")]
    Subscription(#[from] SubscriptionNameError),
    #[error("--to-topic: {0}")]
    Topic(#[source] hermes_core::destination::TopicNameError),
    #[error("Google credentials")]
    Auth(#[from] AuthError),
    #[error("Pub/Sub")]
    PubSub(#[from] PubSubError),
}

impl ReplayError {
    /// 2 for what the command line or the configuration says, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) | Self::Config(_) | Self::Subscription(_) | Self::Topic(_) => 2,
            Self::Auth(_) | Self::PubSub(_) => 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub subscription: String,
    pub max: Option<usize>,
    pub dry_run: bool,
    pub to_topic: Option<String>,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Self, ReplayError> {
        let mut options = Options {
            subscription: String::new(),
            max: None,
            dry_run: false,
            to_topic: None,
        };
        let mut args = args.iter();
        let value = |name: &str, v: Option<&String>| {
            v.cloned()
                .ok_or_else(|| ReplayError::Usage(format!("{name} needs a value")))
        };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--subscription" => options.subscription = value(arg, args.next())?,
                "--to-topic" => options.to_topic = Some(value(arg, args.next())?),
                "--dry-run" => options.dry_run = true,
                "--max" => {
                    let n = value(arg, args.next())?;
                    options.max = Some(n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        ReplayError::Usage(format!("--max: \"{n}\" is not a positive number"))
                    })?);
                }
                other => return Err(ReplayError::Usage(format!("unknown argument \"{other}\""))),
            }
        }
        if options.subscription.is_empty() {
            return Err(ReplayError::Usage("--subscription is required".into()));
        }
        Ok(options)
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Republished (or, with `--dry-run`, would be): acknowledged.
    Replayed(String),
    /// Tried and refused again: handed back, it stays on the subscription.
    StillFailing(String),
    /// Nothing replay knows to do with it: handed back.
    Skipped(String),
}

impl Outcome {
    fn word(&self) -> &'static str {
        match self {
            Self::Replayed(_) => "replayed",
            Self::StillFailing(_) => "still failing",
            Self::Skipped(_) => "skipped",
        }
    }

    fn detail(&self) -> &str {
        match self {
            Self::Replayed(d) | Self::StillFailing(d) | Self::Skipped(d) => d,
        }
    }
}

/// The counts of the summary line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub replayed: usize,
    pub still_failing: usize,
    pub skipped: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "replayed {}, still failing {}, skipped {}",
            self.replayed, self.still_failing, self.skipped
        )
    }
}

struct Replay {
    config: Config,
    pubsub: Arc<PubSubRest>,
    publishing: Publishing,
    to_topic: Option<TopicName>,
    dry_run: bool,
    /// Source subscription → its topic, read once each.
    sources: BTreeMap<SubscriptionName, Option<TopicName>>,
}

/// Runs `hermes replay`; the summary, or why it stopped (with the summary so far printed).
pub async fn run(options: Options) -> Result<Summary, ReplayError> {
    let config = Config::from_env()?;
    let project = project_from_env();
    let subscription = SubscriptionName::parse(&options.subscription, project.as_deref())?;
    let to_topic = options
        .to_topic
        .as_deref()
        .map(|t| TopicName::parse(t, project.as_deref()))
        .transpose()
        .map_err(ReplayError::Topic)?;
    let pubsub = Arc::new(PubSubRest::from_env(config.publish_deadline).await?);
    let publishing = Publishing::new(pubsub.clone());
    let mut replay = Replay {
        config,
        pubsub: pubsub.clone(),
        publishing,
        to_topic,
        dry_run: options.dry_run,
        sources: BTreeMap::new(),
    };
    let mut summary = Summary::default();
    let progress = Progress::new(options.dry_run);
    let result = replay
        .drain(&subscription, options.max, &mut summary, &progress)
        .await;
    progress.done();
    println!("{summary}");
    result.map(|()| summary)
}

impl Replay {
    async fn drain(
        &mut self,
        subscription: &SubscriptionName,
        max: Option<usize>,
        summary: &mut Summary,
        progress: &Progress,
    ) -> Result<(), ReplayError> {
        let mut seen: HashSet<String> = HashSet::new();
        let mut empty = 0;
        loop {
            let left = max.map_or(MAX_PULL, |m| m.saturating_sub(seen.len()));
            if left == 0 {
                return Ok(());
            }
            let pulled = self.pubsub.pull(subscription, left.min(MAX_PULL)).await?;
            if pulled.is_empty() {
                empty += 1;
                if empty >= EMPTY_PULLS {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
                continue;
            }
            empty = 0;
            // A message handed back earlier in this run comes again: it had its turn.
            let (fresh, again): (Vec<Received>, Vec<Received>) = pulled
                .into_iter()
                .partition(|m| !seen.contains(&m.message_id));
            let ids = |ms: &[Received]| ms.iter().map(|m| m.ack_id.clone()).collect::<Vec<_>>();
            self.pubsub
                .modify_ack_deadline(subscription, &ids(&again), 0)
                .await?;
            if fresh.is_empty() {
                return Ok(());
            }
            self.pubsub
                .modify_ack_deadline(subscription, &ids(&fresh), LEASE_SECONDS)
                .await?;
            let (mut ack, mut nack) = (Vec::new(), Vec::new());
            for message in &fresh {
                seen.insert(message.message_id.clone());
                let outcome = self.replay(message).await;
                match &outcome {
                    Outcome::Replayed(_) => summary.replayed += 1,
                    Outcome::StillFailing(_) => summary.still_failing += 1,
                    Outcome::Skipped(_) => summary.skipped += 1,
                }
                progress.message(&message.message_id, &outcome, summary);
                match outcome {
                    Outcome::Replayed(_) if !self.dry_run => ack.push(message.ack_id.clone()),
                    _ => nack.push(message.ack_id.clone()),
                }
            }
            self.pubsub.acknowledge(subscription, &ack).await?;
            self.pubsub
                .modify_ack_deadline(subscription, &nack, 0)
                .await?;
        }
    }

    async fn replay(&mut self, message: &Received) -> Outcome {
        if let Some(reason) = message.attributes.get(ATTR_QUARANTINE_REASON) {
            return self.bad_row(message, reason).await;
        }
        let topic = match &self.to_topic {
            Some(topic) => topic.clone(),
            None => match self.source_topic(message).await {
                Ok(topic) => topic,
                Err(outcome) => return outcome,
            },
        };
        let attributes = message
            .attributes
            .iter()
            .filter(|(k, _)| !k.starts_with(DEAD_LETTER_PREFIX))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let republished = Message {
            data: message.data.clone(),
            attributes,
        };
        if let Err(e) = republished.check_limits() {
            return Outcome::StillFailing(e.to_string());
        }
        if self.dry_run {
            return Outcome::Replayed(format!("would be republished to {}", topic.as_str()));
        }
        match self
            .pubsub
            .publish(&topic, std::slice::from_ref(&republished))
            .await
        {
            Ok(ids) => Outcome::Replayed(format!(
                "republished to {} as {}",
                topic.as_str(),
                ids.first().map_or("?", String::as_str)
            )),
            Err(e) => Outcome::StillFailing(hermes_core::error::report(&e)),
        }
    }

    /// The topic of the subscription a dead letter came from.
    async fn source_topic(&mut self, message: &Received) -> Result<TopicName, Outcome> {
        let Some(source) = message.attributes.get(DEAD_LETTER_SUBSCRIPTION) else {
            return Err(Outcome::Skipped(
                "neither a quarantine bad row nor a dead letter: name a topic with --to-topic"
                    .into(),
            ));
        };
        let project = message
            .attributes
            .get(DEAD_LETTER_PROJECT)
            .map(String::as_str);
        let source = SubscriptionName::parse(source, project)
            .map_err(|e| Outcome::Skipped(format!("dead-letter source: {e}")))?;
        if !self.sources.contains_key(&source) {
            let topic = self.pubsub.subscription_topic(&source).await.map_err(|e| {
                Outcome::StillFailing(format!(
                    "reading {source}: {}",
                    hermes_core::error::report(&e)
                ))
            })?;
            self.sources.insert(source.clone(), topic);
        }
        match self.sources.get(&source).cloned().flatten() {
            Some(topic) => Ok(topic),
            None => Err(Outcome::Skipped(format!(
                "the topic of {source} was deleted: name one with --to-topic"
            ))),
        }
    }

    /// A quarantine bad row through ingest's path, as the one event of a request.
    async fn bad_row(&self, message: &Received, reason: &str) -> Outcome {
        let Some(body) = event_of(&message.data) else {
            return Outcome::Skipped(format!(
                "a bad row ({reason}) without an \"event\" object in its data"
            ));
        };
        let body = bytes::Bytes::from(body);
        let events = match hermes_ingest::parse_events(&body, 1) {
            Ok(events) => events,
            Err(e) => return Outcome::Skipped(format!("its event: {e}")),
        };
        let flag = |name: &str| message.attributes.get(name).is_some_and(|v| v == "true");
        let request = RequestContext {
            preview: flag(ATTR_PREVIEW),
            backfill: flag(ATTR_BACKFILL),
            identity: message.attributes.get(ATTR_EVENT_ID).map(String::as_str),
            size: body.len(),
            ..RequestContext::default()
        };
        let publishing = (!self.dry_run).then_some(&self.publishing);
        let report =
            process::process(&self.config, publishing, &events.items, &body, request).await;
        if let Some(e) = report.errors.first() {
            return Outcome::StillFailing(format!("schema: {} ({})", e.message, e.path));
        }
        if !report.invalid_schema_events.is_empty() {
            return Outcome::StillFailing("schema".into());
        }
        if let Some(f) = report.failed_tags.first() {
            return Outcome::StillFailing(format!(
                "{}: {}",
                f.tag_info.name,
                f.tag_info.error.as_deref().unwrap_or("failed")
            ));
        }
        let destinations: Vec<&str> = match events.items.first() {
            Some(event) => self
                .config
                .destinations
                .iter()
                .filter(|d| d.triggers(&event.value))
                .map(|d| d.name.as_str())
                .collect(),
            None => Vec::new(),
        };
        let to = if destinations.is_empty() {
            "no destination triggers".to_string()
        } else {
            destinations.join(", ")
        };
        Outcome::Replayed(if self.dry_run {
            format!("would pass the schema and be published to: {to}")
        } else {
            format!("published to: {to}")
        })
    }
}

/// The `event` of a bad row's data, as the text of a one-event array.
fn event_of(data: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(data).ok()?;
    let row = hermes_core::json::parse(text).ok()?;
    let event = row.get("event")?;
    let mut body = Vec::with_capacity(data.len() + 2);
    body.push(b'[');
    event.write(&mut body);
    body.push(b']');
    Some(body)
}

/// Progress on a terminal (one line rewritten in place), each outcome on a
/// line of its own with `--dry-run` or when it is not a success.
struct Progress {
    terminal: bool,
    dry_run: bool,
}

impl Progress {
    fn new(dry_run: bool) -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
            dry_run,
        }
    }

    fn message(&self, id: &str, outcome: &Outcome, summary: &Summary) {
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r\x1b[2K");
        }
        if self.dry_run || !matches!(outcome, Outcome::Replayed(_)) {
            let line = format!("{id}: {}: {}", outcome.word(), outcome.detail());
            if self.dry_run {
                println!("{line}");
            } else {
                let _ = writeln!(err, "{line}");
            }
        }
        if self.terminal {
            let _ = write!(err, "{summary} …");
            let _ = err.flush();
        }
    }

    fn done(&self) {
        if self.terminal {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options() {
        let o =
            Options::parse(&args(&["--subscription", "s1", "--max", "5", "--dry-run"])).unwrap();
        assert_eq!(o.subscription, "s1");
        assert_eq!(o.max, Some(5));
        assert!(o.dry_run);
        assert!(Options::parse(&args(&["--max", "5"])).is_err());
        assert!(Options::parse(&args(&["--subscription", "s", "--max", "0"])).is_err());
        assert!(Options::parse(&args(&["--subscription", "s", "--max"])).is_err());
        assert!(Options::parse(&args(&["--subscription", "s", "--bogus"])).is_err());
    }

    #[test]
    fn the_event_of_a_bad_row() {
        let row = br#"{"event":{"event_name":"purchase","value":1.50},"errors":[],"failedDestinations":[],"receivedAt":"2026-12-07T00:00:00Z"}"#;
        assert_eq!(
            event_of(row).unwrap(),
            br#"[{"event_name":"purchase","value":1.50}]"#.to_vec()
        );
        assert_eq!(event_of(b"{}"), None);
        assert_eq!(event_of(b"not json"), None);
    }
}
