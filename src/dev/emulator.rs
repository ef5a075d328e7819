//! `hermes dev` against a Pub/Sub emulator: the topics of the configuration
//! are created, and the counted ones get a push subscription to `/counters`.

use super::delivery::subscription_of;
use axum::http::StatusCode;
use hermes_core::pubsub::TopicName;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("Pub/Sub emulator: cannot reach it")]
    Unreachable(#[from] reqwest::Error),
    #[error("Pub/Sub emulator: creating {name}: HTTP {status}")]
    Refused { name: String, status: StatusCode },
}

/// With a Pub/Sub emulator: make sure the topics exist and the counted ones
/// push to `endpoint` (a subscription already there gets the new endpoint: its
/// secret changes with every start).
pub async fn prepare(
    base: &str,
    topics: &[TopicName],
    push_topics: &[TopicName],
    endpoint: &str,
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
    for topic in push_topics {
        let name = subscription_of(topic);
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
