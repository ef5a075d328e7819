//! `hermes dev` with the quarantine: on by default (the built-in sample has
//! `[quarantine]`), a bad row of every event the schema refuses is kept in the
//! SQLite file — personal data hashed or redacted — and listed at
//! `/dev/quarantine`, across a `kill -9` and a restart; the pipeline health
//! counts it by reason and never as an event. With a configuration of one's
//! own without `[quarantine]`, nothing is kept and the route says so.

use hermes_testkit::emulator::{free_port, Function};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The SHA-256 of `janedoe@gmail.com`, the Google-normalised form of the
/// address below (trimmed, lowercased, no dots in a gmail.com local part).
const EMAIL_SHA256: &str = "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69";

fn data_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "hermes-dev-quarantine-{test}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("data dir");
    dir
}

/// `hermes dev` on `db` with the built-in sample, or with `config`.
async fn start(db: &Path, config: Option<&str>) -> Function {
    let db = db.to_string_lossy().into_owned();
    let env: Vec<(&str, &str)> = config
        .map(|c| ("HERMES_CONFIG_TOML", c))
        .into_iter()
        .collect();
    Function::start_on("hermes", &["dev", "--db", &db], free_port(), &env).await
}

async fn get(url: &str) -> (u16, Value) {
    let r = reqwest::get(url).await.expect("GET");
    let status = r.status().as_u16();
    (status, r.json().await.expect("JSON"))
}

/// One valid purchase and one failing the schema (`value` is no number),
/// both named `purchase`, the bad one carrying an e-mail address in
/// `user_data` and in a free-text field.
fn request() -> Value {
    json!([
        {"event_name": "purchase", "event_id": "good-1", "value": 10,
         "items": [{"item_id": "ok", "quantity": 1}]},
        {"event_name": "purchase", "event_id": "bad-1", "value": "ten",
         "user_data": {"email_address": " Jane.Doe@gmail.com"},
         "note": "gift for jane.doe@gmail.com",
         "items": [{"item_id": "refused", "quantity": 1}]}
    ])
}

