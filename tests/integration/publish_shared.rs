//! Publish calls shared across concurrent requests (README, "Publishing"), end
//! to end: many concurrent requests to the real `hermes-ingest` binary, which
//! publishes to Google's Pub/Sub emulator through a loopback forwarder that
//! holds each publish call a while and counts them. Every event's message id in
//! an answer must be the id of the message carrying that event's identity, as
//! pulled back from the emulator, and the requests must have shared calls.

use hermes_testkit::emulator::{unique_id, Emulator, Function};
use hermes_testkit::faults::SlowPublish;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const REQUESTS: usize = 40;
const EVENTS: usize = 3;

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_share_calls_and_each_gets_its_own_message_ids() {
    let Some(emu) = Emulator::start_pubsub().await else {
        return;
    };
    let project = unique_id("shared-calls");
    let topic = format!("projects/{project}/topics/events");
    let pull = format!("projects/{project}/subscriptions/events-pull");
    emu.create_topic(&topic).await;
    emu.create_pull_subscription(&pull, &topic).await;
    let front = SlowPublish::start(emu.pubsub_host(), Duration::from_millis(300)).await;
    let config = format!("[[destinations]]\nname = \"events\"\ntopic = \"{topic}\"\n");
    let ingest = Function::start(
        "hermes-ingest",
        &[
            ("GOOGLE_CLOUD_PROJECT", &project),
            ("PUBSUB_EMULATOR_HOST", &front.host),
            ("HERMES_CONFIG_TOML", &config),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let mut requests = Vec::new();
    for r in 0..REQUESTS {
        let events: Vec<Value> = (0..EVENTS)
            .map(|e| json!({"event_name": "login", "event_id": format!("r{r}-e{e}")}))
            .collect();
        let (client, url) = (client.clone(), format!("{}/", ingest.base));
        requests.push(tokio::spawn(async move {
            let resp = client
                .post(url)
                .header("content-type", "application/json")
                .body(Value::from(events).to_string())
                .send()
                .await
                .expect("POST");
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.expect("JSON answer");
            (r, status, body)
        }));
    }
    let mut answered = BTreeMap::new();
    for request in requests {
        let (r, status, body) = request.await.expect("request task");
        assert_eq!(status, 200, "request {r}: {body}\n{}", ingest.log_text());
        answered.insert(r, body);
    }
    let pulled = emu
        .pull_n(&pull, REQUESTS * EVENTS, Duration::from_secs(20))
        .await;
    assert_eq!(
        pulled.len(),
        REQUESTS * EVENTS,
        "every message published once"
    );
    let identity: BTreeMap<String, String> = pulled
        .iter()
        .map(|m| {
            (
                m.message_id.clone(),
                m.attributes["hermes_event_id"].clone(),
            )
        })
        .collect();
    for (r, body) in &answered {
        let ids = body["messageIds"].as_array().expect("messageIds");
        assert_eq!(ids.len(), EVENTS);
        for (e, entry) in ids.iter().enumerate() {
            let id = entry["events"].as_str().expect("a message id");
            assert_eq!(
                identity.get(id).map(String::as_str),
                Some(format!("r{r}-e{e}").as_str()),
                "request {r} event {e}: message {id}"
            );
        }
    }
    let calls = front.publishes();
    assert!(
        (1..REQUESTS).contains(&calls),
        "{calls} publish calls for {REQUESTS} concurrent requests: they did not share"
    );
}
