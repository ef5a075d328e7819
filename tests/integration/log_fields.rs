//! The pipeline-health fields of the functions' JSON logs, captured from the
//! real binaries (`hermes-ingest` against the Pub/Sub emulator, with one
//! destination whose topic does not exist; `hermes-counters` against the
//! Firestore emulator; `hermes-enrich` against both) and summed up as `terraform/tests/log_fields.json`:
//! per `metric` value, every field with its JSON type, and the `outcome`
//! values seen. Terraform's offline checks (scripts/check-terraform) read that
//! file: every log-based metric's filter and extractors must name fields
//! listed there. This test fails when a field listed there is no longer
//! logged (renamed, dropped, retyped); `HERMES_UPDATE_LOG_FIELDS=1` rewrites
//! the file from the lines seen.

use hermes_testkit::emulator::{repo_root, unique_id, Emulator, Function};
use hermes_testkit::samples::push_envelope as envelope;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const FILE: &str = "terraform/tests/log_fields.json";

/// Fields whose values are recorded too: filters select on them.
const VALUE_FIELDS: &[&str] = &["outcome", "reason"];

#[derive(Debug, Default, PartialEq)]
struct MetricFields {
    fields: BTreeMap<String, String>,
    values: BTreeMap<String, BTreeSet<String>>,
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn summarize(lines: &[Value]) -> BTreeMap<String, MetricFields> {
    let mut out: BTreeMap<String, MetricFields> = BTreeMap::new();
    for line in lines {
        let Some(metric) = line.get("metric").and_then(Value::as_str) else {
            continue;
        };
        let entry = out.entry(metric.to_string()).or_default();
        for (k, v) in line.as_object().into_iter().flatten() {
            entry.fields.insert(k.clone(), kind(v).to_string());
            if VALUE_FIELDS.contains(&k.as_str()) {
                if let Some(s) = v.as_str() {
                    entry
                        .values
                        .entry(k.clone())
                        .or_default()
                        .insert(s.to_string());
                }
            }
        }
    }
    out
}

fn to_json(summary: &BTreeMap<String, MetricFields>) -> Value {
    let mut out = Map::new();
    for (metric, m) in summary {
        out.insert(
            metric.clone(),
            json!({ "fields": m.fields, "values": m.values }),
        );
    }
    Value::Object(out)
}

fn from_json(v: &Value) -> BTreeMap<String, MetricFields> {
    let mut out = BTreeMap::new();
    for (metric, m) in v.as_object().into_iter().flatten() {
        let fields = m["fields"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, t)| (k.clone(), t.as_str().unwrap_or_default().to_string()))
            .collect();
        let values = m["values"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, vs)| {
                let set = vs
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect();
                (k.clone(), set)
            })
            .collect();
        out.insert(metric.clone(), MetricFields { fields, values });
    }
    out
}

/// What the committed file promises and the real lines no longer have.
fn missing(
    promised: &BTreeMap<String, MetricFields>,
    seen: &BTreeMap<String, MetricFields>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (metric, want) in promised {
        let Some(got) = seen.get(metric) else {
            problems.push(format!("no log line with metric={metric:?}"));
            continue;
        };
        for (field, t) in &want.fields {
            match got.fields.get(field) {
                None => problems.push(format!("{metric}: field {field:?} is not logged")),
                Some(g) if g != t => {
                    problems.push(format!("{metric}: field {field:?} is a {g}, not a {t}"))
                }
                _ => {}
            }
        }
        for (field, values) in &want.values {
            for v in values {
                if !got.values.get(field).is_some_and(|s| s.contains(v)) {
                    problems.push(format!("{metric}: {field}={v:?} is not logged"));
                }
            }
        }
    }
    problems
}

