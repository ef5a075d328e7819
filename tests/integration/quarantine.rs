//! Nothing lost (README): ingest's quarantine of refused events, and
//! `hermes replay` of bad rows and of dead letters, on Google's Pub/Sub and
//! Firestore emulators with the real binaries (`hermes-ingest`,
//! `hermes-counters`, `hermes`).
//!
//! `cargo test --test integration quarantine` runs them alone.

use hermes_testkit::emulator::{binary, free_port, unique_id, Emulator, Function};
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

/// SHA-256 of the Google-normalised e-mail ` Jane.Doe@gmail.com` (`janedoe@gmail.com`),
/// computed independently (Python's hashlib).
const JANE_EMAIL_SHA256: &str = "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69";
/// SHA-256 of `+45 12 34 56 78` in E.164 (`+4512345678`).
const JANE_PHONE_SHA256: &str = "7d5574e4ec1f7e9b606eadd8d76eab15510a93ca476ee1705145b32cd6ab6504";

/// Whole events to `events`, and a mapping whose `revenue_num` cannot convert
/// a text: a destination's refusal for good.
fn bad_rows_config(events: &str, revenue: &str, quarantine: Option<&str>) -> String {
    let quarantine = quarantine
        .map(|q| format!("[quarantine]\ntopic = \"{q}\"\n"))
        .unwrap_or_default();
    format!(
        r#"
container_id = "GTM-Q"
{quarantine}
[[destinations]]
name = "events"
topic = "{events}"

[[destinations]]
name = "revenue"
topic = "{revenue}"
events = ["purchase"]
[destinations.mapping]
revenue_num = "revenue"
"#
    )
}

fn bad_rows_request() -> Value {
    json!([
        {"event_name": "purchase", "event_id": "q-valid", "revenue": "12.50", "currency": "EUR"},
        {"event_name": "purchase", "event_id": "q-schema", "currency": 5,
         "user_data": {"email_address": " Jane.Doe@gmail.com", "phone_number": "+45 12 34 56 78",
                       "city": "Aarhus"},
         "note": "call Jane on +1 (800) 555-0100 or write to jane.doe@example.com"},
        {"event_name": "purchase", "event_id": "q-convert", "revenue": "pay.me@example.net",
         "user_data": {"email_address": "someone@example.org"}}
    ])
}

/// The answer's text with every Pub/Sub message id replaced: two ingest
/// processes get different ids for the same messages, and nothing else may differ.
fn without_ids(text: &str) -> String {
    let mut v: Value = serde_json::from_str(text).expect("JSON answer");
    for ids in v["messageIds"].as_array_mut().into_iter().flatten() {
        for (_, id) in ids.as_object_mut().into_iter().flatten() {
            *id = json!("<id>");
        }
    }
    v.to_string()
}

async fn post_text(ingest: &Function, body: &Value) -> (u16, String) {
    let resp = reqwest::Client::new()
        .post(format!("{}/", ingest.base))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST to ingest");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("answer"))
}

async fn start_ingest(emu: &Emulator, project: &str, config: &str) -> Function {
    Function::start(
        "hermes-ingest",
        &[
            ("GOOGLE_CLOUD_PROJECT", project),
            ("PUBSUB_EMULATOR_HOST", emu.pubsub_host()),
            ("HERMES_CONFIG_TOML", config),
        ],
    )
    .await
}

