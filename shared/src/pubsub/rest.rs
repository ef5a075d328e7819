//! Cloud Pub/Sub REST: `POST v1/{topic}:publish` over the shared transport.

use super::{Message, PublishError, Publisher, TopicName};
use crate::future::BoxFuture;
use crate::gcp::{Auth, AuthError, Backoff, Deadline, Endpoint, Transport};
use base64::Engine;
use bytes::Bytes;
use reqwest::Method;
use std::time::Duration;

pub const ENV_EMULATOR_HOST: &str = "PUBSUB_EMULATOR_HOST";
pub const PRODUCTION_BASE: &str = "https://pubsub.googleapis.com";

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

    /// The emulator when `PUBSUB_EMULATOR_HOST` is set, else Pub/Sub with ADC.
    pub async fn from_env(deadline: Duration) -> Result<Self, AuthError> {
        let endpoint = Endpoint::from_env(ENV_EMULATOR_HOST, PRODUCTION_BASE, Auth::None).await?;
        Ok(Self::new(endpoint, deadline))
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.transport = self.transport.with_backoff(backoff);
        self
    }

    pub fn base_url(&self) -> &str {
        self.transport.base_url()
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
                    crate::json::write_escaped(&mut out, k);
                    out.push(b':');
                    crate::json::write_escaped(&mut out, v);
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
            .ok_or_else(|| PublishError::Url(topic.clone()))?;
        let body = Bytes::from(Self::request_body(messages));
        let answer = self
            .transport
            .call(
                Method::POST,
                &url,
                Some(body),
                Deadline::after(self.deadline),
            )
            .await?;
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct PublishResponse {
            #[serde(default)]
            message_ids: Vec<String>,
        }
        let ids = serde_json::from_slice::<PublishResponse>(&answer)
            .map_err(PublishError::Decode)?
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
