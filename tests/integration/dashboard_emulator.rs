//! `hermes-dashboard` against a real Firestore emulator (Google's, or the one
//! `FIRESTORE_EMULATOR_HOST` names): it shows what `hermes-counters` wrote there,
//! shards summed, as JSON and as a live event stream.

use hermes_testkit::emulator::{binary, unique_id, Emulator, Function};
use hermes_testkit::samples::push_envelope;
use hermes_testkit::sse::Events;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Shared by both functions: each reads its own section and skips the other's.
const CONFIG: &str = "[counters]\nshards = 4\n\n[dashboard]\npoll_interval_ms = 200\n";

fn envelope(message_id: &str, items: Value) -> Value {
    push_envelope(message_id, &json!({ "items": items }), json!({}))
}

async fn push(counters: &Function, envelope: &Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/", counters.base))
        .json(envelope)
        .send()
        .await
        .expect("push to counters");
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(status, 200, "counters answered {status}: {body}");
}

fn item<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["item_id"] == id))
        .unwrap_or_else(|| panic!("item {id} not in {doc}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_shows_the_counters_with_shards_summed() {
    let Some(emu) = Emulator::start_firestore().await else {
        return;
    };
    let project = unique_id("dashboard");
    let env = [
        ("GOOGLE_CLOUD_PROJECT", project.as_str()),
        ("FIRESTORE_EMULATOR_HOST", emu.firestore_host()),
        ("HERMES_CONFIG_TOML", CONFIG),
    ];
    let counters = Function::start("hermes-counters", &env).await;
    let dashboard = Function::start("hermes-dashboard", &env).await;

    // Nothing counted yet: an empty document, with the fixed shape.
    let client = reqwest::Client::new();
    let api = format!("{}/api/items", dashboard.base);
    let empty: Value = client
        .get(&api)
        .send()
        .await
        .expect("GET /api/items")
        .json()
        .await
        .expect("JSON");
    assert_eq!(empty["items"], json!([]), "{empty}");
    assert_eq!(empty["totals"]["counter"], 0, "{empty}");

    // Eight messages spread over the 4 shards of item 123, one more item.
    for i in 1..=8 {
        let items = json!([{"item_id": "123", "item_name": "Blazer", "price": 150, "quantity": 2}]);
        push(&counters, &envelope(&format!("m-{i}"), items)).await;
    }
    push(
        &counters,
        &envelope(
            "m-shirt",
            json!([{"item_id": "456", "item_name": "T-Shirt", "item_category": "Tops", "price": 30, "quantity": 1}]),
        ),
    )
    .await;
    let mut shards = 0;
    for k in 0..4 {
        let name = format!("projects/{project}/databases/(default)/documents/items/123/shards/{k}");
        if emu.firestore_get(&name).await.is_some() {
            shards += 1;
        }
    }
    assert!(
        shards > 1,
        "8 messages should use several shards (used {shards})"
    );

    let resp = client.get(&api).send().await.expect("GET /api/items");
    assert_eq!(resp.status(), 200);
    let doc: Value = resp.json().await.expect("JSON");
    let blazer = item(&doc, "123");
    assert_eq!(blazer["counter"], 16, "{doc}");
    assert_eq!(blazer["revenue"], json!({"XXX": 2400.0}), "{doc}");
    assert_eq!(blazer["item_name"], "Blazer");
    assert!(blazer["last_event_at"].is_string(), "{blazer}");
    let shirt = item(&doc, "456");
    assert_eq!(shirt["counter"], 1);
    assert_eq!(shirt["item_category"], "Tops");
    assert_eq!(doc["items"][0]["item_id"], "123", "sorted by counter");
    assert_eq!(doc["totals"]["items"], 2);
    assert_eq!(doc["totals"]["counter"], 17);
    assert_eq!(doc["totals"]["revenue"], json!({"XXX": 2430.0}));

    // The event stream: the same document on connect, and the next change.
    let mut events = Events::open(&format!("{api}/stream")).await;
    let (name, data) = events
        .next(Duration::from_secs(5))
        .await
        .expect("the event stream ended");
    assert_eq!(name, "message");
    let first: Value = serde_json::from_str(&data).expect("event data is JSON");
    assert_eq!(first, doc);

    let started = Instant::now();
    push(
        &counters,
        &envelope(
            "m-9",
            json!([{"item_id": "123", "item_name": "Blazer", "price": 150, "quantity": 1}]),
        ),
    )
    .await;
    let (name, data) = events
        .next(Duration::from_secs(2))
        .await
        .expect("the event stream ended");
    assert_eq!(name, "message");
    let next: Value = serde_json::from_str(&data).expect("event data is JSON");
    assert_eq!(item(&next, "123")["counter"], 17, "{next}");
    assert_eq!(next["totals"]["counter"], 18);
    assert!(started.elapsed() < Duration::from_secs(2));

    // The page itself.
    let page = client
        .get(format!("{}/", dashboard.base))
        .send()
        .await
        .expect("GET /");
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap_or_default();
    assert!(html.contains("<table") && html.contains("EventSource"));
}

/// A bad `[dashboard]` key stops start-up with one line naming it.
#[test]
fn invalid_dashboard_config_stops_startup() {
    let bin = binary("hermes-dashboard");
    let run = |config: &str, project: Option<&str>| {
        let mut cmd = Command::new(&bin);
        for var in [
            "HERMES_CONFIG",
            "FIRESTORE_EMULATOR_HOST",
            "GOOGLE_CLOUD_PROJECT",
            "AWS_LAMBDA_RUNTIME_API",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("HERMES_CONFIG_TOML", config)
            .env("FIRESTORE_EMULATOR_HOST", "127.0.0.1:9")
            .env("PORT", "0")
            .stdin(Stdio::null());
        if let Some(p) = project {
            cmd.env("GOOGLE_CLOUD_PROJECT", p);
        }
        let out = cmd.output().expect("run hermes-dashboard");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, err) = run("[dashboard]\npoll_interval_ms = 0\n", Some("p"));
    assert!(!ok);
    assert!(err.contains("dashboard.poll_interval_ms"), "{err}");
    let (ok, err) = run("[dashboard]\npoll = 5\n", Some("p"));
    assert!(!ok);
    assert!(err.contains("poll"), "{err}");
    let (ok, err) = run("", None);
    assert!(!ok);
    assert!(err.contains("GOOGLE_CLOUD_PROJECT"), "{err}");
}