/// Waits for the bad row: ingest publishes it after answering.
async fn quarantine_rows(dev: &Function) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, list) = get(&format!("{}/dev/quarantine", dev.base)).await;
        assert_eq!(status, 200, "{list}");
        if list["total"].as_i64().unwrap_or(0) > 0 {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "no bad row listed: {list}\n{}",
            dev.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schema_refusal_is_kept_redacted_listed_and_counted_by_reason() {
    let dir = data_dir("sample");
    let db = dir.join("hermes.db");
    let mut dev = start(&db, None).await;

    // The answer is the usual one: the quarantine changes nothing of it.
    let (status, answer) = dev.post("/", &[], &request()).await;
    assert_eq!(status, 206, "{answer}");
    assert_eq!(answer["invalidSchemaEvents"], json!([1]), "{answer}");
    let errors = answer["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(errors.len(), 1, "{answer}");
    assert_eq!(
        (
            &errors[0]["eventIndex"],
            &errors[0]["code"],
            &errors[0]["path"]
        ),
        (&json!(1), &json!("type"), &json!("events[1].value")),
        "{answer}"
    );

    let list = quarantine_rows(&dev).await;
    assert_eq!(list["total"], 1, "{list}");
    let rows = list["rows"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 1, "exactly one bad row: {list}");
    let row = &rows[0];
    assert_eq!(row["reason"], "schema", "{row}");
    assert_eq!(row["eventId"], "bad-1", "{row}");
    assert_eq!(row["eventName"], "purchase", "{row}");
    assert_eq!(row["attributes"]["hermes_event_id"], "bad-1", "{row}");
    assert_eq!(row["attributes"]["hermes_quarantine_reason"], "schema");
    assert!(row["messageId"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(row["publishTime"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    // The bad row's own data: the errors the answer gave, the event as
    // refused, after the quarantine's transforms.
    assert_eq!(row["row"]["errors"], json!(errors), "{row}");
    assert_eq!(row["row"]["failedDestinations"], json!([]), "{row}");
    assert_eq!(row["row"]["event"]["value"], "ten", "{row}");
    assert_eq!(
        row["row"]["event"]["user_data"]["email_address"], EMAIL_SHA256,
        "{row}"
    );
    let text = row.to_string().to_lowercase();
    assert!(
        !text.contains('@') && !text.contains("jane.doe") && !text.contains("janedoe"),
        "a raw e-mail address in the bad row: {row}"
    );

    // Health: the bad row is counted by reason, never as a `purchase`.
    let (status, health) = get(&format!("{}/dashboard/api/health", dev.base)).await;
    assert_eq!(status, 200);
    let purchases: i64 = health["events_per_minute"]["purchase"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_i64)
        .sum();
    assert_eq!(purchases, 1, "only the valid event: {health}");
    assert_eq!(
        health["quarantined_last_hour"],
        json!({"schema": 1, "destination": 0}),
        "{health}"
    );
    assert_eq!(health["rejected_last_hour"], json!({"type": 1}), "{health}");
    assert_eq!(health["pending"], 0, "a bad row is never pending: {health}");
    assert_eq!(health["dead_letters"], 0, "{health}");
    let (_, queue) = get(&format!("{}/dev/queue", dev.base)).await;
    assert_eq!(queue["dead"], 0, "{queue}");

    // Kept in the file: still listed, and still counted, after a kill -9.
    dev.proc.child.kill().expect("kill -9");
    let _ = dev.proc.child.wait();
    let dev = start(&db, None).await;
    let (status, again) = get(&format!("{}/dev/quarantine?limit=5", dev.base)).await;
    assert_eq!(status, 200);
    assert_eq!(again["rows"], json!([row]), "after the restart: {again}");
    let (_, health) = get(&format!("{}/dashboard/api/health", dev.base)).await;
    assert_eq!(health["quarantined_last_hour"]["schema"], 1, "{health}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A configuration of one's own without `[quarantine]`: no bad rows, a 404
/// that says why, and no figure on the health card.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_quarantine_section_nothing_is_kept() {
    const CONFIG: &str = r#"
[[destinations]]
name = "items-realtime"
topic = "items-realtime"
require = ["items"]
"#;
    let dir = data_dir("own");
    let dev = start(&dir.join("hermes.db"), Some(CONFIG)).await;
    let (status, answer) = dev.post("/", &[], &request()).await;
    assert_eq!(status, 206, "{answer}");
    let (status, list) = get(&format!("{}/dev/quarantine", dev.base)).await;
    assert_eq!(status, 404, "{list}");
    assert!(
        list["error"]
            .as_str()
            .is_some_and(|e| e.contains("[quarantine]")),
        "{list}"
    );
    let (_, health) = get(&format!("{}/dashboard/api/health", dev.base)).await;
    assert_eq!(health["quarantined_last_hour"], Value::Null, "{health}");
    let (_, queue) = get(&format!("{}/dev/queue", dev.base)).await;
    assert_eq!(queue["stored"], 0, "{queue}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// With a Pub/Sub emulator, `hermes dev` keeps bad rows on the emulator's
/// quarantine topic, on a pull subscription named after it, and `hermes replay`
/// reads them there: a dry run says what would happen and leaves the row.
#[tokio::test]
async fn with_a_pubsub_emulator_hermes_replay_reads_the_bad_rows() {
    let Some(emu) = hermes_testkit::emulator::Emulator::start_pubsub().await else {
        return;
    };
    let project = hermes_testkit::emulator::unique_id("dev-replay");
    let dir = data_dir("emulator");
    let db = dir.join("hermes.db").to_string_lossy().into_owned();
    let dev = Function::start_on(
        "hermes",
        &["dev", "--db", &db],
        free_port(),
        &[
            ("PUBSUB_EMULATOR_HOST", emu.pubsub_host()),
            ("GOOGLE_CLOUD_PROJECT", &project),
        ],
    )
    .await;
    let (status, body) = dev.post("/", &[], &request()).await;
    assert_eq!(status, 206, "{body}");
    let subscription = format!("projects/{project}/subscriptions/hermes-quarantine");
    let deadline = Instant::now() + Duration::from_secs(20);
    let out = loop {
        let out = std::process::Command::new(hermes_testkit::emulator::binary("hermes"))
            .args(["replay", "--subscription", &subscription, "--dry-run"])
            .env("PUBSUB_EMULATOR_HOST", emu.pubsub_host())
            .env("GOOGLE_CLOUD_PROJECT", &project)
            .env_remove("HERMES_CONFIG")
            .env_remove("HERMES_CONFIG_TOML")
            .output()
            .expect("hermes replay");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if stdout.contains("still failing 1") || Instant::now() > deadline {
            break (
                out.status.code(),
                stdout,
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    // The same schema (Common Event Data) refuses it again: it stays, exit 1.
    assert_eq!(out.0, Some(1), "{}{}", out.1, out.2);
    assert!(
        out.1
            .trim_end()
            .ends_with("replayed 0, still failing 1, skipped 0"),
        "{}",
        out.1
    );
    assert!(out.1.contains("still failing: schema"), "{}", out.1);
    let left = emu.pull(&subscription, 10).await;
    assert_eq!(left.len(), 1, "the row stays on the subscription");
    assert_eq!(left[0].attributes["hermes_event_id"], "bad-1");
    let _ = std::fs::remove_dir_all(&dir);
}
