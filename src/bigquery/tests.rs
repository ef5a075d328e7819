//! The warehouse schemas: the committed golden files (tests/warehouse/) are
//! what `hermes schema bigquery` prints for examples/hermes.toml, and every
//! message the real ingest router publishes for a corpus of events (the sGTM
//! template's all-fields event, the README's purchase and personal-data
//! example, refused events for the quarantine) is one its table takes, by a
//! checker written from Google's rules (check.rs) that is shown to fail on
//! the cases those rules refuse.

use super::check::{check_message, is_rfc3339, Options, SUBSCRIPTION};
use super::*;
use hermes_core::auth::{TokenSet, Tokens};
use hermes_testkit::publishers::Recorder;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const PROJECT: &str = "hermes-test";
const HASH_KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
const QUARANTINE: &str = "\n[quarantine]\ntopic = \"hermes-quarantine\"\n";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// examples/hermes.toml plus `extra`, as ingest parses it (with the hmac key).
fn example_config(extra: &str) -> Config {
    let text = read(&root().join("examples/hermes.toml")) + extra;
    Config::parse_with_hash_key(&text, Some(PROJECT), Some(HASH_KEY)).expect("example config")
}

fn enrich_config() -> Config {
    example_config(&read(&root().join("tests/warehouse/enrich.toml")))
}

/// Every table of the examples: (golden file name, config, table).
fn tables() -> Vec<(String, Config, Table)> {
    let config = example_config(QUARANTINE);
    let mut out: Vec<(String, Config, Table)> = config
        .destinations
        .iter()
        .map(|d| {
            (
                d.name.clone(),
                config.clone(),
                Table::Destination(d.name.clone()),
            )
        })
        .collect();
    out.push(("quarantine".into(), config.clone(), Table::Quarantine));
    out.push((
        "enriched".into(),
        enrich_config(),
        Table::Enriched { source: None },
    ));
    out
}

/// `HERMES_UPDATE_GOLDEN=1` rewrites the files instead of comparing.
#[test]
fn golden_schemas_of_the_examples() {
    let update = std::env::var("HERMES_UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    for (name, config, table) in tables() {
        let path = root().join(format!("tests/warehouse/{name}.json"));
        let printed = render(&schema(&config, &table).expect("schema")) + "\n";
        if update {
            std::fs::write(&path, &printed).expect("write golden");
            continue;
        }
        assert_eq!(
            read(&path),
            printed,
            "{} differs from `hermes schema bigquery` for {table:?} \
             (HERMES_UPDATE_GOLDEN=1 rewrites it after a deliberate change)",
            path.display()
        );
    }
}

fn column<'c>(columns: &'c [Column], path: &str) -> &'c Column {
    let mut level = columns;
    let mut found = None;
    for name in path.split('.') {
        let c = level
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no column {path}"));
        level = &c.fields;
        found = Some(c);
    }
    found.expect("a path")
}

fn has(columns: &[Column], path: &str) -> bool {
    let mut level = columns;
    for name in path.split('.') {
        match level.iter().find(|c| c.name == name) {
            Some(c) => level = &c.fields,
            None => return false,
        }
    }
    true
}

/// The promises of the type table, one by one, on the examples.
#[test]
fn types_follow_the_schema_the_mapping_and_the_transforms() {
    let config = example_config(QUARANTINE);
    let table = |name: &str| schema(&config, &Table::Destination(name.into())).unwrap();
    let events = table("events");
    // Metadata first, as write_metadata lays it out.
    let names: Vec<&str> = events[..4].iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "subscription_name",
            "message_id",
            "publish_time",
            "attributes"
        ]
    );
    assert_eq!(column(&events, "publish_time").ty, Type::Timestamp);
    assert_eq!(column(&events, "attributes").ty, Type::Json);
    // Common Event Data: event_name required, value a FLOAT, user_data a RECORD.
    assert_eq!(column(&events, "event_name").mode, Mode::Required);
    assert_eq!(column(&events, "value").ty, Type::Float);
    assert_eq!(column(&events, "user_data.city").ty, Type::String);
    // GA4 e-commerce: items a REPEATED RECORD, quantity an INTEGER.
    assert_eq!(column(&events, "items").mode, Mode::Repeated);
    assert_eq!(column(&events, "items.quantity").ty, Type::Integer);
    assert_eq!(column(&events, "transaction_id").ty, Type::String);
    // A mapping: `_num` → FLOAT, a path → its type, items keeps its record.
    let items = table("items-realtime");
    assert_eq!(column(&items, "value").ty, Type::Float);
    assert_eq!(column(&items, "transaction_id").ty, Type::String);
    assert_eq!(column(&items, "items").mode, Mode::Repeated);
    assert!(!has(&items, "event_name"), "a mapping has only its keys");
    // Transforms: dropped fields are gone, the hmac'd user_id is a string.
    let archive = table("bigquery-archive");
    assert!(!has(&archive, "user_data.first_name"));
    assert!(has(&archive, "user_data.city"));
    assert_eq!(column(&archive, "user_id").ty, Type::String);
    // An unknown destination names itself.
    let e = schema(&config, &Table::Destination("nope".into())).unwrap_err();
    assert!(e.to_string().contains("\"nope\""), "{e}");
}

