//! The quarantine (README, "Nothing lost"): every event the schema refuses,
//! and every event a destination refuses for good, is also published to
//! `[quarantine] topic` as a bad row, after the quarantine's transforms, so it
//! can be read, fixed and replayed (`hermes replay`) instead of being lost.
//! The request's answer never changes for it: a bad row that cannot be
//! published is logged and counted, never a failure of the request.

use bytes::Bytes;
use hermes_core::config::{parse_section, Config, ConfigError, Section};
use hermes_core::destination::{
    Marks, Message, TopicName, ATTR_EVENT_ID, ATTR_EVENT_NAME, MAX_ATTRIBUTE_VALUE_BYTES,
};
use hermes_core::json::Json;
use hermes_core::schema::SchemaError;
use hermes_core::transform::Transform;
use hermes_publish::Batcher;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// The attribute that says why a bad row was quarantined.
pub const ATTR_QUARANTINE_REASON: &str = "hermes_quarantine_reason";

/// The transforms of a bad row unless `[quarantine.transform]` says otherwise:
/// every `user_data` value hashed as Google normalises it (what Google takes
/// in plain text stays), e-mails, card numbers and phone numbers redacted
/// wherever else they are written.
const DEFAULT_TRANSFORM: &str = r#"
hash = ["user_data"]
redact = ["email", "credit_card", "phone"]
"#;

/// Why an event was quarantined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// It failed the schema (or repeats an earlier event's id).
    Schema,
    /// A destination refused it for good: a conversion failure, a Pub/Sub
    /// limit, a permanent publish error.
    Destination,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schema => "schema",
            Self::Destination => "destination",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "schema" => Some(Self::Schema),
            "destination" => Some(Self::Destination),
            _ => None,
        }
    }
}

/// A destination that refused an event for good, with its error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedDestination {
    pub name: String,
    pub error: String,
}

/// An event of a request refused for good: what its bad row is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct RefusedEvent {
    /// Its index in the request.
    pub index: usize,
    pub reason: Reason,
    /// Its identity (`hermes_event_id`), as its messages carry or would have carried it.
    pub event_id: String,
    /// The event's text as the request wrote it (a slice of the body).
    pub text: Bytes,
    /// For [`Reason::Schema`]: the error that is not the schema's own, a
    /// repeated event id.
    pub extra_error: Option<SchemaError>,
    /// For [`Reason::Destination`]: who refused it.
    pub failed: Vec<FailedDestination>,
}

/// `[quarantine]`, parsed by ingest, which publishes bad rows.
#[derive(Debug, Clone)]
pub struct Quarantine {
    pub topic: TopicName,
    /// `None` when `[quarantine.transform]` asks for nothing.
    pub transform: Option<Transform>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    topic: Option<String>,
    transform: Option<toml::Value>,
}

impl Quarantine {
    /// `None` without a `[quarantine]` section (the quarantine is off).
    pub fn from_config(config: &Config) -> Result<Option<Self>, ConfigError> {
        if !config.has_section(Section::Quarantine) {
            return Ok(None);
        }
        let section = config.section(Section::Quarantine);
        let raw: Raw = parse_section("quarantine", section)?;
        let topic = raw.topic.ok_or_else(|| {
            ConfigError::invalid(
                "quarantine.topic",
                "is required: the Pub/Sub topic bad rows are published to",
            )
        })?;
        let topic = config.section_topic(&topic, "quarantine.topic")?;
        let transform = match raw.transform {
            Some(value) => config.section_transform(&value, "quarantine.transform")?,
            None => {
                let value: toml::Value = toml::from_str(DEFAULT_TRANSFORM)
                    .map_err(|e| ConfigError::invalid("quarantine.transform", e.to_string()))?;
                config.section_transform(&value, "quarantine.transform")?
            }
        };
        Ok(Some(Self { topic, transform }))
    }

