//! The push envelope, parsed once, at the edge, into a [`PushMessage`]: the
//! handler never sees base64 or the two spellings Google uses for the same field.

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use std::collections::HashMap;

/// One push delivery, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushMessage {
    pub message_id: String,
    /// The message payload, base64-decoded (empty when Pub/Sub sent none).
    pub data: Vec<u8>,
    pub attributes: HashMap<String, String>,
    /// RFC 3339, as Pub/Sub sent it.
    pub publish_time: Option<String>,
    /// `projects/{project}/subscriptions/{name}`; empty when absent.
    pub subscription: String,
    /// Set only when the subscription has a dead-letter policy.
    pub delivery_attempt: Option<u32>,
}

/// Why a push body is not a usable message. Every case is permanent: the same
/// body will fail the same way on redelivery (a poison message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("push body is not JSON: {0}")]
    NotJson(String),
    #[error("push body is not a Pub/Sub push envelope: {0}")]
    BadEnvelope(String),
    #[error("push envelope has no message")]
    NoMessage,
    #[error("push message has no messageId")]
    NoMessageId,
    #[error("push message {message_id}: data is not base64: {reason}")]
    BadBase64 { message_id: String, reason: String },
}

impl PushError {
    /// A stable, short name for structured logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            PushError::NotJson(_) => "not_json",
            PushError::BadEnvelope(_) => "bad_envelope",
            PushError::NoMessage => "no_message",
            PushError::NoMessageId => "no_message_id",
            PushError::BadBase64 { .. } => "bad_base64",
        }
    }
}

// Google sends some fields twice (`messageId` and `message_id`, `publishTime`
// and `publish_time`): separate fields, not serde aliases, which would reject
// the duplicate.
#[derive(serde::Deserialize)]
struct WireEnvelope {
    #[serde(default)]
    message: Option<WireMessage>,
    #[serde(default)]
    subscription: Option<String>,
    #[serde(default, rename = "deliveryAttempt")]
    delivery_attempt_camel: Option<u32>,
    #[serde(default, rename = "delivery_attempt")]
    delivery_attempt_snake: Option<u32>,
}

#[derive(serde::Deserialize)]
struct WireMessage {
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    attributes: Option<HashMap<String, String>>,
    #[serde(default, rename = "messageId")]
    message_id_camel: Option<String>,
    #[serde(default, rename = "message_id")]
    message_id_snake: Option<String>,
    #[serde(default, rename = "publishTime")]
    publish_time_camel: Option<String>,
    #[serde(default, rename = "publish_time")]
    publish_time_snake: Option<String>,
}

fn first_non_empty(a: Option<String>, b: Option<String>) -> Option<String> {
    a.filter(|s| !s.is_empty())
        .or_else(|| b.filter(|s| !s.is_empty()))
}

impl PushMessage {
    /// Parses a push request body.
    pub fn parse(body: &[u8]) -> Result<Self, PushError> {
        let envelope: WireEnvelope = serde_json::from_slice(body).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Data => PushError::BadEnvelope(e.to_string()),
                Category::Syntax | Category::Eof | Category::Io => {
                    PushError::NotJson(e.to_string())
                }
            }
        })?;
        let message = envelope.message.ok_or(PushError::NoMessage)?;
        let message_id = first_non_empty(message.message_id_camel, message.message_id_snake)
            .ok_or(PushError::NoMessageId)?;
        let data = match message.data.as_deref() {
            None | Some("") => Vec::new(),
            Some(d) => decode_base64_lenient(d).map_err(|e| PushError::BadBase64 {
                message_id: message_id.clone(),
                reason: e.to_string(),
            })?,
        };
        Ok(Self {
            data,
            attributes: message.attributes.unwrap_or_default(),
            publish_time: first_non_empty(message.publish_time_camel, message.publish_time_snake),
            subscription: envelope.subscription.unwrap_or_default(),
            delivery_attempt: envelope
                .delivery_attempt_camel
                .or(envelope.delivery_attempt_snake),
            message_id,
        })
    }
}

/// Standard alphabet, padding optional, non-zero trailing bits accepted.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes base64 as leniently as Google's clients do: standard or URL-safe
/// alphabet, with or without padding, ASCII whitespace (MIME line breaks) ignored.
pub fn decode_base64_lenient(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let normalised: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| match b {
            b'-' => b'+',
            b'_' => b'/',
            b => b,
        })
        .collect();
    LENIENT.decode(&normalised)
}