#[test]
fn conversions_and_unknown_paths() {
    let config = Config::parse(
        r#"
[schema.structural]
tags = { type = "array", value = { type = "number" } }
blob = { type = "object" }
[[destinations]]
name = "m"
topic = "mapped"
[destinations.mapping]
n_int = "items.0.quantity"
q = "items.0.quantity"
x_num = "whatever"
free = "not.in.the.schema"
tags = "tags"
first_tag = "tags.0"
blob = "blob"
[destinations.transform]
hash = ["tags"]
"#,
        Some(PROJECT),
    )
    .unwrap();
    let t = schema(&config, &Table::Destination("m".into())).unwrap();
    assert_eq!(column(&t, "n").ty, Type::Integer);
    assert_eq!(column(&t, "q").ty, Type::Integer);
    assert_eq!(column(&t, "q").mode, Mode::Nullable);
    assert_eq!(column(&t, "x").ty, Type::Float);
    assert_eq!(column(&t, "free").ty, Type::Json);
    // Hashed numbers are digests: strings.
    assert_eq!(column(&t, "tags").ty, Type::String);
    assert_eq!(column(&t, "tags").mode, Mode::Repeated);
    assert_eq!(column(&t, "first_tag").ty, Type::String);
    assert_eq!(column(&t, "first_tag").mode, Mode::Nullable);
    assert_eq!(column(&t, "blob").ty, Type::Json);
}

#[test]
fn names_bigquery_refuses_are_errors() {
    for (mapping, why) in [
        ("\"a-b\" = \"x\"", "letters, digits and underscores"),
        ("_PARTITIONTIME = \"x\"", "reserves"),
        ("publish_time = \"x\"", "metadata"),
        ("A = \"x\"\na = \"y\"", "case"),
    ] {
        let config = Config::parse(
            &format!("[[destinations]]\nname = \"m\"\ntopic = \"mapped\"\n[destinations.mapping]\n{mapping}\n"),
            Some(PROJECT),
        )
        .unwrap();
        let e = schema(&config, &Table::Destination("m".into())).unwrap_err();
        assert!(e.to_string().contains(why), "{mapping}: {e}");
    }
}

#[test]
fn arguments() {
    let args = |a: &[&str]| parse_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(
        args(&["--destination", "events"]),
        Ok(Table::Destination("events".into()))
    );
    assert_eq!(args(&["--quarantine"]), Ok(Table::Quarantine));
    assert_eq!(args(&["--enrich"]), Ok(Table::Enriched { source: None }));
    assert_eq!(
        args(&["--enrich", "--destination", "events"]),
        Ok(Table::Enriched {
            source: Some("events".into())
        })
    );
    assert!(args(&[]).is_err());
    assert!(args(&["--destination"]).is_err());
    assert!(args(&["--quarantine", "--enrich"]).is_err());
    assert!(args(&["--bogus"]).is_err());
}

// --- the checker, on the cases Google's pages describe ----------------------

fn table_of(payload: Vec<Column>) -> Vec<Column> {
    let mut t = metadata_columns();
    t.extend(payload);
    t
}

fn sample_table() -> Vec<Column> {
    table_of(vec![
        Column::new("name", Type::String, Mode::Required),
        Column::new("n", Type::Integer, Mode::Nullable),
        Column::new("x", Type::Float, Mode::Nullable),
        Column::new("ok", Type::Boolean, Mode::Nullable),
        Column::new("at", Type::Timestamp, Mode::Nullable),
        Column::new("doc", Type::Json, Mode::Nullable),
        Column::record(
            "items",
            Mode::Repeated,
            vec![Column::new("quantity", Type::Integer, Mode::Nullable)],
        ),
    ])
}