    /// The bad row of `refused`: `{"event", "errors", "failedDestinations",
    /// "receivedAt"}` with its attributes. The event is parsed again from its
    /// text (it is valid JSON: the request's array was), checked again for
    /// its errors (all of them up to `max_errors`, not only those the answer
    /// had room for), and transformed.
    pub fn bad_row(
        &self,
        config: &Config,
        refused: &RefusedEvent,
        received_at: SystemTime,
        marks: Marks,
    ) -> Option<Message> {
        let text = std::str::from_utf8(&refused.text).ok()?;
        // Wrapped as the one event of an array: the same parser, the same
        // checks (repeated keys) as the request had.
        let wrapped = format!("[{text}]");
        let parsed = hermes_core::json::parse_array(&wrapped, 1).ok()?;
        let element = parsed.items.first()?;
        let mut errors = Vec::new();
        if refused.reason == Reason::Schema {
            config.schema.check_element(
                element,
                refused.index,
                &mut errors,
                config.limits.max_errors,
            );
        }
        errors.extend(refused.extra_error.iter().cloned());
        let mut failed = refused.failed.clone();
        let mut event = element.value.clone();
        if let Some(transform) = &self.transform {
            transform.apply(&mut event);
            // An error quotes what it found (never a `user_data` value, but an
            // e-mail in another field, yes): the redaction reaches its text too.
            let redact = |text: &mut String| {
                if let Some(clean) = transform.redact.text(text) {
                    *text = clean;
                }
            };
            errors.iter_mut().for_each(|e| redact(&mut e.message));
            failed.iter_mut().for_each(|f| redact(&mut f.error));
        }
        let mut data = Vec::with_capacity(refused.text.len() + 256);
        data.extend_from_slice(b"{\"event\":");
        event.write(&mut data);
        data.extend_from_slice(b",\"errors\":");
        serde_json::to_writer(&mut data, &errors).ok()?;
        data.extend_from_slice(b",\"failedDestinations\":");
        serde_json::to_writer(&mut data, &failed).ok()?;
        data.extend_from_slice(b",\"receivedAt\":");
        serde_json::to_writer(&mut data, &hermes_core::time::format_timestamp(received_at)).ok()?;
        data.push(b'}');
        let mut attributes = vec![(ATTR_EVENT_ID.to_string(), refused.event_id.clone())];
        if let Some(name) = event.get("event_name").and_then(Json::as_str) {
            if name.len() <= MAX_ATTRIBUTE_VALUE_BYTES {
                attributes.push((ATTR_EVENT_NAME.to_string(), name.into_owned()));
            }
        }
        attributes.push((
            ATTR_QUARANTINE_REASON.to_string(),
            refused.reason.as_str().to_string(),
        ));
        attributes.extend(marks.attributes());
        let message = Message {
            data: Bytes::from(data),
            attributes,
        };
        message.check_limits().ok()?;
        Some(message)
    }

    /// Publishes the bad rows of one request through the shared batcher,
    /// without waiting: the answer does not depend on them. Logs one
    /// `ingest_quarantined` line per reason, and an `ingest_quarantine_failed`
    /// line for rows that could not be built or published.
    pub fn publish(
        &self,
        config: &Config,
        batcher: &Batcher,
        refused: &[RefusedEvent],
        received_at: SystemTime,
        marks: Marks,
    ) {
        if refused.is_empty() {
            return;
        }
        let mut by_reason: BTreeMap<Reason, usize> = BTreeMap::new();
        let mut messages = Vec::with_capacity(refused.len());
        let mut unbuilt = 0usize;
        for event in refused {
            *by_reason.entry(event.reason).or_default() += 1;
            match self.bad_row(config, event, received_at, marks) {
                Some(message) => messages.push(message),
                None => unbuilt += 1,
            }
        }
        for (reason, events) in by_reason {
            tracing::info!(
                metric = "ingest_quarantined",
                reason = reason.as_str(),
                events,
                preview = marks.preview,
                "events quarantined"
            );
        }
        if unbuilt > 0 {
            failed(unbuilt, "a bad row is over Pub/Sub's message size limit");
        }
        if messages.is_empty() {
            return;
        }
        let count = messages.len();
        let start = tokio::time::Instant::now();
        let tickets = match batcher.submit(
            vec![(self.topic.clone(), messages)],
            start,
            config.publish_deadline,
        ) {
            Ok(tickets) => tickets,
            Err(full) => return failed(count, &full.to_string()),
        };
        // The calls run in the batcher's own tasks (drained at shutdown);
        // this one only waits to log their outcome.
        tokio::spawn(async move {
            for ticket in tickets {
                let outcome = ticket.outcome().await;
                if let Err(e) = outcome.result {
                    failed(outcome.len, &hermes_core::error::report(&e));
                }
            }
        });
    }
}

