//! `hermes dev` against a Pub/Sub emulator: the topics of the configuration
//! are created, and the counted ones get a push subscription to `/counters`.

use axum::http::StatusCode;
use hermes_core::config::Config;
use hermes_core::pubsub::{PubSubRest, TopicName};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("Pub/Sub emulator: cannot reach it")]
    Unreachable(#[from] reqwest::Error),
    #[error("Pub/Sub emulator: creating {name}: HTTP {status}")]
    Refused { name: String, status: StatusCode },
}

/// With a Pub/Sub emulator: make sure the topics exist and the counted ones push to us.
pub async fn prepare(
    rest: &PubSubRest,
    config: &Config,
    push_topics: &[TopicName],
    port: u16,
) -> Result<(), EmulatorError> {
    let http = reqwest::Client::new();
    let base = rest.base_url();
    let create = |name: String, body: serde_json::Value| {
        let http = http.clone();
        async move {
            let status = http
                .put(format!("{base}/v1/{name}"))
                .json(&body)
                .send()
                .await?
                .status();
            // An existing resource (409) is what we wanted.
            if status.is_success() || status == StatusCode::CONFLICT {
                Ok(())
            } else {
                Err(EmulatorError::Refused { name, status })
            }
        }
    };
    for topic in config.topics() {
        create(topic.to_string(), json!({})).await?;
    }
    for topic in push_topics {
        let name = format!(
            "projects/{}/subscriptions/{}-hermes-dev-counters",
            topic.project(),
            topic.id()
        );
        let body = json!({
            "name": name,
            "topic": topic.as_str(),
            "pushConfig": { "pushEndpoint": format!("http://127.0.0.1:{port}/counters") },
        });
        create(name, body).await?;
    }
    Ok(())
}
