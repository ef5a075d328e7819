//! The sGTM Server-to-Server template's own test scenarios (its `___TESTS___`
//! section), replayed against the ingest router, plus the examples of its README.
//! "runContainer was called N times" becomes "N messages were published" (one
//! destination takes every event), "claimRequest" becomes "answered".
//! Where Hermes (README, "The ingest function") deliberately differs from the
//! template, the test says so.

use super::common::*;
use serde_json::{json, Value};

fn valid_event_all_fields() -> Value {
    json!({
        "client_id": "ABC_123",
        "event_name": "purchase",
        "ip_override": "1.2.3.4",
        "language": "en_us",
        "page_encoding": "UTF-8",
        "page_hostname": "example.com",
        "page_location": "https://example.com\t/us/en/",
        "page_path": "/path/to/page",
        "page_referrer": "https://www.google.com",
        "page_title": "Home",
        "screen_resolution": "1024x768",
        "user_agent": "Mozilla/5.0 . . .",
        "user_data": {
            "email_address": "foo@example.com\t",
            "phone_number": "+15551234567",
            "first_name": "Jane",
            "last_name": "Doe",
            "street": "123 Fake St",
            "city": "City Town",
            "region": "CA",
            "postal_code": "54321",
            "country": "US"
        },
        "user_id": "ABC_123",
        "viewport_size": "725x345"
    })
}

fn valid_body() -> String {
    let e = valid_event_all_fields();
    json!([e, e, e]).to_string()
}

fn one_event_invalid() -> String {
    json!([
        {
            "client_id": "ABC_123", "event_name": "purchase", "ip_override": "1.2.3.4",
            "language": "en_us", "page_encoding": "UTF-8", "page_hostname": "example.com",
            "page_location": "https://example.com\t/us/en/", "page_path": "/path/to/page",
            "page_referrer": "https://www.google.com", "page_title": "Home",
            "screen_resolution": "1024x768", "user_agent": "Mozilla/5.0 . . ."
        },
        { "client_id": 456, "event_name": "purchase" }
    ])
    .to_string()
}

const INVALID_JSON: &str = r#"[{event_name: "View Page""#;

fn added_types() -> String {
    json!({
        "categories": { "type": "array", "required": false,
                        "value": { "type": "string", "required": false } },
        "people": { "type": "array", "required": false,
                    "value": { "type": "object", "required": false, "value": {
                        "name": { "type": "string", "required": false },
                        "height": { "type": "string", "required": false },
                        "age": { "type": "number", "required": false } } } },
        "context": { "type": "object", "required": false,
                     "value": { "locale": { "type": "string", "required": false } } }
    })
    .to_string()
}

fn with_structural() -> String {
    format!(
        "{ONE_DESTINATION}\n[schema]\nstructural = '''{}'''\n",
        added_types()
    )
}

fn with_primitives(required: bool) -> String {
    format!(
        "{ONE_DESTINATION}\n[schema]\nprimitive = [\n  {{ field = \"test_string\", type = \"string\", required = {required} }},\n  {{ field = \"test_num\", type = \"number\", required = {required} }},\n  {{ field = \"test_bool\", type = \"boolean\", required = {required} }},\n]\n"
    )
}

// ---------------------------------------------------------------- Authorization

#[tokio::test]
async fn auth_1_production_token_required_but_missing() {
    let (app, rec) = app(ONE_DESTINATION, tokens(Some("prod-token"), None));
    let a = send(&app, &valid_body(), &[]).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.headers["www-authenticate"], "Bearer");
    assert_eq!(a.body["status"], 401);
    assert!(a.body["error"]
        .as_str()
        .unwrap()
        .starts_with("[GTM-TEST][Server-to-Server Client][Error] - Authorization"));
    assert_eq!(rec.count(), 0);
}

#[tokio::test]
async fn auth_2_preview_token_required_but_missing() {
    let (app, rec) = app(
        ONE_DESTINATION,
        tokens(Some("prod-token"), Some("preview-token")),
    );
    let a = send(&app, &valid_body(), &[("x-gtm-server-preview", "abc")]).await;
    assert_eq!(a.status, 401);
    assert_eq!(rec.count(), 0);
}

