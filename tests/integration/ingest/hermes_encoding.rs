//! The Hermes encoding: suffix rules, the Hermes README's transaction / items
//! example, triggers, attributes, Pub/Sub limits, and conversion failures
//! reported in `failedTags`.

use super::common::*;
use base64::Engine;
use serde_json::{json, Value};

const TRANSACTION: &str = r#"
[[destinations]]
name = "transactions"
id = "12"
topic = "projects/my-project/topics/transactions"
events = ["purchase"]
require = ["items"]
[destinations.mapping]
transaction_id = "transaction_id"
transaction_value = "total"
items = "items"
[destinations.attributes]
source = "s2s"
"#;

fn purchase() -> Value {
    json!({
        "event_name": "purchase",
        "transaction_id": "72ef1364-3b6c-4051-9a9f-d840491136eb",
        "total": "150",
        "value": 150,
        "currency": "GBP",
        "items": [
            {"item_id": "blazer", "item_name": "Blazer", "price": 150, "quantity": 1, "currency": "GBP"}
        ]
    })
}

fn payload(data: &[u8]) -> Value {
    serde_json::from_slice(data).expect("payload is JSON")
}

#[tokio::test]
async fn hermes_readme_transaction_example() {
    // `total` is a string here, so the payload matches the README byte for byte.
    let (app, rec) = app(TRANSACTION, tokens(None, None));
    let a = send_json(&app, &json!([purchase()])).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let published = rec.messages();
    assert_eq!(published.len(), 1);
    let (topic, message) = &published[0];
    assert_eq!(topic, "projects/my-project/topics/transactions");
    let expected = r#"{"transaction_id":"72ef1364-3b6c-4051-9a9f-d840491136eb","transaction_value":"150","items":[{"item_id":"blazer","item_name":"Blazer","price":150,"quantity":1,"currency":"GBP"}]}"#;
    assert_eq!(std::str::from_utf8(&message.data).unwrap(), expected);
    // `hermes_event_id` follows `event_name`: a random one, the event has no `event_id`.
    let mut attributes = message.attributes.clone();
    let (key, id) = attributes.remove(1);
    assert_eq!(key, "hermes_event_id");
    assert!(
        hermes_testkit::samples::is_identity_form(&id, "r1."),
        "{id}"
    );
    assert_eq!(
        attributes,
        vec![
            ("event_name".to_string(), "purchase".to_string()),
            ("source".to_string(), "s2s".to_string())
        ]
    );
    assert_eq!(a.body["messageIds"][0]["transactions"], "m1");
}

#[tokio::test]
async fn suffixes_convert_and_only_the_suffix_is_stripped() {
    let toml = r#"
[[destinations]]
name = "typed"
topic = "typed"
[destinations.mapping]
transaction_value_num = "total"
quantity_int = "items.0.quantity"
price_int = "items.0.price"
count_int_total_int = "n"
missing_int = "nope.0.x"
label = "items.0.item_name"
"#;
    let (app, rec) = app(toml, tokens(None, None));
    let event = json!({"event_name": "purchase", "total": "150", "n": "1e3",
                       "items": [{"item_name": "Blazer", "price": 149.99, "quantity": "2"}]});
    let a = send_json(&app, &json!([event])).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let data = payload(&rec.messages()[0].1.data);
    assert_eq!(
        data,
        json!({"transaction_value": 150, "quantity": 2, "price": 149, "count_int_total": 1000, "label": "Blazer"})
    );
    // `_num` keeps integers integral: 150, not 150.0.
    assert!(std::str::from_utf8(&rec.messages()[0].1.data)
        .unwrap()
        .contains("\"transaction_value\":150,"));
}

#[tokio::test]
async fn whole_event_is_the_payload_without_mapping() {
    let (app, rec) = app(ONE_DESTINATION, tokens(None, None));
    let event = json!({"event_name": "purchase", "z": 1, "a": {"nested": [1, 2]}, "value": 7.77});
    let a = send_json(&app, &json!([event])).await;
    assert_eq!(a.status, 200);
    // Extra fields pass through untouched, in the client's order.
    assert_eq!(
        std::str::from_utf8(&rec.messages()[0].1.data).unwrap(),
        event.to_string()
    );
}

