//! No input makes ingest panic or answer outside its contract: arbitrary JSON
//! (biased towards the fields the schema and mapping look at) and arbitrary bytes,
//! plain and gzip-declared; non-ASCII and escaped strings, huge and negative-zero
//! numbers as the client wrote them, deep nesting, configured tokens with any
//! Authorization header, and a publisher that fails.

use super::common::*;
use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use serde_json::{Map, Value};

const CONFIG: &str = r#"
max_body_bytes = 65536
[schema]
structural = '{"items": {"type": "array", "value": {"type": "object", "value": {"item_id": {"type": "string"}}}}}'
[[destinations]]
name = "typed"
topic = "typed"
require = ["items"]
[destinations.mapping]
value_num = "value"
quantity_int = "items.0.quantity"
price_num = "items.0.price"
items = "items"
name = "event_name"
[[destinations]]
name = "all"
topic = "all"
"#;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[ -~]{0,12}".prop_map(Value::String),
        // Any printable Unicode, and the characters JSON must escape.
        "\\PC{0,12}".prop_map(Value::String),
        "[\"\\\\/\u{0}-\u{1f}\u{7f}\u{2028}\u{2029}æ🦀]{0,8}".prop_map(Value::String),
        prop_oneof![
            Just("1e3"),
            Just(" 2.9 "),
            Just("-0"),
            Just("9e999"),
            Just("NaN"),
            Just("")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            Just("event_name".to_string()),
            Just("value".to_string()),
            Just("items".to_string()),
            Just("quantity".to_string()),
            Just("price".to_string()),
            Just("item_id".to_string()),
            Just("user_data".to_string()),
            Just("city".to_string()),
            "[a-z_]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn check_answer(status: u16, body: &Value) {
    assert!(
        [200, 206, 400, 401, 413, 415, 422, 500].contains(&status),
        "unexpected status {status}: {body}"
    );
    assert_eq!(body["status"].as_u64(), Some(u64::from(status)), "{body}");
    assert!(body["error"].is_string());
    // Never more than `max_errors` (default 100) entries, whatever the input.
    assert!(
        body["errors"].as_array().is_some_and(|e| e.len() <= 100),
        "{body}"
    );
    assert!(body["errorsOmitted"].is_u64(), "{body}");
}

/// Who answers: no tokens and Pub/Sub up, or configured tokens, or Pub/Sub down.
#[derive(Debug, Clone, Copy)]
enum Setup {
    Open,
    Tokens,
    FailingPublisher,
}

fn run(bytes: Vec<u8>, gzip: bool) -> (u16, Value) {
    run_with(Setup::Open, bytes, gzip, None)
}

fn run_with(setup: Setup, bytes: Vec<u8>, gzip: bool, auth: Option<&str>) -> (u16, Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let app = match setup {
            Setup::Open => app(CONFIG, tokens(None, None)).0,
            Setup::Tokens => app(CONFIG, tokens(Some("prod-1,prod-2"), Some("prev-1"))).0,
            Setup::FailingPublisher => app_with(
                config(CONFIG),
                tokens(None, None),
                std::sync::Arc::new(hermes_testkit::publishers::Failing),
            ),
        };
        let mut req = Request::post("/");
        if gzip {
            req = req.header("content-encoding", "gzip");
        }
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let a = call(&app, req.body(Body::from(bytes)).unwrap()).await;
        (a.status.as_u16(), a.body)
    })
}

/// Numbers as a client may write them, beyond what f64 or u64 hold.
fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("-0".to_string()),
        Just("-0.0".to_string()),
        Just("0e0".to_string()),
        Just("18446744073709551616".to_string()),
        Just("-9223372036854775809".to_string()),
        Just("1e400".to_string()),
        Just("-1e400".to_string()),
        Just("4.9e-325".to_string()),
        "[1-9][0-9]{20,300}",
        "-?[1-9][0-9]{0,4}\\.[0-9]{1,30}[eE][+-]?[0-9]{1,4}",
        any::<i64>().prop_map(|i| i.to_string()),
    ]
}

/// An event whose numbers are raw text, in the places the mapping converts.
fn raw_number_event() -> impl Strategy<Value = String> {
    (number_text(), number_text(), number_text()).prop_map(|(v, q, p)| {
        format!(
            r#"{{"event_name":"purchase","value":{v},"items":[{{"item_id":"a","quantity":{q},"price":{p}}}]}}"#
        )
    })
}