fn errors(data: Value, options: Options) -> Vec<String> {
    check_message(
        &sample_table(),
        data.to_string().as_bytes(),
        &[("hermes_event_id".into(), "e1".into())],
        options,
    )
}

const STRICT: Options = Options {
    drop_unknown_fields: false,
};

#[test]
fn the_checker_takes_what_the_rules_take() {
    let good = json!({
        "name": "a", "n": 3, "x": 1.5, "ok": true, "at": "2026-12-07T10:00:00.5+01:00",
        "doc": {"any": ["thing", 1]}, "items": [{"quantity": 2}]
    });
    assert_eq!(errors(good, STRICT), Vec::<String>::new());
    // NULLABLE columns may be absent or null; REPEATED null is empty.
    assert!(errors(json!({"name": "a", "n": null, "items": null}), STRICT).is_empty());
    // TIMESTAMP: microseconds since the epoch too.
    assert!(errors(
        json!({"name": "a", "at": 1_765_101_600_000_000_i64}),
        STRICT
    )
    .is_empty());
    assert!(is_rfc3339("2026-12-07T10:00:00Z"));
    assert!(is_rfc3339("2026-12-07 10:00:00.123456-05:30"));
}

#[test]
fn the_checker_refuses_what_the_rules_refuse() {
    let one = |data: Value, options: Options| {
        let e = errors(data.clone(), options);
        assert!(!e.is_empty(), "{data} passed");
        e.join("; ")
    };
    // A wrong type.
    assert!(one(json!({"name": "a", "n": "three"}), STRICT).contains("`n`"));
    assert!(one(json!({"name": "a", "n": 1.5}), STRICT).contains("`n`"));
    assert!(one(json!({"name": 7}), STRICT).contains("`name`"));
    assert!(one(json!({"name": "a", "at": "yesterday"}), STRICT).contains("`at`"));
    assert!(one(json!({"name": "a", "items": {"quantity": 1}}), STRICT).contains("`items`"));
    assert!(
        one(json!({"name": "a", "items": [{"quantity": "2"}]}), STRICT)
            .contains("`items[0].quantity`")
    );
    // A missing (or null) REQUIRED field.
    assert!(one(json!({"n": 1}), SUBSCRIPTION).contains("REQUIRED"));
    assert!(one(json!({"name": null}), SUBSCRIPTION).contains("REQUIRED"));
    // A null element of a REPEATED column.
    assert!(one(json!({"name": "a", "items": [null]}), SUBSCRIPTION).contains("null"));
    // An unknown field: refused, unless drop_unknown_fields (at any depth).
    let unknown = json!({"name": "a", "zzz": 1, "items": [{"quantity": 1, "sku": "x"}]});
    let e = one(unknown.clone(), STRICT);
    assert!(e.contains("`zzz`") && e.contains("`items[0].sku`"), "{e}");
    assert!(errors(unknown, SUBSCRIPTION).is_empty());
    // A payload field in a metadata column's place.
    assert!(one(json!({"name": "a", "publish_time": "x"}), SUBSCRIPTION).contains("metadata"));
    // Data that is no JSON object.
    assert!(!check_message(&sample_table(), b"[1]", &[], SUBSCRIPTION).is_empty());
    assert!(!check_message(&sample_table(), b"{", &[], SUBSCRIPTION).is_empty());
}

// --- what the real ingest publishes -----------------------------------------

/// The corpus (tests/warehouse/corpus.json) plus an event whose `event_name`
/// is over Pub/Sub's attribute limit (every destination refuses it for good:
/// a bad row of reason `destination`).
fn corpus() -> String {
    let mut events: Vec<Value> =
        serde_json::from_str(&read(&root().join("tests/warehouse/corpus.json"))).unwrap();
    events.push(json!({"event_name": "x".repeat(1100), "user_id": "U-2"}));
    Value::Array(events).to_string()
}