#[tokio::test]
async fn auth_3_unclaimed_requests_still_get_401_standalone() {
    // The template leaves the request unclaimed (for another client) with
    // rejectUnauthorized = false; standalone there is no other client: 401.
    let toml = format!("reject_unauthorized = false\n{ONE_DESTINATION}");
    let (app, rec) = app(&toml, tokens(Some("prod-token"), Some("preview-token")));
    let a = send(&app, &valid_body(), &[]).await;
    assert_eq!(a.status, 401);
    assert_eq!(rec.count(), 0);
}

#[tokio::test]
async fn auth_4_no_tokens_required_in_production() {
    let (app, rec) = app(ONE_DESTINATION, tokens(None, None));
    let a = send(&app, &valid_body(), &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(rec.count(), 3);
}

#[tokio::test]
async fn auth_5_no_tokens_required_in_preview() {
    let (app, rec) = app(ONE_DESTINATION, tokens(None, None));
    let a = send(&app, &valid_body(), &[("x-gtm-server-preview", "abc")]).await;
    assert_eq!(a.status, 200);
    assert_eq!(rec.count(), 3);
    for (_, m) in rec.messages() {
        assert_eq!(m.attribute("hermes_preview"), Some("true"));
    }
}

#[tokio::test]
async fn auth_6_accepts_valid_production_token() {
    let (app, rec) = app(ONE_DESTINATION, tokens(Some("prod-token"), None));
    let a = send(
        &app,
        &valid_body(),
        &[("authorization", "Bearer prod-token")],
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(rec.count(), 3);
    for (_, m) in rec.messages() {
        assert_eq!(m.attribute("hermes_preview"), None);
    }
}

#[tokio::test]
async fn auth_7_accepts_valid_preview_token() {
    let (app, rec) = app(ONE_DESTINATION, tokens(None, Some("preview-token")));
    let a = send(
        &app,
        &valid_body(),
        &[
            ("authorization", "Bearer preview-token"),
            ("x-gtm-server-preview", "abc"),
        ],
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(rec.count(), 3);
}

#[tokio::test]
async fn auth_matrix_with_both_token_sets() {
    let (app, rec) = app(
        ONE_DESTINATION,
        tokens(Some("prod-token"), Some("preview-token")),
    );
    let cases: &[(&[(&str, &str)], u16)] = &[
        (&[("authorization", "Bearer prod-token")], 200),
        (
            &[
                ("authorization", "Bearer prod-token"),
                ("x-gtm-server-preview", "x"),
            ],
            200,
        ),
        (
            &[
                ("authorization", "Bearer preview-token"),
                ("x-gtm-server-preview", "x"),
            ],
            200,
        ),
        // A preview token outside preview mode is not a production token.
        (&[("authorization", "Bearer preview-token")], 401),
        (&[("x-gtm-server-preview", "x")], 401),
        (&[("authorization", "Bearer wrong")], 401),
        (&[("authorization", "prod-token")], 401),
        (&[], 401),
    ];
    for (headers, status) in cases {
        let a = send(&app, r#"[{"event_name":"purchase"}]"#, headers).await;
        assert_eq!(a.status.as_u16(), *status, "headers {headers:?}");
    }
    assert_eq!(rec.count(), 3);
}

#[tokio::test]
async fn preview_requests_need_a_preview_token_when_production_is_protected() {
    // The template lets every preview request through when no preview token is
    // set; standalone anyone can send that header, so we do not (README, "The
    // ingest function": authorization).
    let (app, rec) = app(ONE_DESTINATION, tokens(Some("prod-token"), None));
    let a = send(&app, &valid_body(), &[("x-gtm-server-preview", "abc")]).await;
    assert_eq!(a.status, 401);
    assert_eq!(rec.count(), 0);
}

// ---------------------------------------------------------------- Parse / Process

#[tokio::test]
async fn parse_1_missing_body_is_400() {
    let (app, rec) = app(ONE_DESTINATION, tokens(None, None));
    let a = send(&app, "", &[]).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["status"], 400);
    assert!(a.body["error"]
        .as_str()
        .unwrap()
        .contains("The request body is missing"));
    assert_eq!(rec.count(), 0);
}

#[tokio::test]
async fn parse_2_invalid_json_is_400_with_position() {
    // The template's tests answer 422 here; its README and ours say 400.
    let (app, rec) = app(ONE_DESTINATION, tokens(None, None));
    let a = send(&app, INVALID_JSON, &[]).await;
    assert_eq!(a.status, 400);
    let error = a.body["error"].as_str().unwrap();
    assert!(error.contains("line 1 column 3"), "{error}");
    assert_eq!(rec.count(), 0);
}

#[tokio::test]
async fn parse_3_and_process_valid_body() {
    let (app, rec) = app(ONE_DESTINATION, tokens(None, None));
    let a = send(&app, &valid_body(), &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(rec.count(), 3);
    assert_eq!(a.body["error"], "");
    let ids = a.body["messageIds"].as_array().unwrap();
    assert_eq!(ids.len(), 3);
    for id in ids {
        assert!(id["all-events"].is_string());
    }
}

// ---------------------------------------------------------------- Schema

#[tokio::test]
async fn schema_1_object_body_is_one_error() {
    let (app, rec) = app(ONE_DESTINATION, tokens(None, None));
    let a = send(&app, "{}", &[]).await;
    assert_eq!(a.status, 422);
    assert_eq!(a.errors().len(), 1);
    assert_eq!(a.errors()[0]["code"], "not_array");
    assert_eq!(a.errors()[0]["eventIndex"], Value::Null);
    assert_eq!(a.errors()[0]["actual"], "object");
    assert_eq!(rec.count(), 0);
}

#[tokio::test]
async fn schema_2_null_event_name_is_one_missing_error() {
    let (app, rec) = app(ONE_DESTINATION, tokens(None, None));
    let a = send(&app, r#"[{"event_name": null}]"#, &[]).await;
    assert_eq!(a.status, 422);
    assert_eq!(a.errors().len(), 1);
    let e = &a.errors()[0];
    assert_eq!(e["code"], "missing");
    assert_eq!(e["path"], "events[0].event_name");
    assert_eq!(e["eventIndex"], 0);
    assert_eq!(e["required"], true);
    assert_eq!(a.body["invalidSchemaEvents"], json!([0]));
    assert_eq!(rec.count(), 0);
}

#[tokio::test]
async fn schema_3_all_default_fields_wrong_is_23_errors() {
    let body = json!([{
        "client_id": 5, "event_name": true, "ip_override": 6, "language": false,
        "page_encoding": {}, "page_hostname": [], "page_location": 0.001, "page_path": 8,
        "page_referrer": false, "page_title": [], "screen_resolution": {}, "user_agent": true,
        "user_data": {
            "email_address": 4, "phone_number": false, "first_name": [], "last_name": 10,
            "street": 99, "city": {}, "region": 1, "postal_code": [], "country": true
        },
        "user_id": [], "viewport_size": false
    }]);
    let (app, rec) = app(ONE_DESTINATION, tokens(None, None));
    let a = send_json(&app, &body).await;
    assert_eq!(a.status, 422);
    assert_eq!(a.errors().len(), 23);
    assert!(a.errors().iter().all(|e| e["code"] == "type"));
    let page_hostname = a
        .errors()
        .iter()
        .find(|e| e["path"] == "events[0].page_hostname")
        .unwrap();
    assert_eq!(page_hostname["expected"], "string");
    assert_eq!(page_hostname["actual"], "array");
    assert!(a
        .errors()
        .iter()
        .any(|e| e["path"] == "events[0].user_data.city"));
    assert_eq!(rec.count(), 0);
}

#[tokio::test]
async fn schema_4_three_missing_required_primitives() {
    let (app, rec) = app(&with_primitives(true), tokens(None, None));
    let a = send_json(&app, &json!([valid_event_all_fields()])).await;
    assert_eq!(a.status, 422);
    let paths: Vec<&str> = a
        .errors()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "events[0].test_string",
            "events[0].test_num",
            "events[0].test_bool"
        ]
    );
    assert!(a.errors().iter().all(|e| e["code"] == "missing"));
    assert_eq!(rec.count(), 0);
}

#[tokio::test]
async fn schema_5_added_primitives_of_wrong_type() {
    let (app, rec) = app(&with_primitives(false), tokens(None, None));
    let a = send(
        &app,
        r#"[{"event_name":"purchase","test_string":true,"test_num":"4","test_bool":4}]"#,
        &[],
    )
    .await;
    assert_eq!(a.status, 422);
    assert_eq!(a.errors().len(), 3);
    assert!(a
        .errors()
        .iter()
        .all(|e| e["code"] == "type" && e["required"] == false));
    assert_eq!(rec.count(), 0);
}

#[tokio::test]
async fn schema_6_array_of_primitives() {
    let (app, rec) = app(&with_structural(), tokens(None, None));
    let a = send(
        &app,
        r#"[{"event_name":"purhcase","user_id":"123","categories":["a",1]}]"#,
        &[],
    )
    .await;
    assert_eq!(a.status, 422);
    assert_eq!(a.errors().len(), 1);
    assert_eq!(a.errors()[0]["path"], "events[0].categories[1]");
    assert_eq!(a.errors()[0]["expected"], "string");
    assert_eq!(rec.count(), 0);
}

#[tokio::test]
async fn schema_7_array_of_objects() {
    let (app, rec) = app(&with_structural(), tokens(None, None));
    let a = send(
        &app,
        r#"[{"event_name":"purhcase","user_id":"123","people":[{"height":false,"age":"string"}]}]"#,
        &[],
    )
    .await;
    assert_eq!(a.status, 422);
    let paths: Vec<&str> = a
        .errors()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["events[0].people[0].height", "events[0].people[0].age"]
    );
    assert_eq!(rec.count(), 0);
}

#[tokio::test]
async fn schema_8_added_object() {
    let (app, rec) = app(&with_structural(), tokens(None, None));
    let a = send(
        &app,
        r#"[{"event_name":"purhcase","user_id":"123","context":{"locale":5}}]"#,
        &[],
    )
    .await;
    assert_eq!(a.status, 422);
    assert_eq!(a.errors().len(), 1);
    assert_eq!(a.errors()[0]["path"], "events[0].context.locale");
    assert_eq!(rec.count(), 0);
}

#[tokio::test]
async fn schema_9_and_10_primitive_overrides_default_rule() {
    let toml = format!(
        "{ONE_DESTINATION}\n[schema]\nprimitive = [{{ field = \"user_id\", type = \"number\", required = false }}]\n"
    );
    let (app, rec) = app(&toml, tokens(None, None));
    let a = send(&app, r#"[{"event_name":"purchase","user_id":123}]"#, &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(rec.count(), 1);
    // ...and the replaced rule now rejects the old type.
    let a = send(&app, r#"[{"event_name":"purchase","user_id":"123"}]"#, &[]).await;
    assert_eq!(a.status, 422);
    assert_eq!(rec.count(), 1);
}

#[tokio::test]
async fn structural_rule_overrides_required_default() {
    let toml = format!(
        "{ONE_DESTINATION}\n[schema]\nstructural = '{{\"event_name\": {{\"type\": \"string\", \"required\": \"false\"}}}}'\n"
    );
    let (app, rec) = app(&toml, tokens(None, None));
    let a = send(&app, r#"[{"page_title":"Home"}]"#, &[]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(rec.count(), 1);
}

#[tokio::test]
async fn schema_11_all_events_fit() {
    let (app, rec) = app(ONE_DESTINATION, tokens(None, None));
    let a = send(&app, &valid_body(), &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["invalidSchemaEvents"], json!([]));
    assert_eq!(rec.count(), 3);
}

#[tokio::test]
async fn schema_12_runs_when_at_least_one_event_is_valid() {
    let (app, rec) = app(ONE_DESTINATION, tokens(None, None));
    let a = send(&app, &one_event_invalid(), &[]).await;
    assert_eq!(a.status, 206);
    assert_eq!(a.body["invalidSchemaEvents"], json!([1]));
    assert_eq!(a.errors().len(), 1);
    assert_eq!(a.errors()[0]["path"], "events[1].client_id");
    assert_eq!(
        a.body["messageIds"][0]["all-events"]
            .as_str()
            .map(|s| !s.is_empty()),
        Some(true)
    );
    assert_eq!(a.body["messageIds"][1], json!({}));
    assert!(a.body["error"]
        .as_str()
        .unwrap()
        .contains("Partial Success"));
    assert_eq!(rec.count(), 1);
}

// ---------------------------------------------------------------- Statuses

#[tokio::test]
async fn status_200_empty_array() {
    let (app, rec) = app(ONE_DESTINATION, tokens(None, None));
    let a = send(&app, "[]", &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.body,
        json!({"status": 200, "error": "", "invalidSchemaEvents": [], "fullyFailedTagEvents": [],
               "partialFailedTagEvents": [], "failedTags": [], "errors": [], "errorsOmitted": 0, "messageIds": []})
    );
    assert_eq!(rec.count(), 0);
}

#[tokio::test]
async fn status_422_no_event_fits() {
    let (app, rec) = app(ONE_DESTINATION, tokens(None, None));
    let a = send(&app, r#"[{}, {"event_name": 5}]"#, &[]).await;
    assert_eq!(a.status, 422);
    assert_eq!(a.body["invalidSchemaEvents"], json!([0, 1]));
    assert_eq!(a.errors().len(), 2);
    assert!(a.body["error"]
        .as_str()
        .unwrap()
        .contains("No events in the request body fit the schema"));
    // A single object instead of an array.
    let a = send_json(&app, &valid_event_all_fields()).await;
    assert_eq!(a.status, 422);
    assert_eq!(rec.count(), 0);
}

#[tokio::test]
async fn status_401_wrong_token() {
    let (app, rec) = app(
        ONE_DESTINATION,
        tokens(Some("right-token"), Some("preview-token")),
    );
    let a = send(
        &app,
        &valid_body(),
        &[("authorization", "Bearer wrong-token")],
    )
    .await;
    assert_eq!(a.status, 401);
    assert_eq!(rec.count(), 0);
}

#[tokio::test]
async fn tags_not_triggered_is_still_200() {
    let toml = r#"
[[destinations]]
name = "purchases"
topic = "purchases"
events = ["purchase"]
"#;
    let (app, rec) = app(toml, tokens(None, None));
    let a = send(&app, r#"[{"event_name":"page_view"}]"#, &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["messageIds"], json!([{}]));
    assert_eq!(rec.count(), 0);
}

// ---------------------------------------------------------------- README examples

#[tokio::test]
async fn readme_minimum_body() {
    let (app, rec) = app(ONE_DESTINATION, tokens(None, None));
    let a = send(&app, r#"[{ "event_name": "purchase" }]"#, &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(rec.count(), 1);
}

#[tokio::test]
async fn readme_three_events_with_user_data() {
    let body = r#"[
  { "event_name": "purchase", "ip_override": "1.2.3.4", "language": "en_us" },
  { "event_name": "add_to_cart", "currency": "USD", "value": 7.77, "language": "en_es" },
  { "event_name": "login", "user_id": "FI4L21234", "viewport_size": "725x345",
    "user_data": { "email_address": "foo@example.com", "phone_number": "+15551234567",
                   "first_name": "Jane", "last_name": "Doe" } }
]"#;
    let (app, rec) = app(
        ONE_DESTINATION,
        tokens(Some("prod-token"), Some("preview-token")),
    );
    let a = send(&app, body, &[("authorization", "Bearer prod-token")]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let names: Vec<String> = rec
        .messages()
        .iter()
        .map(|(_, m)| m.attribute("event_name").unwrap().to_string())
        .collect();
    assert_eq!(names, ["purchase", "add_to_cart", "login"]);
    let a = send(
        &app,
        r#"[{ "event_name": "purchase" }]"#,
        &[
            ("authorization", "Bearer preview-token"),
            ("x-gtm-server-preview", "PASTE_PREVIEW_HEADER_HERE"),
        ],
    )
    .await;
    assert_eq!(a.status, 200);
}
