//! No input makes ingest panic or answer outside its contract: arbitrary JSON
//! (biased towards the fields the schema and mapping look at) and arbitrary bytes,
//! plain and gzip-declared.

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
        [200, 206, 400, 413, 415, 422, 500].contains(&status),
        "unexpected status {status}: {body}"
    );
    assert_eq!(body["status"].as_u64(), Some(u64::from(status)), "{body}");
    assert!(body["error"].is_string());
}

fn run(bytes: Vec<u8>, gzip: bool) -> (u16, Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (app, _) = app(CONFIG, tokens(None, None));
        let mut req = Request::post("/");
        if gzip {
            req = req.header("content-encoding", "gzip");
        }
        let a = call(&app, req.body(Body::from(bytes)).unwrap()).await;
        (a.status.as_u16(), a.body)
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
}