async fn published(
    config: Config,
    body: String,
) -> Vec<(String, hermes_core::destination::Message)> {
    use tower::ServiceExt;
    let recorder = Arc::new(Recorder::default());
    let tokens = Tokens {
        production: TokenSet::parse("HERMES_BEARER_TOKEN", None).unwrap(),
        preview: TokenSet::parse("HERMES_PREVIEW_BEARER_TOKEN", None).unwrap(),
    };
    let ingest = hermes_ingest::Ingest::new(config, tokens, recorder.clone()).unwrap();
    let quarantined = ingest.quarantine.is_some();
    let app = hermes_ingest::router(Arc::new(ingest));
    let request = axum::http::Request::post("/")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert!(response.status().as_u16() < 500, "{}", response.status());
    // Bad rows go out after the answer, in the batcher's own calls.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut last = usize::MAX;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let count = recorder.count();
        let rows = recorder
            .messages()
            .iter()
            .filter(|(t, _)| t.ends_with("/hermes-quarantine"))
            .count();
        if (count == last && (!quarantined || rows > 0)) || tokio::time::Instant::now() > deadline {
            break;
        }
        last = count;
    }
    recorder.messages()
}

/// Every message of every destination and of the quarantine is written by
/// its subscription (drop_unknown_fields on); a bad row has no field its
/// table lacks even with it off (the table follows ingest's bad row).
#[tokio::test]
async fn every_message_ingest_publishes_fits_its_table() {
    let config = example_config(QUARANTINE);
    let messages = published(config.clone(), corpus()).await;
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for (topic, message) in &messages {
        let (name, table, options) = if topic.ends_with("/hermes-quarantine") {
            ("quarantine".to_string(), Table::Quarantine, STRICT)
        } else {
            let d = config
                .destinations
                .iter()
                .find(|d| d.topic.to_string() == *topic)
                .unwrap_or_else(|| panic!("no destination publishes to {topic}"));
            (
                d.name.clone(),
                Table::Destination(d.name.clone()),
                SUBSCRIPTION,
            )
        };
        let columns = schema(&config, &table).unwrap();
        let errors = check_message(&columns, &message.data, &message.attributes, options);
        assert!(
            errors.is_empty(),
            "{name}: {errors:?}\n{}",
            String::from_utf8_lossy(&message.data)
        );
        *seen.entry(name).or_default() += 1;
    }
    // Every table got messages, the quarantine both kinds of bad row.
    for (name, _, _) in tables().iter().filter(|(n, _, _)| n != "enriched") {
        assert!(seen.get(name).copied().unwrap_or(0) > 0, "{name}: {seen:?}");
    }
    let reasons: std::collections::BTreeSet<&str> = messages
        .iter()
        .flat_map(|(_, m)| m.attributes.iter())
        .filter(|(k, _)| k == "hermes_quarantine_reason")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        reasons,
        ["destination", "schema"].into_iter().collect(),
        "{seen:?}"
    );
}

/// The enriched table takes a whole event of the corpus with what `[enrich]`
/// writes (hermes-enrich's output shape: received_at, the lookups' fields,
/// the device, the place).
#[tokio::test]
async fn an_enriched_event_fits_the_enriched_table() {
    let config = example_config(QUARANTINE);
    let messages = published(config.clone(), corpus()).await;
    let events_topic = format!("projects/{PROJECT}/topics/events");
    let columns = schema(&enrich_config(), &Table::Enriched { source: None }).unwrap();
    let mut checked = 0;
    for (_, message) in messages.iter().filter(|(t, _)| *t == events_topic) {
        let mut event: Value = serde_json::from_slice(&message.data).unwrap();
        event["received_at"] = json!("2026-12-07T10:00:00.123456Z");
        event["customer"] = json!({"segment": "gold", "lifetime_value": 1234.5});
        event["first_product"] = json!({"title": "Blazer", "tags": ["a"]});
        event["device"] = json!({"browser": "Chrome", "browser_version": "131.0", "os": "Android",
            "os_version": "14", "device_type": "mobile", "is_bot": false});
        event["geo"] = json!({"country": "DK", "region": "82", "city": "Aarhus"});
        let errors = check_message(
            &columns,
            event.to_string().as_bytes(),
            &message.attributes,
            SUBSCRIPTION,
        );
        assert!(errors.is_empty(), "{errors:?}\n{event}");
        checked += 1;
    }
    assert!(checked >= 5, "{checked}");
    // And it is no blanket yes: a device that is not a record is refused.
    let bad = json!({"event_name": "purchase", "device": "Chrome"});
    assert!(!check_message(&columns, bad.to_string().as_bytes(), &[], SUBSCRIPTION).is_empty());
}
