//! The preview inspector's Google Cloud path on Google's emulators: the real
//! `hermes-ingest` publishes a preview request's trace to the preview topic
//! (it holds no Firestore access), the topic's push subscription delivers it
//! to `hermes-counters`' trace route, which writes it to Firestore, and the
//! real `hermes-dashboard` returns it from its inspector API. An expired trace
//! in Firestore is not shown.

use hermes_core::preview::{RequestTrace, SessionValue, TraceReader, TraceSink};
use hermes_core::time::format_timestamp;
use hermes_testkit::emulator::{unique_id, Emulator, Function};
use hermes_testkit::stores::firestore_at;
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime};

#[tokio::test(flavor = "multi_thread")]
async fn a_preview_trace_travels_through_pub_sub_to_firestore_and_the_dashboard() {
    let Some(emu) = Emulator::start().await else {
        return;
    };
    let project = unique_id("preview");
    let events_topic = format!("projects/{project}/topics/events");
    let preview_topic = format!("projects/{project}/topics/hermes-preview");
    let config = format!(
        r#"
container_id = "GTM-PREVIEW"
[[destinations]]
name = "events"
topic = "{events_topic}"
[preview]
topic = "{preview_topic}"
"#
    );
    let firestore = [
        ("GOOGLE_CLOUD_PROJECT", project.as_str()),
        ("FIRESTORE_EMULATOR_HOST", emu.firestore_host()),
        ("HERMES_CONFIG_TOML", config.as_str()),
    ];
    let counters = Function::start("hermes-counters", &firestore).await;
    let dashboard = Function::start("hermes-dashboard", &firestore).await;
    emu.create_topic(&events_topic).await;
    emu.create_topic(&preview_topic).await;
    let subscription = format!("projects/{project}/subscriptions/hermes-preview-traces");
    let resp = emu
        .http()
        .put(format!("{}/v1/{subscription}", emu.pubsub_base()))
        .json(&json!({
            "name": subscription,
            "topic": preview_topic,
            "pushConfig": {"pushEndpoint": format!("{}/preview-traces", counters.base)},
            "ackDeadlineSeconds": 10,
        }))
        .send()
        .await
        .expect("create push subscription");
    assert!(
        resp.status().is_success(),
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let ingest = Function::start(
        "hermes-ingest",
        &[
            ("GOOGLE_CLOUD_PROJECT", project.as_str()),
            ("PUBSUB_EMULATOR_HOST", emu.pubsub_host()),
            ("HERMES_CONFIG_TOML", config.as_str()),
            ("HERMES_PREVIEW_BEARER_TOKEN", "preview-secret"),
        ],
    )
    .await;

    let http = reqwest::Client::new();
    let session: Value = http
        .post(format!("{}/api/preview/sessions", dashboard.base))
        .send()
        .await
        .expect("open a session")
        .json()
        .await
        .expect("session JSON");
    let value = session["value"].as_str().expect("value");
    let id = session["session"].as_str().expect("session");
    let (status, answer) = ingest
        .post(
            "/",
            &[
                ("x-gtm-server-preview", value),
                ("authorization", "Bearer preview-secret"),
            ],
            &json!([
                {"event_name": "purchase", "user_data": {"email_address": "jane@example.com"}},
                {"event_name": 1}
            ]),
        )
        .await;
    assert_eq!(status, 206, "{answer}");
    let published_id = answer["messageIds"][0]["events"]
        .as_str()
        .expect("published")
        .to_string();

    let url = format!("{}/api/preview/{id}", dashboard.base);
    let deadline = Instant::now() + Duration::from_secs(30);
    let request = loop {
        let doc: Value = http
            .get(&url)
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("JSON");
        if let Some(r) = doc["requests"].as_array().and_then(|r| r.first()) {
            break r.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no trace reached the dashboard\n--- ingest ---\n{}\n--- counters ---\n{}\n--- emulator ---\n{}",
            ingest.log_text(),
            counters.log_text(),
            emu.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(request["status"], 206);
    assert_eq!(request["events"][0]["destinations"][0]["triggered"], true);
    assert_eq!(
        request["events"][0]["destinations"][0]["message_id"],
        published_id.as_str()
    );
    assert_eq!(
        request["events"][0]["destinations"][0]["payload"]["user_data"]["email_address"],
        "***"
    );
    assert_eq!(
        request["events"][1]["errors"][0]["path"],
        "events[1].event_name"
    );
    assert!(!request.to_string().contains("preview-secret"));

    // The document counters wrote: under the session, with expireAt for the TTL policy.
    let trace_id = request["id"].as_str().expect("id");
    let doc = emu
        .firestore_get(&format!(
            "projects/{project}/databases/(default)/documents/hermes_preview/{id}/hermes_preview_requests/{trace_id}"
        ))
        .await
        .expect("the trace document");
    assert!(
        doc["fields"]["expireAt"]["timestampValue"].is_string(),
        "{doc}"
    );

    // A trace whose expiry passed is not shown, though Firestore's TTL may not have deleted it yet.
    let store = firestore_at(&emu.firestore_base(), &project, Duration::from_secs(10));
    let now = SystemTime::now();
    let old = SessionValue::generate(now, Duration::from_secs(60)).expect("random");
    let expired = RequestTrace {
        session: old.session_id(),
        id: "expired1".into(),
        received_at: format_timestamp(now - Duration::from_secs(7200)),
        expire_at: format_timestamp(now - Duration::from_secs(3600)),
        status: 200,
        response: json!({}),
        events: Vec::new(),
        events_omitted: 0,
        backfill: false,
    };
    let live = RequestTrace {
        id: "live1".into(),
        received_at: format_timestamp(now),
        expire_at: format_timestamp(now + Duration::from_secs(3600)),
        ..expired.clone()
    };
    store.record(&expired).await.expect("write");
    store.record(&live).await.expect("write");
    let shown = store.traces(&old.session_id(), 50).await.expect("read");
    assert_eq!(
        shown.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        ["live1"]
    );
}