#[tokio::test]
async fn conversion_failure_fails_that_tag_with_the_reason() {
    let toml = r#"
[[destinations]]
name = "typed"
id = "3"
topic = "typed"
[destinations.mapping]
quantity_int = "items.0.quantity"

[[destinations]]
name = "raw"
topic = "raw"
"#;
    let (app, rec) = app(toml, tokens(None, None));
    let events = json!([
        {"event_name": "purchase", "items": [{"quantity": "two"}]},
        {"event_name": "purchase", "items": [{"quantity": 2}]},
    ]);
    let a = send_json(&app, &events).await;
    assert_eq!(a.status, 206, "{}", a.body);
    assert_eq!(a.body["partialFailedTagEvents"], json!([0]));
    assert_eq!(a.body["fullyFailedTagEvents"], json!([]));
    let failed = a.body["failedTags"].as_array().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["eventIndex"], 0);
    let info = &failed[0]["tagInfo"];
    assert_eq!(info["name"], "typed");
    assert_eq!(info["id"], "3");
    assert_eq!(info["status"], "failure");
    assert_eq!(info["executionTime"], 0);
    let error = info["error"].as_str().unwrap();
    assert!(
        error.contains("quantity") && error.contains("two"),
        "{error}"
    );
    // Event 0 still reached `raw`; event 1 reached both.
    assert_eq!(rec.count(), 3);
    assert_eq!(a.body["messageIds"][0].as_object().unwrap().len(), 1);
    assert_eq!(a.body["messageIds"][1].as_object().unwrap().len(), 2);
}

#[tokio::test]
async fn every_tag_failing_to_convert_is_500() {
    let toml = r#"
[[destinations]]
name = "typed"
topic = "typed"
[destinations.mapping]
v_num = "value_text"
"#;
    let (app, rec) = app(toml, tokens(None, None));
    let a = send(
        &app,
        r#"[{"event_name":"a","value_text":true},{"event_name":"b","value_text":[1]}]"#,
        &[],
    )
    .await;
    assert_eq!(a.status, 500);
    assert_eq!(a.body["fullyFailedTagEvents"], json!([0, 1]));
    assert!(a.body["error"]
        .as_str()
        .unwrap()
        .contains("2 tags were triggered. 0 tags succeeded"));
    assert_eq!(rec.count(), 0);
}

#[tokio::test]
async fn triggers_events_and_require() {
    let (app, rec) = app(TRANSACTION, tokens(None, None));
    let a = send(
        &app,
        r#"[{"event_name":"page_view","items":[]},{"event_name":"purchase"},{"event_name":"purchase","items":null}]"#,
        &[],
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(rec.count(), 0);
    assert_eq!(a.body["messageIds"], json!([{}, {}, {}]));
}

#[tokio::test]
async fn attribute_limits_fail_the_tag() {
    let (app, rec) = app(ONE_DESTINATION, tokens(None, None));
    let long_name = "e".repeat(1025);
    let a = send_json(
        &app,
        &json!([{"event_name": long_name}, {"event_name": "ok"}]),
    )
    .await;
    assert_eq!(a.status, 206);
    let error = a.body["failedTags"][0]["tagInfo"]["error"]
        .as_str()
        .unwrap();
    assert!(error.contains("1025 bytes"), "{error}");
    assert_eq!(rec.count(), 1);
}

#[tokio::test]
async fn validate_only_runs_everything_but_the_publish() {
    let (app, rec) = app(TRANSACTION, tokens(None, None));
    let req = axum::http::Request::post("/?validate_only=true")
        .body(axum::body::Body::from(
            json!([purchase(), {"event_name": 1}]).to_string(),
        ))
        .unwrap();
    let a = call(&app, req).await;
    assert_eq!(a.status, 206);
    assert_eq!(a.body["messageIds"], json!([{}, {}]));
    assert_eq!(rec.count(), 0);
}

#[test]
fn data_is_base64_on_the_wire() {
    let message = hermes_core::destination::Message {
        data: bytes::Bytes::from_static(br#"{"a":1}"#),
        attributes: vec![("event_name".into(), "purchase".into())],
    };
    let body: Value =
        serde_json::from_slice(&hermes_gcp::pubsub::PubSubRest::request_body(&[message])).unwrap();
    let data = body["messages"][0]["data"].as_str().unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
        br#"{"a":1}"#
    );
    assert_eq!(
        body["messages"][0]["attributes"],
        json!({"event_name": "purchase"})
    );
}

fn published_texts(rec: &hermes_testkit::publishers::Recorder) -> Vec<String> {
    rec.messages()
        .iter()
        .map(|(_, m)| String::from_utf8(m.data.to_vec()).expect("UTF-8"))
        .collect()
}

/// A whole event is published as the client wrote it, minified: numbers and
/// strings keep their exact text (escapes included); whitespace goes, but
/// only outside strings.
#[tokio::test]
async fn whole_events_are_their_own_text_minified() {
    let (app, rec) = app(ONE_DESTINATION, tokens(None, None));
    let body = "[\n  {\"event_name\":\"big\",\"n\":18446744073709551616,\"z\":-0,\"e\":1E400,\"f\":1.0,\"s\":\"caf\\u00e9 \\/ x\"},\n\
                {  \"event_name\" : \"spaced\",\r\n\t\"value\": 1E400,\n \"s\": \"two  spaces\\n\",\n \"l\": [ 1 , -0.0e-0 , { \"k\" : null } ] }\n]";
    let a = send(&app, body, &[]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        published_texts(&rec),
        [
            r#"{"event_name":"big","n":18446744073709551616,"z":-0,"e":1E400,"f":1.0,"s":"caf\u00e9 \/ x"}"#,
            r#"{"event_name":"spaced","value":1E400,"s":"two  spaces\n","l":[1,-0.0e-0,{"k":null}]}"#,
        ]
    );
}

/// Mapped values that are not converted keep their text; `_int` and `_num`
/// convert as they always have.
#[tokio::test]
async fn mapped_values_keep_their_text_unless_converted() {
    let toml = r#"
[[destinations]]
name = "mapped"
topic = "mapped"
[destinations.mapping]
big = "big"
zero = "zero"
s = "s"
obj = "obj"
first = "obj.a.1"
q_int = "q"
v_num = "v"
w_num = "w"
"#;
    let (app, rec) = app(toml, tokens(None, None));
    let body = r#"[{"event_name":"e","big":18446744073709551616,"zero":-0,"s":"caf\u00e9",
        "obj":{ "a" : [1, 2.50] },"q":"2.9","v":1.0,"w":"150"}]"#;
    let a = send(&app, body, &[]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        published_texts(&rec),
        [
            r#"{"big":18446744073709551616,"zero":-0,"s":"caf\u00e9","obj":{"a":[1,2.50]},"first":2.50,"q":2,"v":1,"w":150}"#
        ]
    );
}

