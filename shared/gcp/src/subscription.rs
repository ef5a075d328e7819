//! Cloud Pub/Sub REST on the subscriber side, for `hermes replay`: `pull`,
//! `acknowledge`, `modifyAckDeadline` and reading a subscription's topic, over
//! the same transport and credentials as the publisher.

use crate::pubsub::{PubSubError, PubSubRest};
use crate::{Deadline, ErrorClass};
use base64::Engine;
use bytes::Bytes;
use hermes_core::destination::{check_project_id, check_resource_id, TopicName};
use reqwest::Method;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// The most messages one `pull` asks for: replay holds them all in memory
/// (a message can be 10 MB) while it republishes them.
pub const MAX_PULL: usize = 32;

/// `projects/{project}/subscriptions/{id}`, valid by construction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{text}\" is no subscription name: {why}")]
pub struct SubscriptionNameError {
    text: String,
    why: String,
}

impl SubscriptionName {
    /// A full name, or a bare subscription id completed with `project`.
    /// Subscription ids follow the same rules as topic ids (Pub/Sub docs,
    /// "Resource names").
    pub fn parse(text: &str, project: Option<&str>) -> Result<Self, SubscriptionNameError> {
        let error = |why: String| SubscriptionNameError {
            text: text.to_string(),
            why,
        };
        let (project, id) = match text.split('/').collect::<Vec<_>>().as_slice() {
            ["projects", p, "subscriptions", id] => (p.to_string(), id.to_string()),
            [id] => match project {
                Some(p) => (p.to_string(), id.to_string()),
                None => {
                    return Err(error(format!(
                        "write projects/PROJECT/subscriptions/{text} or set {}",
                        hermes_core::config::ENV_PROJECT
                    )))
                }
            },
            _ => return Err(error("not projects/PROJECT/subscriptions/ID".into())),
        };
        check_project_id(&project).map_err(|r| error(format!("project \"{project}\" {r}")))?;
        check_resource_id(&id).map_err(|r| error(format!("subscription id \"{id}\" {r}")))?;
        Ok(Self(format!("projects/{project}/subscriptions/{id}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The project part.
    pub fn project(&self) -> &str {
        self.0.split('/').nth(1).unwrap_or_default()
    }
}

impl fmt::Display for SubscriptionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A message as `pull` hands it out.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// What `acknowledge` and `modifyAckDeadline` take.
    pub ack_id: String,
    pub message_id: String,
    pub data: Bytes,
    pub attributes: BTreeMap<String, String>,
    pub publish_time: String,
    /// Pub/Sub counts deliveries only on subscriptions with a dead-letter policy.
    pub delivery_attempt: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PullResponse {
    #[serde(default)]
    received_messages: Vec<RawReceived>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawReceived {
    ack_id: String,
    message: RawMessage,
    delivery_attempt: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMessage {
    #[serde(default)]
    data: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    #[serde(default)]
    message_id: String,
    #[serde(default)]
    publish_time: String,
}

impl PubSubRest {
    async fn subscription_call(
        &self,
        method: Method,
        subscription: &SubscriptionName,
        verb: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Bytes, PubSubError> {
        let path = format!("/v1/{}{verb}", subscription.as_str().replace('%', "%25"));
        let url = self
            .transport()
            .url(&path)
            .ok_or_else(|| PubSubError::SubscriptionUrl(subscription.to_string()))?;
        let body = body.map(|b| Bytes::from(b.to_string()));
        Ok(self
            .transport()
            .call(method, &url, body, Deadline::after(self.deadline()))
            .await?)
    }

    /// Up to `max` (at most [`MAX_PULL`]) messages, at once: an empty list when
    /// none is waiting now (`returnImmediately`, so an empty subscription does
    /// not hold the call for a minute and more).
    pub async fn pull(
        &self,
        subscription: &SubscriptionName,
        max: usize,
    ) -> Result<Vec<Received>, PubSubError> {
        let body = serde_json::json!({
            "maxMessages": max.clamp(1, MAX_PULL),
            "returnImmediately": true,
        });
        let answer = self
            .subscription_call(Method::POST, subscription, ":pull", Some(body))
            .await?;
        let pulled: PullResponse = serde_json::from_slice(&answer).map_err(PubSubError::Decode)?;
        pulled
            .received_messages
            .into_iter()
            .map(|r| {
                let data = base64::engine::general_purpose::STANDARD
                    .decode(r.message.data.as_bytes())
                    .map_err(|_| PubSubError::BadData(r.message.message_id.clone()))?;
                Ok(Received {
                    ack_id: r.ack_id,
                    message_id: r.message.message_id,
                    data: Bytes::from(data),
                    attributes: r.message.attributes,
                    publish_time: r.message.publish_time,
                    delivery_attempt: r.delivery_attempt,
                })
            })
            .collect()
    }

    /// Acknowledges: Pub/Sub will not deliver these messages again.
    pub async fn acknowledge(
        &self,
        subscription: &SubscriptionName,
        ack_ids: &[String],
    ) -> Result<(), PubSubError> {
        if ack_ids.is_empty() {
            return Ok(());
        }
        let body = serde_json::json!({ "ackIds": ack_ids });
        self.subscription_call(Method::POST, subscription, ":acknowledge", Some(body))
            .await
            .map(drop)
    }

    /// Sets the ack deadline of these messages: longer while they are worked
    /// on, `0` to hand them back now (a nack).
    pub async fn modify_ack_deadline(
        &self,
        subscription: &SubscriptionName,
        ack_ids: &[String],
        seconds: u32,
    ) -> Result<(), PubSubError> {
        if ack_ids.is_empty() {
            return Ok(());
        }
        let body = serde_json::json!({ "ackIds": ack_ids, "ackDeadlineSeconds": seconds });
        self.subscription_call(Method::POST, subscription, ":modifyAckDeadline", Some(body))
            .await
            .map(drop)
    }

    /// The topic a subscription reads (`GET` the subscription); `None` when
    /// its topic was deleted (`_deleted-topic_`).
    pub async fn subscription_topic(
        &self,
        subscription: &SubscriptionName,
    ) -> Result<Option<TopicName>, PubSubError> {
        #[derive(Deserialize)]
        struct Subscription {
            #[serde(default)]
            topic: String,
        }
        let answer = self
            .subscription_call(Method::GET, subscription, "", None)
            .await?;
        let sub: Subscription = serde_json::from_slice(&answer).map_err(PubSubError::Decode)?;
        Ok(TopicName::parse(&sub.topic, None).ok())
    }
}

/// Whether a subscriber call's failure may pass on a later try.
pub fn is_transient(e: &PubSubError) -> bool {
    matches!(e, PubSubError::Call(c) if c.class() == ErrorClass::Transient)
}
