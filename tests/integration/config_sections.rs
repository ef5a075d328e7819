//! One configuration file for every function (README, "Configuration"): each
//! binary checks the common keys and its own section, skips the other
//! functions' sections and the user's `[jobs.<name>]` tables unread, and
//! refuses any other table, naming it.

use hermes_testkit::emulator::{binary, free_port, Function};
use std::process::{Command, Stdio};

/// A key no section knows: whoever parsed a section holding it would refuse it.
const FOREIGN: &str = "not_a_key_of_this_function = 1";

/// Every function's section but `own`, each holding [`FOREIGN`], and two jobs of the user's.
fn others(own: &str) -> String {
    let mut text = String::new();
    for section in [
        "counters",
        "dashboard",
        "notify",
        "enrich",
        "quarantine",
        "dev",
    ] {
        if section != own {
            text.push_str(&format!("[{section}]\n{FOREIGN}\n"));
        }
    }
    text.push_str("[jobs.my_job]\nwebhook = \"https://example.com/hook\"\nanything = [1, 2]\n");
    text.push_str("[jobs.first_purchase]\nthreshold = 3\n");
    text
}

fn env<'a>(config: &'a str, nowhere: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("GOOGLE_CLOUD_PROJECT", "hermes-test"),
        ("FIRESTORE_EMULATOR_HOST", nowhere),
        ("PUBSUB_EMULATOR_HOST", nowhere),
        ("HERMES_CONFIG_TOML", config),
        ("HERMES_NOTIFY_WEBHOOK_URL", "http://127.0.0.1:9/hook"),
    ]
}

#[tokio::test]
async fn every_function_starts_beside_the_others_sections_and_the_users_jobs() {
    let nowhere = format!("127.0.0.1:{}", free_port());
    for (name, own, section) in [
        (
            "hermes-ingest",
            "quarantine",
            "[[destinations]]\nname = \"d\"\ntopic = \"items\"\n[quarantine]\ntopic = \"bad-rows\"\n",
        ),
        ("hermes-counters", "counters", "[counters]\nshards = 2\n"),
        ("hermes-dashboard", "dashboard", ""),
        (
            "hermes-notify",
            "notify",
            "[notify]\nevents = ['purchase']\ntemplate = 'x'\n",
        ),
        (
            "hermes-enrich",
            "enrich",
            "[[destinations]]\nname = \"d\"\ntopic = \"items\"\n[enrich]\noutput_topic = \"enriched\"\n",
        ),
    ] {
        let config = format!("{section}{}", others(own));
        // `start` waits for `GET /healthz`: a function that refused to start fails here.
        let function = Function::start(name, &env(&config, &nowhere)).await;
        let health = reqwest::get(format!("{}/healthz", function.base))
            .await
            .expect("GET /healthz");
        assert_eq!(health.status(), 200, "{name}: {}", function.log_text());
    }
}

/// The binary's exit and what it printed, started with `config`.
fn run(name: &str, config: &str) -> (bool, String) {
    let nowhere = format!("127.0.0.1:{}", free_port());
    let mut cmd = Command::new(binary(name));
    for var in ["HERMES_CONFIG", "AWS_LAMBDA_RUNTIME_API", "HERMES_HASH_KEY"] {
        cmd.env_remove(var);
    }
    cmd.envs(env(config, &nowhere))
        .env("PORT", "0")
        .stdin(Stdio::null());
    let out = cmd.output().expect("the binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn a_misspelt_section_stops_every_function_naming_it() {
    for name in [
        "hermes-ingest",
        "hermes-counters",
        "hermes-dashboard",
        "hermes-notify",
        "hermes-enrich",
    ] {
        let (ok, text) = run(name, "[countres]\nshards = 2\n");
        assert!(!ok, "{name} started with [countres]: {text}");
        assert!(text.contains("countres"), "{name}: {text}");
    }
    // A job's tables sit under `[jobs.<name>]`, never as plain values.
    let (ok, text) = run("hermes-ingest", "jobs = 5\n");
    assert!(!ok, "started with jobs = 5: {text}");
    assert!(text.contains("jobs"), "{text}");
}

#[test]
fn an_unknown_key_in_a_functions_own_section_is_named() {
    let (ok, text) = run("hermes-counters", &format!("[counters]\n{FOREIGN}\n"));
    assert!(!ok, "started: {text}");
    assert!(text.contains("not_a_key_of_this_function"), "{text}");
    let (ok, text) = run(
        "hermes-enrich",
        &format!("[enrich]\noutput_topic = \"enriched\"\n{FOREIGN}\n"),
    );
    assert!(!ok, "started: {text}");
    assert!(text.contains("not_a_key_of_this_function"), "{text}");
}

/// `hermes dev` refuses an enrich that would read its own output.
#[test]
fn hermes_dev_refuses_enrich_reading_its_own_output() {
    let config = "[[destinations]]\nname = \"d\"\ntopic = \"events\"\n\
                  [enrich]\noutput_topic = \"enriched\"\n[dev]\nenrich_topics = [\"enriched\"]\n";
    let dir = std::env::temp_dir().join(format!("hermes-dev-loop-{}", std::process::id()));
    let db = dir.join("hermes.db").to_string_lossy().into_owned();
    let nowhere = format!("127.0.0.1:{}", free_port());
    let mut cmd = Command::new(binary("hermes"));
    cmd.args(["dev", "--db", &db])
        .env_remove("HERMES_CONFIG")
        .env_remove("PUBSUB_EMULATOR_HOST")
        .env_remove("FIRESTORE_EMULATOR_HOST")
        .env("HERMES_CONFIG_TOML", config)
        .env("PORT", "0")
        .env("GOOGLE_CLOUD_PROJECT", "hermes-test")
        .env("HERMES_NOTIFY_WEBHOOK_URL", &nowhere)
        .stdin(Stdio::null());
    let out = cmd.output().expect("hermes runs");
    let _ = std::fs::remove_dir_all(dir);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started: {text}");
    assert!(text.contains("dev.enrich_topics"), "{text}");
}