/// A destination with transforms publishes the values none of them touched
/// as written, too.
#[tokio::test]
async fn transformed_events_keep_the_untouched_text() {
    let toml = r#"
[[destinations]]
name = "masked"
topic = "masked"
[destinations.transform]
drop = ["user_data.street"]
mask_ip = true
"#;
    let (app, rec) = app(toml, tokens(None, None));
    let body = r#"[{"event_name":"e", "ip_override":"203.0.113.77", "n":18446744073709551616,
        "s":"caf\u00e9", "user_data":{"street":"Main St 1","city":"Aarhus"}}]"#;
    let a = send(&app, body, &[]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        published_texts(&rec),
        [
            r#"{"event_name":"e","ip_override":"203.0.113.0","n":18446744073709551616,"s":"caf\u00e9","user_data":{"city":"Aarhus"}}"#
        ]
    );
}

/// A destination's static attributes, with the three Hermes sets
/// (`event_name`, `hermes_event_id`, `hermes_preview`, `hermes_backfill`), must fit Pub/Sub's
/// limits: at most 100 attributes, keys of at most 256 bytes. Checked at
/// start-up, naming the key: no message of it could ever be published.
#[test]
fn static_attributes_past_pubsub_limits_stop_start_up() {
    let with = |attributes: &[(String, String)]| {
        let table: String = attributes
            .iter()
            .map(|(k, v)| format!("{k} = \"{v}\"\n"))
            .collect();
        hermes_core::config::Config::parse(
            &format!("[[destinations]]\nname = \"d\"\ntopic = \"events\"\n[destinations.attributes]\n{table}"),
            Some("p-1"),
        )
    };
    let many = |n: usize| -> Vec<(String, String)> {
        (0..n).map(|i| (format!("a{i}"), "v".to_string())).collect()
    };
    assert!(with(&many(96)).is_ok(), "96 + 4 = 100 attributes fit");
    let err = with(&many(97)).unwrap_err().to_string();
    assert!(
        err.contains("destinations[0].attributes") && err.contains("101 attributes"),
        "{err}"
    );
    let key = |n: usize| vec![("k".repeat(n), "v".to_string())];
    assert!(with(&key(256)).is_ok(), "a 256-byte key fits");
    let err = with(&key(257)).unwrap_err().to_string();
    assert!(err.contains("257 bytes"), "{err}");
}

/// A message over 10 MB (encoded: base64 data, attributes) fails its tag with
/// the reason, before anything is sent; one just under it is published.
#[tokio::test]
async fn a_message_over_10_mb_fails_its_tag() {
    let toml = format!("max_body_bytes = 16777216\n{ONE_DESTINATION}");
    let (app, rec) = app(&toml, tokens(None, None));
    // 7.6 MB of text is over 10 MB in base64; 7.4 MB is under.
    let event = |n: usize| json!({ "event_name": "e", "pad": "x".repeat(n) });
    let a = send_json(&app, &json!([event(7_600_000), event(7_400_000)])).await;
    assert_eq!(a.status, 206, "{}", a.body["failedTags"]);
    assert_eq!(a.body["fullyFailedTagEvents"], json!([0]));
    let error = a.body["failedTags"][0]["tagInfo"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.contains("Pub/Sub limit exceeded") && error.contains("10000000"),
        "{error}"
    );
    assert_eq!(rec.count(), 1, "only the message under the limit was sent");
}
