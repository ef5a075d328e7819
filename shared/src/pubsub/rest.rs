//! Cloud Pub/Sub REST: `POST v1/{topic}:publish`, with retries and a deadline.

use super::{BoxFuture, PublishError, Publisher};
use crate::gcp::{error_chain, http_client, ApiError, Auth, AuthError, Endpoint};
use crate::hermes::Message;
use crate::retry::{is_retryable_status, retry, Attempt, Backoff, GaveUp};
use base64::Engine;
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use std::time::Duration;

pub const ENV_EMULATOR_HOST: &str = "PUBSUB_EMULATOR_HOST";
pub const PRODUCTION_BASE: &str = "https://pubsub.googleapis.com";

#[derive(Debug, Clone)]
pub struct PubSubRest {
    http: reqwest::Client,
    endpoint: Endpoint,
    deadline: Duration,
    backoff: Backoff,
}

impl PubSubRest {
    pub fn new(endpoint: Endpoint, deadline: Duration) -> Self {
        Self {
            http: http_client(),
            endpoint,
            deadline,
            backoff: Backoff::default(),
        }
    }

    /// The emulator when `PUBSUB_EMULATOR_HOST` is set, else Pub/Sub with ADC.
    pub async fn from_env(deadline: Duration) -> Result<Self, AuthError> {
        let endpoint = Endpoint::from_env(ENV_EMULATOR_HOST, PRODUCTION_BASE, Auth::None).await?;
        Ok(Self::new(endpoint, deadline))
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.endpoint.base
    }

    /// The publish request body, as sent.
    pub fn request_body(messages: &[Message]) -> Vec<u8> {
        // Serialising borrowed strings into a Vec cannot fail.
        serde_json::to_vec(&PublishRequest(messages)).unwrap_or_default()
    }

    async fn attempt(
        &self,
        url: &str,
        body: &[u8],
        count: usize,
        left: Duration,
    ) -> Attempt<Vec<String>, PublishError> {
        let auth = match self.endpoint.auth.header().await {
            Ok(h) => h,
            Err(e) => return Attempt::Retry(e.into()),
        };
        let mut req = self
            .http
            .post(url)
            .timeout(left)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if let Some(h) = auth {
            req = req.header(reqwest::header::AUTHORIZATION, h);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(PublishError::Transport(error_chain(&e))),
        };
        let status = resp.status().as_u16();
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return Attempt::Retry(PublishError::Transport(error_chain(&e))),
        };
        if !(200..300).contains(&status) {
            let err = PublishError::Status {
                status,
                message: ApiError::from_body(status, &bytes).to_string(),
            };
            return if is_retryable_status(status) {
                Attempt::Retry(err)
            } else {
                Attempt::Fail(err)
            };
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct PublishResponse {
            #[serde(default)]
            message_ids: Vec<String>,
        }
        match serde_json::from_slice::<PublishResponse>(&bytes) {
            Ok(r) if r.message_ids.len() == count => Attempt::Done(r.message_ids),
            Ok(r) => Attempt::Fail(PublishError::Response(format!(
                "{} message ids for {count} messages",
                r.message_ids.len()
            ))),
            Err(e) => Attempt::Fail(PublishError::Response(e.to_string())),
        }
    }
}

impl Publisher for PubSubRest {
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        messages: &'a [Message],
    ) -> BoxFuture<'a, Result<Vec<String>, PublishError>> {
        Box::pin(async move {
            if messages.is_empty() {
                return Ok(Vec::new());
            }
            // Topic ids may contain `%`, which must not read as an escape in the path.
            let url = format!(
                "{}/v1/{}:publish",
                self.endpoint.base,
                topic.replace('%', "%25")
            );
            let body = Self::request_body(messages);
            let deadline = tokio::time::Instant::now() + self.deadline;
            retry(deadline, self.backoff, |left| {
                self.attempt(&url, &body, messages.len(), left)
            })
            .await
            .map_err(|g| match g {
                GaveUp::Error(e) => e,
                GaveUp::Deadline(last) => PublishError::Deadline(self.deadline, last.map(Box::new)),
            })
        })
    }
}

/// `{"messages": [{"data": "<base64>", "attributes": {...}}]}`, streamed without copies.
struct PublishRequest<'a>(&'a [Message]);
struct WireMessage<'a>(&'a Message);
struct Attributes<'a>(&'a [(String, String)]);

impl Serialize for PublishRequest<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("PublishRequest", 1)?;
        st.serialize_field(
            "messages",
            &self.0.iter().map(WireMessage).collect::<Vec<_>>(),
        )?;
        st.end()
    }
}

impl Serialize for WireMessage<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("PubsubMessage", 2)?;
        st.serialize_field(
            "data",
            &base64::engine::general_purpose::STANDARD.encode(&self.0.data),
        )?;
        if !self.0.attributes.is_empty() {
            st.serialize_field("attributes", &Attributes(&self.0.attributes))?;
        }
        st.end()
    }
}

impl Serialize for Attributes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}
