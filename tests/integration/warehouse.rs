//! `hermes schema bigquery` (README, "The warehouse"), the real binary: for
//! examples/hermes.toml it prints exactly the committed golden schemas
//! (tests/warehouse/), and anything that leaves nothing to print is one line
//! on stderr and exit 2. (The types themselves, and the messages ingest
//! publishes against them, are unit tests of src/bigquery/.)

use hermes_testkit::emulator::binary;
use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `hermes schema bigquery ARGS` under the configuration text `config`.
fn schema(args: &[&str], config: &str) -> Output {
    Command::new(binary("hermes"))
        .args(["schema", "bigquery"])
        .args(args)
        .env("HERMES_CONFIG_TOML", config)
        .env_remove("HERMES_CONFIG")
        .env_remove("GOOGLE_CLOUD_PROJECT")
        .env_remove("HERMES_HASH_KEY")
        .output()
        .expect("hermes runs")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_examples_print_the_golden_schemas() {
    let example = read("examples/hermes.toml");
    let enrich = example.clone() + &read("tests/warehouse/enrich.toml");
    for (args, config, golden) in [
        (vec!["--destination", "events"], &example, "events"),
        (
            vec!["--destination", "items-realtime"],
            &example,
            "items-realtime",
        ),
        (
            vec!["--destination", "ga4-user-data"],
            &example,
            "ga4-user-data",
        ),
        // hmac paths, without HERMES_HASH_KEY: a digest is a string either way.
        (
            vec!["--destination", "bigquery-archive"],
            &example,
            "bigquery-archive",
        ),
        (vec!["--quarantine"], &example, "quarantine"),
        (vec!["--enrich"], &enrich, "enriched"),
    ] {
        let out = schema(&args, config);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            read(&format!("tests/warehouse/{golden}.json")),
            "{args:?}"
        );
    }
}

#[test]
fn what_leaves_nothing_to_print_exits_2_with_one_line() {
    let example = read("examples/hermes.toml");
    for (args, config, says) in [
        (
            vec!["--destination", "nope"],
            example.as_str(),
            "unknown destination \"nope\" (the configuration's destinations: events, \
             items-realtime, ga4-user-data, bigquery-archive)",
        ),
        (vec!["--enrich"], example.as_str(), "no [enrich] section"),
        (vec!["--destination", "events"], "container_id = 5", "container_id"),
        (
            vec!["--destination", "m"],
            "[[destinations]]\nname = \"m\"\ntopic = \"mapped\"\n[destinations.mapping]\n\"a-b\" = \"x\"\n",
            "`a-b` cannot be a BigQuery column",
        ),
    ] {
        let out = schema(&args, config);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("hermes schema: "), "{stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // A wrong call: the usage follows the line.
    let out = schema(&["--quarantine", "--enrich"], &example);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage:"));
}