#[tokio::test]
async fn refused_events_become_bad_rows_without_personal_data_and_the_answer_is_unchanged() {
    let Some(emu) = Emulator::start_pubsub().await else {
        return;
    };
    let project = unique_id("quarantine-rows");
    let topic = |t: &str| format!("projects/{project}/topics/{t}");
    let sub = |t: &str| format!("projects/{project}/subscriptions/{t}");
    for t in ["events", "revenue", "hermes-quarantine"] {
        emu.create_topic(&topic(t)).await;
        emu.create_pull_subscription(&sub(t), &topic(t)).await;
    }
    let with = start_ingest(
        &emu,
        &project,
        &bad_rows_config(
            &topic("events"),
            &topic("revenue"),
            Some(&topic("hermes-quarantine")),
        ),
    )
    .await;
    let without = start_ingest(
        &emu,
        &project,
        &bad_rows_config(&topic("events"), &topic("revenue"), None),
    )
    .await;
    // A quarantine topic that does not exist: every bad row's publish fails.
    let missing = start_ingest(
        &emu,
        &project,
        &bad_rows_config(
            &topic("events"),
            &topic("revenue"),
            Some(&topic("no-such-quarantine")),
        ),
    )
    .await;

    let request = bad_rows_request();
    let (status, answer) = post_text(&with, &request).await;
    let (status_without, answer_without) = post_text(&without, &request).await;
    let (status_missing, answer_missing) = post_text(&missing, &request).await;
    assert_eq!(status, 206, "{answer}");
    assert_eq!(status, status_without);
    assert_eq!(without_ids(&answer), without_ids(&answer_without));
    assert_eq!(status_missing, status_without);
    assert_eq!(without_ids(&answer_missing), without_ids(&answer_without));

    let rows = emu
        .pull_n(&sub("hermes-quarantine"), 2, Duration::from_secs(20))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let more = emu.drain(&sub("hermes-quarantine")).await;
    assert!(
        more.is_empty(),
        "more bad rows than refused events: {more:?}"
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    let row = |id: &str| {
        rows.iter()
            .find(|r| r.attributes.get("hermes_event_id").map(String::as_str) == Some(id))
            .unwrap_or_else(|| panic!("no bad row for {id}: {rows:?}"))
    };

    let schema = row("q-schema");
    assert_eq!(schema.attributes["hermes_quarantine_reason"], "schema");
    assert_eq!(schema.attributes["event_name"], "purchase");
    let text = schema.text();
    for clear in [
        "Jane.Doe",
        "gmail.com",
        "jane.doe@example.com",
        "555-0100",
        "12 34 56 78",
    ] {
        assert!(!text.contains(clear), "{clear:?} in the bad row: {text}");
    }
    let data = schema.json();
    let user = &data["event"]["user_data"];
    assert_eq!(user["email_address"], JANE_EMAIL_SHA256, "{data}");
    assert_eq!(user["phone_number"], JANE_PHONE_SHA256, "{data}");
    // Google takes the city in plain text: hashing it would make the row useless.
    assert_eq!(user["city"], "Aarhus");
    let note = data["event"]["note"].as_str().expect("note kept, redacted");
    assert!(
        note.contains("[redacted:email]") && note.contains("[redacted:phone]"),
        "{note}"
    );
    let errors = data["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{data}");
    assert_eq!(errors[0]["path"], "events[1].currency");
    assert_eq!(errors[0]["eventIndex"], 1);
    assert_eq!(data["failedDestinations"], json!([]));
    let received = data["receivedAt"].as_str().expect("receivedAt");
    assert!(
        hermes_core::time::parse_timestamp(received).is_some(),
        "{received}"
    );

    let convert = row("q-convert");
    assert_eq!(
        convert.attributes["hermes_quarantine_reason"],
        "destination"
    );
    let data = convert.json();
    // The conversion error quotes the value it could not convert: redacted too.
    for clear in ["someone@example.org", "pay.me@example.net"] {
        assert!(
            !convert.text().contains(clear),
            "{clear:?} in {}",
            convert.text()
        );
    }
    assert_eq!(data["errors"], json!([]));
    let failed = data["failedDestinations"].as_array().expect("failed");
    assert_eq!(failed.len(), 1, "{data}");
    assert_eq!(failed[0]["name"], "revenue");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap_or("")
            .contains("revenue"),
        "{data}"
    );
    // The valid event and the converted one's whole copy were published as usual.
    let events = emu.drain(&sub("events")).await;
    assert!(
        events.len() >= 4,
        "two whole events per ingest with a topic: {events:?}"
    );

    // The failed quarantine publish is logged for the alert, and nothing else changed.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let logged = missing
            .log_lines("WARNING")
            .iter()
            .any(|l| l["metric"] == "ingest_quarantine_failed" && l["events"] == 2);
        if logged {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no ingest_quarantine_failed line:\n{}",
            missing.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let quarantined: Vec<Value> = with
        .log_lines("INFO")
        .into_iter()
        .filter(|l| l["metric"] == "ingest_quarantined")
        .collect();
    assert_eq!(quarantined.len(), 2, "{quarantined:?}");
}

// ---- hermes replay ------------------------------------------------------------------------

/// The pipeline of the replay tests: ingest → `items` → push → counters (Firestore),
/// with a dead-letter topic and its pull subscription, and the quarantine topic
/// with two pull subscriptions (two copies of each bad row).
struct Pipeline {
    emu: Emulator,
    project: String,
    counters: Option<Function>,
    counters_port: u16,
}

impl Pipeline {
    fn topic(&self, t: &str) -> String {
        format!("projects/{}/topics/{t}", self.project)
    }

    fn sub(&self, s: &str) -> String {
        format!("projects/{}/subscriptions/{s}", self.project)
    }

    /// `counters_up`: start counters now; otherwise its port stays closed
    /// (every push fails) until [`Pipeline::start_counters`].
    async fn start(test: &str, counters_up: bool) -> Option<Self> {
        let emu = Emulator::start().await?;
        let project = unique_id(test);
        let mut p = Self {
            emu,
            project,
            counters: None,
            counters_port: free_port(),
        };
        for t in ["items", "items-dead", "hermes-quarantine"] {
            p.emu.create_topic(&p.topic(t)).await;
        }
        p.emu
            .create_pull_subscription(&p.sub("items-dead-pull"), &p.topic("items-dead"))
            .await;
        for s in ["quarantine-a", "quarantine-b"] {
            p.emu
                .create_pull_subscription(&p.sub(s), &p.topic("hermes-quarantine"))
                .await;
        }
        let body = json!({
            "topic": p.topic("items"),
            "pushConfig": { "pushEndpoint": format!("http://127.0.0.1:{}/", p.counters_port) },
            "ackDeadlineSeconds": 10,
            "retryPolicy": { "minimumBackoff": "1s", "maximumBackoff": "2s" },
            "deadLetterPolicy": { "deadLetterTopic": p.topic("items-dead"), "maxDeliveryAttempts": 5 },
        });
        let resp = p
            .emu
            .http()
            .put(format!(
                "{}/v1/{}",
                p.emu.pubsub_base(),
                p.sub("items-counters")
            ))
            .json(&body)
            .send()
            .await
            .expect("PUT subscription");
        assert!(
            resp.status().is_success(),
            "push subscription: {}",
            resp.status()
        );
        if counters_up {
            p.start_counters().await;
        }
        Some(p)
    }

    async fn start_counters(&mut self) {
        self.counters = Some(
            Function::start_on(
                "hermes-counters",
                &[],
                self.counters_port,
                &[
                    ("GOOGLE_CLOUD_PROJECT", &self.project),
                    ("FIRESTORE_EMULATOR_HOST", self.emu.firestore_host()),
                    ("HERMES_CONFIG_TOML", ""),
                ],
            )
            .await,
        );
    }

    /// Purchases with items to `items`; with `strict`, the schema also
    /// requires a `coupon` no event has.
    fn config(&self, strict: bool) -> String {
        let rule = if strict {
            "[schema]\nprimitive = [{ field = \"coupon\", type = \"string\", required = true }]\n"
        } else {
            ""
        };
        format!(
            r#"
{rule}
[quarantine]
topic = "{}"

[[destinations]]
name = "items"
topic = "{}"
events = ["purchase"]
require = ["items"]
"#,
            self.topic("hermes-quarantine"),
            self.topic("items")
        )
    }

    async fn ingest(&self, strict: bool) -> Function {
        start_ingest(&self.emu, &self.project, &self.config(strict)).await
    }

    /// `hermes replay ARGS` with this pipeline's emulator; (exit code, stdout, stderr).
    fn replay(&self, strict: bool, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(binary("hermes"))
            .arg("replay")
            .args(args)
            .env("GOOGLE_CLOUD_PROJECT", &self.project)
            .env("PUBSUB_EMULATOR_HOST", self.emu.pubsub_host())
            .env("HERMES_CONFIG_TOML", self.config(strict))
            .env_remove("HERMES_CONFIG")
            .output()
            .expect("hermes replay");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    async fn counter(&self, item: &str) -> i64 {
        let name = format!(
            "projects/{}/databases/(default)/documents/items/{item}",
            self.project
        );
        match self.emu.firestore_get(&name).await {
            Some(doc) => doc["fields"]["counter"]["integerValue"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            None => 0,
        }
    }

    /// Waits until `item`'s counter is `want`, then checks that it stays so.
    async fn expect_counter(&self, item: &str, want: i64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.counter(item).await;
            assert!(got <= want, "{item} counted twice: {got} > {want}");
            if got == want {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{item} never reached {want} (at {got})"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(
            self.counter(item).await,
            want,
            "{item} changed after settling"
        );
    }

    /// Messages waiting on `sub` now, handed back at once (left on it).
    async fn waiting(&self, sub: &str) -> usize {
        let got = self.emu.pull(&self.sub(sub), 100).await;
        let ids: Vec<String> = got.iter().map(|m| m.ack_id.clone()).collect();
        self.emu.nack(&self.sub(sub), &ids).await;
        got.len()
    }

    /// Waits for `n` messages on `sub` (left there).
    async fn expect_waiting(&self, sub: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.waiting(sub).await;
            if got == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{sub}: {got} messages waiting, not {n}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// A purchase of `quantity` × `item`; without `event_id` its identity is
/// random (`r1.…`), so only the identity a bad row keeps can make its replays
/// count once.
fn purchase(event_id: Option<&str>, item: &str, quantity: i64) -> Value {
    let mut event = json!({
        "event_name": "purchase", "currency": "EUR", "value": 10,
        "items": [{"item_id": item, "price": 5, "quantity": quantity}]
    });
    if let Some(id) = event_id {
        event["event_id"] = json!(id);
    }
    json!([event])
}

#[tokio::test]
async fn a_quarantined_event_replayed_after_the_schema_is_fixed_counts_once_however_often() {
    let Some(p) = Pipeline::start("replay-rows", true).await else {
        return;
    };
    let strict = p.ingest(true).await;
    let (status, answer) = strict
        .post("/", &[], &purchase(None, "sku-replay", 3))
        .await;
    assert_eq!(status, 422, "the strict schema refuses it: {answer}");
    p.expect_waiting("quarantine-a", 1).await;
    p.expect_waiting("quarantine-b", 1).await;
    assert_eq!(p.counter("sku-replay").await, 0);

    // Still refused by the strict schema: nothing published, the row stays.
    let (code, out, err) = p.replay(true, &["--subscription", "quarantine-a"]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(
        out.trim(),
        "replayed 0, still failing 1, skipped 0",
        "{err}"
    );
    assert!(err.contains("coupon"), "says why: {err}");
    p.expect_waiting("quarantine-a", 1).await;

    // A dry run with the fixed schema says what would happen, and changes nothing.
    let (code, out, err) = p.replay(false, &["--subscription", "quarantine-a", "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("would pass the schema and be published to: items"),
        "{out}"
    );
    assert!(
        out.trim_end()
            .ends_with("replayed 1, still failing 0, skipped 0"),
        "{out}"
    );
    p.expect_waiting("quarantine-a", 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(p.counter("sku-replay").await, 0, "a dry run published");

    // The schema fixed: replayed, counted once, and the row acknowledged.
    let (code, out, err) = p.replay(false, &["--subscription", "quarantine-a"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.trim(),
        "replayed 1, still failing 0, skipped 0",
        "{err}"
    );
    p.expect_counter("sku-replay", 3, Duration::from_secs(30))
        .await;
    assert_eq!(p.waiting("quarantine-a").await, 0, "acknowledged");

    // The second copy of the same bad row: replayed with the same identity,
    // counted nothing twice.
    let (code, out, err) = p.replay(false, &["--subscription", "quarantine-b", "--max", "5"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.trim(),
        "replayed 1, still failing 0, skipped 0",
        "{err}"
    );
    p.expect_counter("sku-replay", 3, Duration::from_secs(10))
        .await;
    assert_eq!(p.waiting("quarantine-b").await, 0);
}

#[tokio::test]
async fn a_dead_lettered_purchase_replayed_after_recovery_counts_exactly_once() {
    let Some(mut p) = Pipeline::start("replay-dead", false).await else {
        return;
    };
    let ingest = p.ingest(false).await;
    let (status, answer) = ingest
        .post("/", &[], &purchase(Some("order-dead"), "sku-dead", 2))
        .await;
    assert_eq!(status, 200, "{answer}");
    // Counters is down: five failed pushes (about 10 s with the retry policy)
    // dead-letter the purchase.
    p.expect_waiting("items-dead-pull", 1).await;
    let dead = p.emu.pull(&p.sub("items-dead-pull"), 10).await;
    assert_eq!(
        dead[0]
            .attributes
            .get("hermes_event_id")
            .map(String::as_str),
        Some("order-dead")
    );
    assert!(dead[0]
        .attributes
        .contains_key("CloudPubSubDeadLetterSourceSubscription"));
    let ids: Vec<String> = dead.iter().map(|m| m.ack_id.clone()).collect();
    // Handed back for replay to take.
    p.emu.nack(&p.sub("items-dead-pull"), &ids).await;

    // A republish that fails (a topic that does not exist) leaves the message there.
    let (code, out, err) = p.replay(
        false,
        &[
            "--subscription",
            "items-dead-pull",
            "--to-topic",
            "no-such-topic",
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(
        out.trim(),
        "replayed 0, still failing 1, skipped 0",
        "{err}"
    );
    p.expect_waiting("items-dead-pull", 1).await;

    // Recovery: counters up; the dead letter goes back to `items`, its source.
    p.start_counters().await;
    let (code, out, err) = p.replay(false, &["--subscription", "items-dead-pull"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.trim(),
        "replayed 1, still failing 0, skipped 0",
        "{err}"
    );
    p.expect_counter("sku-dead", 2, Duration::from_secs(30))
        .await;
    assert_eq!(p.waiting("items-dead-pull").await, 0, "acknowledged");
    // Nothing left to replay: a second run changes nothing.
    let (code, out, _) = p.replay(false, &["--subscription", "items-dead-pull"]);
    assert_eq!(
        (code, out.trim()),
        (0, "replayed 0, still failing 0, skipped 0")
    );
    p.expect_counter("sku-dead", 2, Duration::from_secs(5))
        .await;
}

#[tokio::test]
async fn a_message_replay_cannot_place_is_skipped_and_stays() {
    let Some(p) = Pipeline::start("replay-skip", false).await else {
        return;
    };
    // Neither a bad row nor a dead letter.
    let resp = p
        .emu
        .http()
        .post(format!(
            "{}/v1/{}:publish",
            p.emu.pubsub_base(),
            p.topic("hermes-quarantine")
        ))
        .json(&json!({"messages": [{"data": "e30=", "attributes": {"origin": "elsewhere"}}]}))
        .send()
        .await
        .expect("publish");
    assert!(resp.status().is_success());
    let (code, out, err) = p.replay(false, &["--subscription", "quarantine-a", "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("skipped: neither a quarantine bad row nor a dead letter"),
        "{out}"
    );
    let (code, out, err) = p.replay(false, &["--subscription", "quarantine-a"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.trim(), "replayed 0, still failing 0, skipped 1");
    p.expect_waiting("quarantine-a", 1).await;
}
