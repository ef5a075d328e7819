//! `hermes dev` against a Pub/Sub emulator: the topics of the configuration
//! are created, and the counted ones get a push subscription to `/counters`
//! (and notify's, when configured, one to `/notify`).

use super::delivery::subscription_of;
use axum::http::StatusCode;
use hermes_core::destination::TopicName;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("Pub/Sub emulator: cannot reach it")]
    Unreachable(#[from] reqwest::Error),
    #[error("Pub/Sub emulator: creating {name}: HTTP {status}")]
    Refused { name: String, status: StatusCode },
}

/// The emulator subscription of notify on `topic`: one per topic, as Pub/Sub has it.
pub fn notify_subscription_on(topic: &TopicName) -> String {
    format!(
        "projects/{}/subscriptions/{}-hermes-dev-notify",
        topic.project(),
        topic.id()
    )
}

/// The pull subscription kept on `topic` for `hermes replay` (the quarantine):
/// named as the topic, as Terraform names it.
pub fn pull_subscription_on(topic: &TopicName) -> String {
    format!("projects/{}/subscriptions/{}", topic.project(), topic.id())
}

/// Push subscriptions to make: the topics and the endpoint they push to.
pub struct Pushes<'a> {
    pub topics: &'a [TopicName],
    pub name: fn(&TopicName) -> String,
    pub endpoint: String,
}

/// With a Pub/Sub emulator: make sure the topics exist and the counted ones
/// push to `endpoint` (a subscription already there gets the new endpoint: its
/// secret changes with every start), and each of `more` likewise; each of
/// `pulls` gets its pull subscription ([`pull_subscription_on`]).
pub async fn prepare(
    base: &str,
    topics: &[TopicName],
    push_topics: &[TopicName],
    endpoint: &str,
    more: &[Pushes<'_>],
    pulls: &[TopicName],
) -> Result<(), EmulatorError> {
    let http = reqwest::Client::new();
    // PUT creates; 409 means it exists, which is what we wanted.
    let create = |name: String, body: serde_json::Value| {
        let http = http.clone();
        async move {
            let status = http
                .put(format!("{base}/v1/{name}"))
                .json(&body)
                .send()
                .await?
                .status();
            if status.is_success() || status == StatusCode::CONFLICT {
                Ok(status)
            } else {
                Err(EmulatorError::Refused { name, status })
            }
        }
    };
    for topic in topics {
        create(topic.to_string(), json!({})).await?;
    }
    for topic in pulls {
        let name = pull_subscription_on(topic);
        let body = json!({ "name": name, "topic": topic.as_str(), "ackDeadlineSeconds": 60 });
        create(name, body).await?;
    }
    let counters = Pushes {
        topics: push_topics,
        name: subscription_of,
        endpoint: endpoint.to_string(),
    };
    let all = std::iter::once(&counters).chain(more).flat_map(|p| {
        p.topics
            .iter()
            .map(move |t| (t, (p.name)(t), p.endpoint.as_str()))
    });
    for (topic, name, endpoint) in all {
        let push_config = json!({ "pushEndpoint": endpoint });
        let body = json!({ "name": name, "topic": topic.as_str(), "pushConfig": push_config });
        if create(name.clone(), body).await? == StatusCode::CONFLICT {
            let status = http
                .post(format!("{base}/v1/{name}:modifyPushConfig"))
                .json(&json!({ "pushConfig": push_config }))
                .send()
                .await?
                .status();
            if !status.is_success() {
                return Err(EmulatorError::Refused { name, status });
            }
        }
    }
    Ok(())
}