/// Pushes one envelope to a push job; its status.
async fn push_to(base: &str, message: Value) -> u16 {
    reqwest::Client::new()
        .post(format!("{base}/"))
        .header("content-type", "application/json")
        .body(message.to_string())
        .send()
        .await
        .expect("push")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn metric_fields_are_the_ones_the_functions_log() {
    let Some(emu) = Emulator::start().await else {
        return;
    };
    let project = unique_id("logfields");
    let topic = |id: &str| format!("projects/{project}/topics/{id}");
    emu.create_topic(&topic("items-realtime")).await;
    // `missing` is never created: publishing to it fails, a tag failure; so
    // is `no-quarantine`: the bad rows' publish fails.
    let config = format!(
        r#"
[quarantine]
topic = "{}"
[[destinations]]
name = "items-realtime"
topic = "{}"
[[destinations]]
name = "broken"
topic = "{}"
"#,
        topic("no-quarantine"),
        topic("items-realtime"),
        topic("missing")
    );
    let ingest = Function::start(
        "hermes-ingest",
        &[
            ("GOOGLE_CLOUD_PROJECT", &project),
            ("PUBSUB_EMULATOR_HOST", emu.pubsub_host()),
            ("HERMES_CONFIG_TOML", &config),
        ],
    )
    .await;
    let purchase = json!({"event_name": "purchase", "items": [{"item_id": "a", "price": 1}]});
    let (status, body) = ingest
        .post(
            "/",
            &[],
            &json!([purchase, {"event_name": 5}, {"page_title": "x"}]),
        )
        .await;
    assert_eq!(status, 206, "{body}");
    let bad_json = reqwest::Client::new()
        .post(format!("{}/", ingest.base))
        .body("{")
        .send()
        .await
        .expect("POST");
    assert_eq!(bad_json.status(), 400);

    let counters = Function::start(
        "hermes-counters",
        &[
            ("GOOGLE_CLOUD_PROJECT", &project),
            ("FIRESTORE_EMULATOR_HOST", emu.firestore_host()),
            ("HERMES_CONFIG_TOML", ""),
        ],
    )
    .await;
    let push = |message: Value| push_to(&counters.base, message);
    let data = json!({"items": [{"item_id": "a", "price": 2}]});
    assert_eq!(push(envelope("lf-1", &data, json!({}))).await, 200);
    assert_eq!(push(envelope("lf-1", &data, json!({}))).await, 200);
    assert_eq!(
        push(envelope("lf-2", &json!({"x": 1}), json!({}))).await,
        400
    );

    // Enrich: one enriched, one ignored, one poison (not JSON).
    emu.create_topic(&topic("enriched")).await;
    let enrich = Function::start(
        "hermes-enrich",
        &[
            ("GOOGLE_CLOUD_PROJECT", &project),
            ("PUBSUB_EMULATOR_HOST", emu.pubsub_host()),
            ("FIRESTORE_EMULATOR_HOST", emu.firestore_host()),
            (
                "HERMES_CONFIG_TOML",
                &format!(
                    "[enrich]\noutput_topic = \"{}\"\nevents = [\"purchase\"]\n",
                    topic("enriched")
                ),
            ),
        ],
    )
    .await;
    let push_enrich = |message: Value| push_to(&enrich.base, message);
    let named = |name: &str| json!({ "event_name": name });
    assert_eq!(
        push_enrich(envelope("le-1", &data, named("purchase"))).await,
        200
    );
    assert_eq!(
        push_enrich(envelope("le-2", &data, named("page_view"))).await,
        200
    );
    let mut not_json = envelope("le-3", &data, named("purchase"));
    not_json["message"]["data"] = json!("eyJ4"); // `{"x`: not JSON
    assert_eq!(push_enrich(not_json).await, 400);

    // Let the logs flush; the quarantine's failure is logged once its call answered.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !ingest.log_text().contains("ingest_quarantine_failed")
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lines: Vec<Value> = [ingest.log_text(), counters.log_text(), enrich.log_text()]
        .iter()
        .flat_map(|t| {
            t.lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .collect::<Vec<_>>()
        })
        .collect();
    let seen = summarize(&lines);
    for metric in [
        "ingest_events",
        "ingest_rejections",
        "ingest_tag_failures",
        "ingest_refused",
        "ingest_quarantined",
        "ingest_quarantine_failed",
        "counters_message",
        "enrich_message",
    ] {
        assert!(seen.contains_key(metric), "no {metric} line in {lines:#?}");
    }

    let path = repo_root().join(FILE);
    if std::env::var_os("HERMES_UPDATE_LOG_FIELDS").is_some() {
        let text = serde_json::to_string_pretty(&to_json(&seen)).expect("JSON") + "\n";
        std::fs::write(&path, text).expect("write the log fields file");
        return;
    }
    let text = std::fs::read_to_string(&path).expect("the committed log fields file");
    let promised = from_json(&serde_json::from_str(&text).expect("log fields JSON"));
    let problems = missing(&promised, &seen);
    assert!(
        problems.is_empty(),
        "{FILE} names log fields the functions no longer write (Terraform's log-based \
         metrics read them): {problems:#?}\nIf the change is meant, update the metrics in \
         terraform/monitoring.tf and rerun this test with HERMES_UPDATE_LOG_FIELDS=1."
    );
}

#[test]
fn a_renamed_field_is_caught() {
    let line = json!({"metric": "counters_message", "outcome": "poison", "message_id": "1"});
    let promised = summarize(&[line]);
    let renamed = json!({"metric": "counters_message", "result": "poison", "message_id": "1"});
    assert_eq!(
        missing(&promised, &summarize(std::slice::from_ref(&renamed))).len(),
        2
    );
    let other_value =
        json!({"metric": "counters_message", "outcome": "applied", "message_id": "1"});
    assert_eq!(missing(&promised, &summarize(&[other_value])).len(), 1);
    let retyped = json!({"metric": "counters_message", "outcome": "poison", "message_id": 1});
    assert_eq!(missing(&promised, &summarize(&[retyped])).len(), 1);
}