/// A WARNING line Terraform's alert counts: these bad rows are lost.
fn failed(events: usize, error: &str) {
    tracing::warn!(
        metric = "ingest_quarantine_failed",
        events,
        error = %error,
        "quarantine publish failed: bad rows lost"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(section: &str) -> Result<Option<Quarantine>, ConfigError> {
        let text = format!(
            "[[destinations]]\nname = \"d\"\ntopic = \"projects/proj-1/topics/events\"\n{section}"
        );
        let config = Config::parse(&text, Some("proj")).expect("config");
        Quarantine::from_config(&config)
    }

    #[test]
    fn off_without_the_section_and_a_bare_topic_takes_the_project() {
        assert!(parse("").unwrap().is_none());
        let q = parse("[quarantine]\ntopic = \"hermes-quarantine\"")
            .unwrap()
            .unwrap();
        assert_eq!(q.topic.as_str(), "projects/proj/topics/hermes-quarantine");
        let t = q.transform.expect("the default transform");
        assert_eq!(t.hash.len(), 1);
        assert!(t.redact.email && t.redact.credit_card && t.redact.phone);
    }

    #[test]
    fn every_mistake_names_its_key() {
        let e = parse("[quarantine]\n").unwrap_err().to_string();
        assert!(e.contains("quarantine.topic"), "{e}");
        let e = parse("[quarantine]\ntopic = \"a/b\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("quarantine.topic"), "{e}");
        let e = parse("[quarantine]\ntopic = \"q-1\"\ntopc = 1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("quarantine") && e.contains("topc"), "{e}");
        let e = parse("[quarantine]\ntopic = \"q-1\"\n[quarantine.transform]\nredact = [\"ssn\"]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("quarantine.transform.redact[0]"), "{e}");
        let e = parse(
            "[quarantine]\ntopic = \"q-1\"\n[quarantine.transform]\nhash = [\"user_data.city\"]",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("quarantine.transform.hash[0]"), "{e}");
    }

    #[test]
    fn an_empty_transform_keeps_the_event_as_written() {
        let q = parse("[quarantine]\ntopic = \"q-1\"\n[quarantine.transform]\n")
            .unwrap()
            .unwrap();
        assert!(q.transform.is_none());
        let config = Config::parse(
            "[[destinations]]\nname = \"d\"\ntopic = \"projects/proj-1/topics/events\"",
            None,
        )
        .unwrap();
        let text = br#"{"event_name":"x","user_data":{"email_address":"a@b.co"}}"#;
        let refused = RefusedEvent {
            index: 3,
            reason: Reason::Destination,
            event_id: "e-1".into(),
            text: Bytes::from_static(text),
            extra_error: None,
            failed: vec![FailedDestination {
                name: "d".into(),
                error: "boom".into(),
            }],
        };
        let row = q
            .bad_row(&config, &refused, SystemTime::UNIX_EPOCH, Marks::default())
            .unwrap();
        let data: serde_json::Value = serde_json::from_slice(&row.data).unwrap();
        assert_eq!(data["event"]["user_data"]["email_address"], "a@b.co");
        assert_eq!(data["failedDestinations"][0]["error"], "boom");
        assert_eq!(data["receivedAt"], "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            row.attributes,
            vec![
                (ATTR_EVENT_ID.to_string(), "e-1".to_string()),
                (ATTR_EVENT_NAME.to_string(), "x".to_string()),
                (
                    ATTR_QUARANTINE_REASON.to_string(),
                    "destination".to_string()
                ),
            ]
        );
    }
}
