//! Cloud Pub/Sub REST: `POST v1/{topic}:publish`, with retries and a deadline.

use super::{BoxFuture, PublishError, Publisher};
use crate::gcp::{error_chain, http_client, ApiError, Auth, AuthError, Endpoint};
use crate::hermes::Message;
use crate::retry::{is_retryable_status, retry, Attempt, Backoff, GaveUp};
use axum::body::Bytes;
use base64::Engine;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::time::Duration;

pub const ENV_EMULATOR_HOST: &str = "PUBSUB_EMULATOR_HOST";
pub const PRODUCTION_BASE: &str = "https://pubsub.googleapis.com";

#[derive(Debug, Clone)]
pub struct PubSubRest {
    http: reqwest::Client,
    endpoint: Endpoint,
    /// `endpoint.base` parsed once: parsing the whole URL on every publish
    /// (host, IDNA) was a measurable share of a request's CPU time.
    base: Option<reqwest::Url>,
    deadline: Duration,
    backoff: Backoff,
}

impl PubSubRest {
    pub fn new(endpoint: Endpoint, deadline: Duration) -> Self {
        let base = reqwest::Url::parse(&endpoint.base)
            .ok()
            .filter(|u| !u.cannot_be_a_base() && u.query().is_none() && u.fragment().is_none());
        Self {
            http: http_client(),
            endpoint,
            base,
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
                out.extend_from_slice(b",\"attributes\":");
                // Serialising borrowed strings into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut out, &Attributes(&m.attributes));
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
        out
    }

    async fn attempt(
        &self,
        url: &reqwest::Url,
        body: &Bytes,
        count: usize,
        left: Duration,
    ) -> Attempt<Vec<String>, PublishError> {
        let auth = match self.endpoint.auth.header().await {
            Ok(h) => h,
            Err(e) => return Attempt::Retry(e.into()),
        };
        let mut req = self
            .http
            .post(url.clone())
            .timeout(left)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            // A reference-counted copy: a retry does not copy the body again.
            .body(body.clone());
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
            let path = format!("/v1/{}:publish", topic.replace('%', "%25"));
            let url = match &self.base {
                Some(base) => {
                    let mut url = base.clone();
                    url.set_path(&format!("{}{path}", base.path().trim_end_matches('/')));
                    url
                }
                None => reqwest::Url::parse(&format!("{}{path}", self.endpoint.base))
                    .map_err(|e| PublishError::Transport(format!("publish URL: {e}")))?,
            };
            let body = Bytes::from(Self::request_body(messages));
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

/// A message's attributes as a JSON object, in order.
struct Attributes<'a>(&'a [(String, String)]);

impl Serialize for Attributes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}
