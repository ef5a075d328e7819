//! Personal data at the edge (README, "Personal data"): transforms per
//! destination before the Hermes encoding, consent, and the `hmac` key at
//! start-up — through the ingest router, the `hermes-ingest` and `hermes`
//! binaries, and a property test over random events and random transforms.

use super::common::*;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hermes_core::config::Config;
use hermes_core::destination::Message;
use hermes_core::transform::TransformPath;
use hermes_gcp::pubsub::PubSubRest;
use hermes_testkit::emulator::{binary, repo_root};
use hermes_testkit::samples::PROJECT;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::sync::Arc;

const KEY: &[u8] = b"a test key of thirty-two bytes!!";

/// The published message as Pub/Sub receives it: the wire body's base64
/// `data`, decoded, and the attribute values.
fn on_the_wire(message: &Message) -> (Value, Vec<String>) {
    let body: Value =
        serde_json::from_slice(&PubSubRest::request_body(std::slice::from_ref(message)))
            .expect("publish body");
    let data = STANDARD
        .decode(body["messages"][0]["data"].as_str().expect("data"))
        .expect("base64");
    let attributes = body["messages"][0]["attributes"]
        .as_object()
        .map(|a| {
            a.values()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    (
        serde_json::from_slice(&data).expect("payload JSON"),
        attributes,
    )
}

fn published(rec: &Recorder, topic_id: &str) -> Vec<Value> {
    rec.messages()
        .iter()
        .filter(|(t, _)| t.ends_with(&format!("/topics/{topic_id}")))
        .map(|(_, m)| on_the_wire(m).0)
        .collect()
}

fn app_keyed(toml: &str) -> (axum::Router, Arc<Recorder>) {
    let config = Config::parse_with_hash_key(toml, Some(PROJECT), Some(KEY)).expect("config");
    let recorder = Arc::new(Recorder::default());
    (
        app_with(config, tokens(None, None), recorder.clone()),
        recorder,
    )
}

const CONSENT: &str = r#"
[[destinations]]
name = "ads"
topic = "ads"
require_consent = ["ad_user_data", "ad_personalization"]
[[destinations]]
name = "all"
topic = "all"
"#;

/// Granted, denied, missing and malformed consent: only the first triggers
/// `ads`; none is a failure, in the response or in what is published.
#[tokio::test]
async fn consent_matrix_end_to_end() {
    let (app, rec) = app(CONSENT, tokens(None, None));
    let events = json!([
        {"event_name": "a", "consent": {"ad_user_data": "GRANTED", "ad_personalization": "GRANTED"}},
        {"event_name": "b", "consent": {"ad_user_data": "GRANTED", "ad_personalization": "DENIED"}},
        {"event_name": "c"},
        {"event_name": "d", "consent": "GRANTED"},
        {"event_name": "e", "consent": {"ad_user_data": "granted", "ad_personalization": 1}},
        {"event_name": "f", "consent": null},
        {"event_name": "g", "consent": [{"ad_user_data": "GRANTED"}]},
    ]);
    let a = send_json(&app, &events).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["failedTags"], json!([]));
    assert_eq!(a.body["fullyFailedTagEvents"], json!([]));
    assert_eq!(a.body["partialFailedTagEvents"], json!([]));
    let ids = a.body["messageIds"].as_array().expect("messageIds");
    assert!(ids[0].get("ads").is_some() && ids[0].get("all").is_some());
    for (i, id) in ids.iter().enumerate().skip(1) {
        assert!(id.get("ads").is_none(), "event {i}: {id}");
        assert!(id.get("all").is_some(), "event {i}: {id}");
    }
    let ads = published(&rec, "ads");
    assert_eq!(ads.len(), 1);
    assert_eq!(ads[0]["event_name"], "a");
    assert_eq!(published(&rec, "all").len(), 7);
}

const TRANSFORMS: &str = r#"
[[destinations]]
name = "ga4-user-data"
topic = "ga4-user-data"
[destinations.transform]
drop = ["user_data.street", "items.*.customer_email"]
hash = ["user_data.email_address", "user_data.phone_number", "user_data.first_name"]
hmac = ["user_id"]
mask_ip = true
[[destinations]]
name = "archive"
topic = "archive"
[destinations.transform]
redact = ["email", "credit_card", "phone"]
[[destinations]]
name = "mapped"
topic = "mapped"
[destinations.mapping]
email_int = "user_data.email_address"
[destinations.transform]
hash = ["user_data.email_address"]
[[destinations]]
name = "raw"
topic = "raw"
"#;

#[tokio::test]
async fn each_destination_gets_its_own_transforms() {
    let (app, rec) = app_keyed(TRANSFORMS);
    let event = json!({
        "event_name": "purchase",
        "user_id": "U-1001",
        "ip_override": "203.0.113.77",
        "user_data": {
            "email_address": " Jefferson.Loves.Hiking@gmail.com ",
            "phone_number": "+1 (800) 555-0100",
            "first_name": "  GivenName  ",
            "street": "1600 Amphitheatre Pkwy",
            "city": "Mountain View",
            "country": "US"
        },
        "items": [{"item_id": "1", "customer_email": "x@y.org"}, {"item_id": "2"}],
        "note": "card 4111 1111 1111 1111, call +45 12 34 56 78 or mail a.b@example.com"
    });
    let a = send_json(&app, &json!([event])).await;
    // `mapped` fails: its `_int` conversion of the (hashed) e-mail is no number.
    assert_eq!(a.status, 206, "{}", a.body);
    let response = a.body.to_string();
    assert!(!response.contains("Jefferson") && !response.contains("jeffersonloveshiking"));

    let ga4 = &published(&rec, "ga4-user-data")[0];
    let ud = &ga4["user_data"];
    // hashlib.sha256(b"jeffersonloveshiking@gmail.com").hexdigest()
    assert_eq!(
        ud["email_address"],
        "515d2f967f73864e76937ab2b897210a86fd286016903b1b08c3da07c75f513e"
    );
    // Google's own digest of +18005550100 (data-manager-python's formatter tests).
    assert_eq!(
        ud["phone_number"],
        "fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30"
    );
    assert_eq!(
        ud["first_name"],
        "128a07bfe2df877c52076e60d7774cf5baaa046c5a6c48daf30ff43ecca2f814"
    );
    assert!(ud.get("street").is_none());
    assert_eq!(ud["city"], "Mountain View");
    assert_eq!(ud["country"], "US");
    assert_eq!(ga4["ip_override"], "203.0.113.0");
    assert_eq!(ga4["items"], json!([{"item_id": "1"}, {"item_id": "2"}]));
    // python3 -c 'import hmac,hashlib; print(hmac.new(b"a test key of thirty-two bytes!!", b"u-1001", hashlib.sha256).hexdigest())'
    assert_eq!(
        ga4["user_id"],
        "17babe60c0974efeaa3b88d4cea92607e541846c30365ee143039ea04893d584"
    );

    let archive = &published(&rec, "archive")[0];
    assert_eq!(
        archive["note"],
        "card [redacted:credit_card], call [redacted:phone] or mail [redacted:email]"
    );
    assert_eq!(archive["user_data"]["email_address"], " [redacted:email] ");
    assert_eq!(archive["items"][0]["customer_email"], "[redacted:email]");
    assert_eq!(archive["user_data"]["city"], "Mountain View");
    assert_eq!(archive["ip_override"], "203.0.113.77");

    assert!(published(&rec, "mapped").is_empty());
    // The destination without transforms gets the event as it came.
    assert_eq!(published(&rec, "raw")[0], event);
}

/// `hermes-ingest` refuses to start when a destination needs `HERMES_HASH_KEY`
/// and it is missing or too short, naming the variable (never printing it).
#[test]
fn ingest_does_not_start_without_the_hash_key() {
    let bin = binary("hermes-ingest");
    let config = "[[destinations]]\nname = \"crm\"\ntopic = \"crm\"\n[destinations.transform]\nhmac = [\"user_id\"]\n";
    for key in [None, Some("too-short-a-key")] {
        let mut cmd = Command::new(&bin);
        cmd.env("HERMES_CONFIG_TOML", config)
            .env("GOOGLE_CLOUD_PROJECT", PROJECT)
            .env("PUBSUB_EMULATOR_HOST", "127.0.0.1:9")
            .env("PORT", "0")
            .env_remove("HERMES_CONFIG")
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .env_remove("HERMES_HASH_KEY")
            .stdin(Stdio::null());
        if let Some(key) = key {
            cmd.env("HERMES_HASH_KEY", key);
        }
        let out = cmd.output().expect("hermes-ingest runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "started anyway: {text}");
        assert!(text.contains("HERMES_HASH_KEY"), "{text}");
        assert!(text.contains("destinations[0].transform.hmac"), "{text}");
        assert!(
            !text.contains("too-short-a-key"),
            "the key was printed: {text}"
        );
    }
}

/// `hermes validate --payloads` with the example configuration prints what
/// each destination would receive, transformed, and why the others do not run.
#[test]
fn validate_prints_what_each_destination_receives() {
    let dir = std::env::temp_dir().join(format!("hermes-payloads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("events.json");
    let purchase = json!({
        "event_name": "purchase", "transaction_id": "T1", "value": 150, "currency": "DKK",
        "user_id": "U-1001", "ip_override": "203.0.113.77",
        "consent": {"ad_user_data": "GRANTED", "ad_personalization": "DENIED"},
        "user_data": {"email_address": "Jane.Doe@gmail.com", "phone_number": "+45 12 34 56 78",
                      "first_name": "Jane", "street": "Main St 1", "city": "Aarhus", "country": "DK"},
        "items": [{"item_id": "123", "price": 150, "quantity": 1}]
    });
    let mut denied = purchase.clone();
    denied["consent"]["ad_user_data"] = json!("DENIED");
    let events = json!([purchase, denied]);
    std::fs::write(&file, events.to_string()).expect("write events");
    let out = Command::new(binary("hermes"))
        .args(["validate", "--payloads"])
        .arg(&file)
        .env("HERMES_CONFIG", repo_root().join("examples/hermes.toml"))
        .env("GOOGLE_CLOUD_PROJECT", PROJECT)
        .env("HERMES_HASH_KEY", std::str::from_utf8(KEY).unwrap())
        .env_remove("HERMES_CONFIG_TOML")
        .output()
        .expect("hermes runs");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_str(&stdout).expect("JSON output");
    let dests = printed[0]["destinations"].as_array().expect("destinations");
    let by_name = |name: &str| {
        dests
            .iter()
            .find(|d| d["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {stdout}"))
    };
    let events_dest = by_name("events");
    assert_eq!(events_dest["triggered"], true);
    assert_eq!(events_dest["payload"]["user_data"]["first_name"], "Jane");
    assert_eq!(events_dest["attributes"]["event_name"], "purchase");
    let ads = by_name("ga4-user-data");
    assert_eq!(ads["triggered"], true, "{ads}");
    // hashlib.sha256(b"janedoe@gmail.com").hexdigest()
    assert_eq!(
        ads["payload"]["sha256_email_address"],
        "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69"
    );
    assert_eq!(ads["payload"]["city"], "Aarhus");
    assert_eq!(ads["payload"]["ip_override"], "203.0.113.0");
    assert!(!ads.to_string().contains("Jane"), "{ads}");
    let archive = by_name("bigquery-archive");
    assert_eq!(archive["triggered"], true, "{archive}");
    assert_eq!(
        archive["payload"]["user_data"]["email_address"],
        "[redacted:email]"
    );
    assert_eq!(archive["payload"]["ip_override"], "203.0.113.0");
    assert!(!archive.to_string().contains("U-1001"));
    assert_eq!(archive["payload"]["user_data"].get("street"), None);
    // The second event denies the use of its data for ads: GA4's destination does not run.
    let second = printed[1]["destinations"].as_array().expect("destinations");
    let ga4 = second
        .iter()
        .find(|d| d["name"] == "ga4-user-data")
        .expect("ga4-user-data");
    assert_eq!(ga4["triggered"], false);
    assert!(
        ga4["reason"]
            .as_str()
            .unwrap_or("")
            .contains("ad_user_data"),
        "{ga4}"
    );
}

// ------------------------------------------------------------ property test

/// Paths the random transforms choose from, and where the generated events
/// put personal values.
const PATHS: [&str; 7] = [
    "user_data.email_address",
    "user_data.phone_number",
    "user_data.first_name",
    "user_data.street",
    "user_id",
    "items.*.customer_email",
    "items.0.customer_email",
];

/// A personal string: a marker no digest can contain (hex is `0-9a-f`), then
/// random text, digits and symbols, or an e-mail address.
fn personal_text() -> impl Strategy<Value = Value> {
    prop_oneof![
        "PII-[a-zA-Z0-9 .+@()-]{4,16}".prop_map(Value::String),
        "PII-[a-z.]{1,8}@(gmail|Example)\\.com".prop_map(Value::String),
    ]
}

/// A personal string, or an array of them.
fn personal() -> impl Strategy<Value = Value> {
    prop_oneof![
        personal_text(),
        prop::collection::vec(personal_text(), 1..3).prop_map(Value::Array),
    ]
}

/// Makes every personal string unique (`PII-<n>#…`), so that no protected
/// value is part of another one left in clear.
fn uniquify(value: &mut Value, n: &mut usize) {
    match value {
        Value::String(s) if s.starts_with("PII-") => {
            *n += 1;
            *s = format!("PII-{n}#{}", &s[4..]);
        }
        Value::Array(a) => a.iter_mut().for_each(|v| uniquify(v, n)),
        Value::Object(m) => m.values_mut().for_each(|v| uniquify(v, n)),
        _ => {}
    }
}

fn filler() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[ -~]{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn event() -> impl Strategy<Value = Value> {
    (
        prop::option::of(personal_text()),
        prop::option::of(personal_text()),
        prop::option::of(personal_text()),
        prop::option::of(personal_text()),
        prop::option::of(personal_text()),
        prop::collection::vec(prop::option::of(personal()), 0..4),
        filler(),
        prop::option::of("[0-9.:a-f]{0,20}"),
    )
        .prop_map(|(email, phone, first, street, user_id, items, extra, ip)| {
            let mut ud = serde_json::Map::new();
            for (k, v) in [
                ("email_address", email),
                ("phone_number", phone),
                ("first_name", first),
                ("street", street),
            ] {
                if let Some(v) = v {
                    ud.insert(k.into(), v);
                }
            }
            let items: Vec<Value> = items
                .into_iter()
                .enumerate()
                .map(|(i, e)| match e {
                    Some(e) => json!({"item_id": i.to_string(), "customer_email": e}),
                    None => json!({"item_id": i.to_string()}),
                })
                .collect();
            let mut e =
                json!({"event_name": "purchase", "user_data": ud, "items": items, "extra": extra});
            if let Some(id) = user_id {
                e["user_id"] = id;
            }
            if let Some(ip) = ip {
                e["ip_override"] = Value::String(ip);
            }
            e
        })
}

/// Random `[destinations.transform]` tables: each path dropped, hashed,
/// hmac'd or left; random redaction and IP masking; with or without a mapping.
fn transforms() -> impl Strategy<Value = (String, Vec<String>)> {
    (
        prop::collection::vec(0u8..4, PATHS.len()),
        prop::collection::vec(any::<bool>(), 3),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(choice, redact, mask_ip, mapped)| {
            let mut lists: [Vec<String>; 3] = Default::default();
            let mut protected = Vec::new();
            for (path, c) in PATHS.iter().zip(choice) {
                if let Some(list) = lists.get_mut(usize::from(c)) {
                    list.push(format!("{path:?}"));
                    protected.push(path.to_string());
                }
            }
            let kinds: Vec<&str> = ["\"email\"", "\"credit_card\"", "\"phone\""]
                .into_iter()
                .zip(redact)
                .filter_map(|(k, on)| on.then_some(k))
                .collect();
            let mapping = if mapped {
                "[destinations.mapping]\nud = \"user_data\"\nuid = \"user_id\"\nitems = \"items\"\nemail = \"user_data.email_address\"\n"
            } else {
                ""
            };
            let toml = format!(
                "[[destinations]]\nname = \"protected\"\ntopic = \"protected\"\n{mapping}[destinations.transform]\n\
                 drop = [{}]\nhash = [{}]\nhmac = [{}]\nredact = [{}]\nmask_ip = {mask_ip}\n\
                 [[destinations]]\nname = \"other\"\ntopic = \"other\"\n",
                lists[0].join(", "),
                lists[1].join(", "),
                lists[2].join(", "),
                kinds.join(", "),
            );
            (toml, protected)
        })
}

/// The string values (at any depth) a path reaches in the original event.
fn originals(event: &Value, path: &str) -> Vec<String> {
    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
            Value::Object(m) => m.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    let text = event.to_string();
    let mut copy = hermes_core::json::parse(&text).expect("JSON");
    if let Some(p) = TransformPath::parse(path) {
        p.for_each_mut(&mut copy, &mut |v| strings(&v.to_value(), &mut out));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn no_protected_value_is_published(
        mut events in prop::collection::vec(event(), 1..4),
        (toml, protected) in transforms(),
    ) {
        let mut n = 0;
        events.iter_mut().for_each(|e| uniquify(e, &mut n));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (body, messages) = rt.block_on(async {
            let (app, rec) = app_keyed(&toml);
            let a = send_json(&app, &Value::Array(events.clone())).await;
            (a.body, rec.messages())
        });
        // Every event was published to both destinations: the check below
        // reads real messages, not an empty list.
        prop_assert_eq!(&body["status"], &json!(200), "{}", body);
        let on = |name: &str| -> Vec<&Message> {
            messages
                .iter()
                .filter(|(topic, _)| topic.ends_with(&format!("/topics/{name}")))
                .map(|(_, m)| m)
                .collect()
        };
        prop_assert_eq!(on("protected").len(), events.len());
        prop_assert_eq!(on("other").len(), events.len());
        let secrets: Vec<String> = events
            .iter()
            .flat_map(|e| protected.iter().flat_map(move |p| originals(e, p)))
            .filter(|s| s.starts_with("PII-"))
            .collect();
        // The untransformed destination carries them: they were there to leak.
        let other: String = on("other")
            .iter()
            .map(|m| on_the_wire(m).0.to_string())
            .collect();
        for secret in &secrets {
            let escaped = serde_json::to_string(secret).unwrap();
            prop_assert!(other.contains(escaped.trim_matches('"')), "{secret:?} not in {other}");
        }
        let mapped = toml.contains("[destinations.mapping]");
        for message in on("protected") {
            let (payload, attributes) = on_the_wire(message);
            // What no transform names goes through.
            if mapped {
                prop_assert!(payload.get("items").is_some(), "{payload}");
            } else {
                prop_assert_eq!(&payload["event_name"], &json!("purchase"), "{}", payload);
            }
            let text = payload.to_string();
            for secret in &secrets {
                let escaped = serde_json::to_string(secret).unwrap();
                let escaped = escaped.trim_matches('"');
                prop_assert!(!text.contains(escaped), "{secret:?} published in {text}\n{toml}");
                prop_assert!(!attributes.iter().any(|a| a.contains(secret.as_str())));
            }
        }
        prop_assert!(!body.to_string().contains("PII-"), "{}", body);
    }
}
