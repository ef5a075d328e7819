//! The push-job kit through the real binaries, with no peer needed: the body
//! limit (an envelope above axum's old 2 MiB default is taken, one above the
//! largest Pub/Sub can push gets a JSON 413) and the bounded poison log line.
//! Nothing here reaches a store: previews and ignored events are acknowledged
//! unread, and a poison message fails before any store call.

use hermes_push::PUSH_BODY_LIMIT;
use hermes_testkit::emulator::{free_port, Function};
use hermes_testkit::samples::push_envelope;
use serde_json::{json, Value};

/// A function whose store is a closed port: any store call would fail.
async fn start(name: &str, config: &str) -> Function {
    let nowhere = format!("127.0.0.1:{}", free_port());
    Function::start(
        name,
        &[
            ("GOOGLE_CLOUD_PROJECT", "hermes-test"),
            ("FIRESTORE_EMULATOR_HOST", &nowhere),
            ("HERMES_CONFIG_TOML", config),
            ("HERMES_NOTIFY_WEBHOOK_URL", "http://127.0.0.1:9/hook"),
        ],
    )
    .await
}

async fn post_raw(function: &Function, body: Vec<u8>) -> (u16, String) {
    let resp = reqwest::Client::new()
        .post(format!("{}/", function.base))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// A message of about `bytes` of data (before base64).
fn big_payload(bytes: usize) -> Value {
    json!({ "event_name": "page_view", "padding": "x".repeat(bytes), "items": [] })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_over_2_mib_are_taken_and_beyond_the_limit_get_a_json_413() {
    let counters = start("hermes-counters", "").await;
    let notify = start(
        "hermes-notify",
        "[notify]\nevents = ['purchase']\ntemplate = 'x'",
    )
    .await;
    // 3 MiB of data, ~4 MiB of envelope: over axum's 2 MiB default.
    let preview = json!({ "hermes_preview": "true", "event_name": "page_view" });
    let envelope = push_envelope("m-1", &big_payload(3 << 20), preview);
    let body = envelope.to_string().into_bytes();
    assert!(body.len() > 2 << 20);
    let (status, text) = post_raw(&counters, body.clone()).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["status"],
        "skipped_preview"
    );
    let (status, text) = post_raw(&notify, body).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["status"],
        "skipped_preview"
    );

    // Just past the limit: a JSON 413 naming it, from every push job.
    let mut over = vec![b' '; PUSH_BODY_LIMIT + 1];
    over[0] = b'{';
    over[PUSH_BODY_LIMIT] = b'}';
    for function in [&counters, &notify] {
        let (status, text) = post_raw(function, over.clone()).await;
        assert_eq!(status, 413, "{text}");
        let answer: Value = serde_json::from_str(&text).expect("a JSON 413");
        assert_eq!(answer["status"], "error");
        assert!(
            answer["error"]
                .as_str()
                .unwrap_or("")
                .contains(&PUSH_BODY_LIMIT.to_string()),
            "{answer}"
        );
    }
    // At the limit exactly it is read (and this one is not an envelope: 400).
    let mut at = vec![b' '; PUSH_BODY_LIMIT];
    at[0] = b'{';
    at[PUSH_BODY_LIMIT - 1] = b'}';
    let (status, text) = post_raw(&counters, at).await;
    assert_eq!(status, 400, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_gives_one_short_error_line_whatever_its_size() {
    let counters = start("hermes-counters", "").await;
    let huge = "é\"{".repeat(300_000);
    // An item id Firestore cannot use, a megabyte long, and a megabyte message id.
    let data = json!({ "items": [{ "item_id": format!("a/{huge}"), "quantity": 1 }] });
    let envelope = push_envelope(&huge, &data, json!({}));
    let (status, text) = post_raw(&counters, envelope.to_string().into_bytes()).await;
    assert_eq!(status, 400, "{}", &text[..text.len().min(500)]);
    assert!(text.len() < 2048, "a short answer: {} bytes", text.len());
    // Bad base64 under a huge message id: poison from the envelope itself.
    let bad = json!({ "message": { "messageId": huge, "data": "!!!" }, "subscription": "s" });
    let (status, text) = post_raw(&counters, bad.to_string().into_bytes()).await;
    assert_eq!(status, 400, "{}", &text[..text.len().min(500)]);
    assert!(text.len() < 2048);

    let errors = counters.log_lines("ERROR");
    assert_eq!(errors.len(), 2, "one line per poison message");
    for line in &errors {
        assert_eq!(line["message"], "poison message");
        assert!(
            line.to_string().len() < 2048,
            "{} bytes",
            line.to_string().len()
        );
        assert!(line["message_id"].as_str().unwrap_or("").ends_with('…'));
    }
    assert!(
        counters.log_text().lines().all(|l| l.len() < 4096),
        "every log line is bounded"
    );
}