/// Arrays and objects nested up to 600 deep, inside an event or as the body.
fn deep_body() -> impl Strategy<Value = String> {
    (1usize..600, any::<bool>(), any::<bool>()).prop_map(|(depth, objects, inside)| {
        let (open, close) = if objects {
            (r#"{"a":"#, "}")
        } else {
            ("[", "]")
        };
        let nested = format!("{}1{}", open.repeat(depth), close.repeat(depth));
        if inside {
            format!(r#"[{{"event_name":"e","items":{nested},"user_data":{nested}}}]"#)
        } else {
            format!("[{nested}]")
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_json_bodies(value in json_value()) {
        let (status, body) = run(value.to_string().into_bytes(), false);
        check_answer(status, &body);
        if let Value::Array(events) = &value {
            prop_assert_eq!(body["messageIds"].as_array().map(Vec::len), Some(events.len()));
        }
    }

    #[test]
    fn arbitrary_event_arrays(events in prop::collection::vec(json_value(), 0..8)) {
        let (status, body) = run(Value::Array(events.clone()).to_string().into_bytes(), false);
        check_answer(status, &body);
        prop_assert!(status != 400 && status != 413);
        prop_assert_eq!(body["messageIds"].as_array().map(Vec::len), Some(events.len()));
    }

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512), gzip in any::<bool>()) {
        let (status, body) = run(bytes, gzip);
        check_answer(status, &body);
    }

    #[test]
    fn huge_and_negative_zero_numbers(events in prop::collection::vec(raw_number_event(), 1..4)) {
        let text = format!("[{}]", events.join(","));
        let (status, body) = run(text.into_bytes(), false);
        check_answer(status, &body);
        // Every number is valid JSON, kept as written (README: `1E400` and
        // `18446744073709551616` pass through): conversions may fail a tag,
        // never the request.
        prop_assert!([200, 206, 500].contains(&status), "{}", body);
        prop_assert_eq!(body["messageIds"].as_array().map(Vec::len), Some(events.len()));
    }

    #[test]
    fn deep_nesting(text in deep_body()) {
        let (status, body) = run(text.into_bytes(), false);
        check_answer(status, &body);
    }

    #[test]
    fn escaped_strings_in_raw_text(s in "([a-zæ🦀 ]|\\\\[nrtbf/\"\\\\]|\\\\u[0-9a-fA-F]{4}){0,16}") {
        // Escapes as a client writes them, lone surrogates (`\ud800`) included.
        let text = format!(r#"[{{"event_name":"{s}","user_data":{{"city":"{s}"}}}}]"#);
        let (status, body) = run(text.into_bytes(), false);
        check_answer(status, &body);
    }

    #[test]
    fn configured_tokens_and_any_authorization(
        auth in prop_oneof![
            Just("Bearer prod-1".to_string()),
            Just("Bearer prod-2".to_string()),
            Just("Bearer prev-1".to_string()),
            Just("bearer  prod-1 ".to_string()),
            "Bearer [ -~]{0,20}",
            "[ -~]{0,30}",
        ],
        events in prop::collection::vec(json_value(), 0..4),
    ) {
        let (status, body) = run_with(Setup::Tokens, Value::Array(events).to_string().into_bytes(), false, Some(&auth));
        check_answer(status, &body);
        let text = body.to_string();
        prop_assert!(!text.contains("prod-1") && !text.contains("prod-2") && !text.contains("prev-1"), "{}", text);
        let valid = matches!(auth.trim().split_once(' '), Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && ["prod-1", "prod-2"].contains(&t.trim()));
        if !valid {
            prop_assert_eq!(status, 401, "{}", auth);
        }
    }

    #[test]
    fn a_publisher_that_fails(events in prop::collection::vec(json_value(), 0..6)) {
        let n = events.len();
        let (status, body) = run_with(Setup::FailingPublisher, Value::Array(events).to_string().into_bytes(), false, None);
        check_answer(status, &body);
        prop_assert!(status != 200 || body["failedTags"].as_array().is_some_and(Vec::is_empty));
        prop_assert_eq!(body["messageIds"].as_array().map(Vec::len), Some(n));
        // Nothing was published: no event has a message id.
        prop_assert!(body["messageIds"].as_array().unwrap().iter().all(|m| m.as_object().is_some_and(|o| o.is_empty())));
    }
}
