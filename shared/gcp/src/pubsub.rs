//! Cloud Pub/Sub REST: `POST v1/{topic}:publish` over the shared transport.

use crate::{
    Auth, AuthError, Backoff, CallError, Deadline, Endpoint, EndpointVars, ErrorClass, Transport,
};
use base64::Engine;
use bytes::Bytes;
use hermes_core::destination::{Message, PublishError, Publisher, TopicName};
use hermes_core::future::BoxFuture;
use reqwest::Method;
use std::time::Duration;

/// What went wrong in one publish call, before it becomes the seam's [`PublishError`].
#[derive(Debug, thiserror::Error)]
pub enum PubSubError {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("unexpected publish response")]
    Decode(#[source] serde_json::Error),
    #[error("no publish URL for {0}")]
    Url(TopicName),
    #[error("no URL for subscription {0}")]
    SubscriptionUrl(String),
    #[error("message {0} pulled with data that is not base64")]
    BadData(String),
}

impl From<PubSubError> for PublishError {
    fn from(e: PubSubError) -> Self {
        const BACKEND: &str = "Pub/Sub";
        let refused = match &e {
            PubSubError::Call(c) => c.class() == ErrorClass::Permanent,
            PubSubError::Url(_) | PubSubError::SubscriptionUrl(_) => true,
            PubSubError::Decode(_) | PubSubError::BadData(_) => false,
        };
        if refused {
            PublishError::Refused {
                backend: BACKEND,
                source: Box::new(e),
            }
        } else {
            PublishError::Failed {
                backend: BACKEND,
                source: Box::new(e),
            }
        }
    }
}

pub const ENV_EMULATOR_HOST: &str = "PUBSUB_EMULATOR_HOST";
pub const PRODUCTION_BASE: &str = "https://pubsub.googleapis.com";
/// Another endpoint of Pub/Sub (regional, Private Service Connect): an https URL.
pub const ENV_ENDPOINT: &str = "HERMES_PUBSUB_ENDPOINT";
pub const ENDPOINT_VARS: EndpointVars = EndpointVars {
    emulator: ENV_EMULATOR_HOST,
    endpoint: ENV_ENDPOINT,
    production: PRODUCTION_BASE,
};

#[derive(Debug, Clone)]
pub struct PubSubRest {
    transport: Transport,
    deadline: Duration,
}

impl PubSubRest {
    pub fn new(endpoint: Endpoint, deadline: Duration) -> Self {
        Self {
            transport: Transport::new(endpoint),
            deadline,
        }
    }

    /// The emulator when `PUBSUB_EMULATOR_HOST` is set, else Pub/Sub (at
    /// `HERMES_PUBSUB_ENDPOINT` when set) with ADC.
    pub async fn from_env(deadline: Duration) -> Result<Self, AuthError> {
        let endpoint = Endpoint::from_env(ENDPOINT_VARS, Auth::None).await?;
        Ok(Self::new(endpoint, deadline))
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.transport = self.transport.with_backoff(backoff);
        self
    }

    pub fn base_url(&self) -> &str {
        self.transport.base_url()
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The overall time of one call, retries included.
    pub(crate) fn deadline(&self) -> Duration {
        self.deadline
    }

    /// The publish request body, as sent:
    /// `{"messages":[{"data":"<base64>","attributes":{...}}]}`.
    pub fn request_body(messages: &[Message]) -> Vec<u8> {
        let size: usize = messages.iter().map(Message::encoded_len).sum();
        let mut out = Vec::with_capacity(size + 16);
        out.extend_from_slice(b"{\"messages\":[");
        for (i, m) in messages.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // Base64 straight into the body: its alphabet needs no JSON escaping.
            out.extend_from_slice(b"{\"data\":\"");
            let start = out.len();
            out.resize(start + m.data.len().div_ceil(3) * 4, 0);
            let written = base64::engine::general_purpose::STANDARD
                .encode_slice(&m.data, &mut out[start..])
                .unwrap_or(0);
            out.truncate(start + written);
            out.push(b'"');
            if !m.attributes.is_empty() {
                out.extend_from_slice(b",\"attributes\":{");
                for (i, (k, v)) in m.attributes.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    hermes_core::json::write_escaped(&mut out, k);
                    out.push(b':');
                    hermes_core::json::write_escaped(&mut out, v);
                }
                out.push(b'}');
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
        out
    }

    async fn publish_batch(
        &self,
        topic: &TopicName,
        messages: &[Message],
    ) -> Result<Vec<String>, PublishError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        // Topic ids may contain `%`, which must not read as an escape in the path.
        let path = format!("/v1/{}:publish", topic.as_str().replace('%', "%25"));
        let url = self
            .transport
            .url(&path)
            .ok_or_else(|| PubSubError::Url(topic.clone()))?;
        let body = Bytes::from(Self::request_body(messages));
        let answer = self
            .transport
            .call(
                Method::POST,
                &url,
                Some(body),
                Deadline::after(self.deadline),
            )
            .await
            .map_err(PubSubError::Call)?;
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct PublishResponse {
            #[serde(default)]
            message_ids: Vec<String>,
        }
        let ids = serde_json::from_slice::<PublishResponse>(&answer)
            .map_err(PubSubError::Decode)?
            .message_ids;
        if ids.len() != messages.len() {
            return Err(PublishError::IdCount {
                got: ids.len(),
                expected: messages.len(),
            });
        }
        Ok(ids)
    }
}

impl Publisher for PubSubRest {
    fn publish<'a>(
        &'a self,
        topic: &'a TopicName,
        messages: &'a [Message],
    ) -> BoxFuture<'a, Result<Vec<String>, PublishError>> {
        Box::pin(self.publish_batch(topic, messages))
    }
}
