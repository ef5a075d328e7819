//! `hermes`: the command line.
//! - `hermes dev` runs the whole pipeline on one machine (see `dev.rs`).
//! - `hermes replay --subscription SUB` sends quarantined events and dead
//!   letters on again (see `replay.rs`).
//! - `hermes validate FILE|-` checks a payload offline against the configured schema
//!   and destinations, printing each error with its path.
//! - `hermes validate --payloads FILE|-` prints, per event, what each destination
//!   would receive (after its transforms), as decoded JSON.
//! - `hermes schema bigquery --destination NAME | --quarantine | --enrich` prints
//!   the BigQuery table schema of what lands in the warehouse (see `bigquery/`).

use hermes_core::config::Config;
use hermes_core::json::{Elements, Json};
use hermes_ingest::{parse_events, process, response};
use serde_json::{json, Value};
use std::io::Read;
use std::process::ExitCode;

mod bigquery;
mod dev;
mod replay;

const USAGE: &str = concat!(
    "usage:
  hermes dev [--port N] [--db FILE] [--host IP]
                           run the whole pipeline on one port: ingest at POST /, the
                           dashboard at /dashboard, an embedded SQLite queue and counter
                           store (default ./hermes-data/hermes.db); HERMES_CONFIG or a
                           built-in sample that counts the items of every event;
                           listens on 127.0.0.1 unless --host says otherwise
  hermes validate FILE|-   check a JSON array of events (from a file or stdin) against the
                           schema and destinations of HERMES_CONFIG / HERMES_CONFIG_TOML
                           (Common Event Data when neither is set); exit 1 on any error
  hermes validate --payloads FILE|-
                           print, per event, what each destination would receive (its
                           payload after transforms, decoded, and attributes) or why it
                           does not trigger, as JSON; exit 1 on any error
",
    "  hermes replay --subscription SUB [--max N] [--dry-run] [--to-topic TOPIC]
                           send the messages of a Pub/Sub subscription on again: quarantine
                           bad rows through the current HERMES_CONFIG with their original
                           hermes_event_id, dead letters to the topic they came from (or
                           TOPIC); acknowledges only what was republished; prints one
                           summary line; exit 1 when some still fail
",
    "  hermes schema bigquery --destination NAME | --quarantine | --enrich [--destination NAME]
                           print the BigQuery table schema (a JSON array, as bq mk --schema
                           and Terraform take it) of what destination NAME publishes, of the
                           quarantine's bad rows, or of the enriched events (whole events, or
                           destination NAME's, plus [enrich]'s fields), with the metadata
                           columns of a BigQuery subscription; HERMES_CONFIG /
                           HERMES_CONFIG_TOML as for validate"
);

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("dev") => return run_dev(&args[1..]).await,
        Some("replay") => return run_replay(&args[1..]).await,
        Some("schema") => return run_schema(&args[1..]),
        _ => {}
    }
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["validate", "--payloads", path] => payloads(path),
        ["validate", path] => validate(path).await,
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

async fn run_dev(args: &[String]) -> ExitCode {
    // Quieter than the functions: per-request lines are noise on a terminal.
    hermes_runtime::logging::init_with_default("warn");
    let result = match dev::Options::parse(args) {
        Ok(options) => dev::run(options).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hermes dev: {}", hermes_core::error::Report(&e));
            ExitCode::FAILURE
        }
    }
}

async fn run_replay(args: &[String]) -> ExitCode {
    hermes_runtime::logging::init_with_default("warn");
    let result = match replay::Options::parse(args) {
        Ok(options) => replay::run(options).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(summary) if summary.still_failing == 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("hermes replay: {}", hermes_core::error::Report(&e));
            if matches!(e, replay::ReplayError::Usage(_)) {
                eprintln!("{USAGE}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}

/// `hermes schema bigquery …`: the table schema on stdout; exit 2 with one
/// line on stderr for anything that leaves nothing to print.
fn run_schema(args: &[String]) -> ExitCode {
    let table = match args.split_first() {
        Some((kind, rest)) if kind == "bigquery" => bigquery::parse_args(rest),
        _ => Err("the only schema is `bigquery`".to_string()),
    };
    let table = match table {
        Ok(table) => table,
        Err(e) => {
            eprintln!("hermes schema: {e}");
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    // The types need no HERMES_HASH_KEY (an `hmac` value is a digest string
    // either way) and no project (topic names are not in a table's schema).
    let config = match Config::from_env_for_shape("project") {
        Ok(config) => config,
        Err(e) => {
            eprintln!("hermes schema: {e}");
            return ExitCode::from(2);
        }
    };
    match bigquery::schema(&config, &table) {
        Ok(columns) => {
            println!("{}", bigquery::render(&columns));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hermes schema: {e}");
            ExitCode::from(2)
        }
    }
}

/// The configuration and the payload file (or stdin) of `hermes validate`;
/// `Err` is the exit code after the error was printed.
fn load(path: &str) -> Result<(Config, Vec<u8>), ExitCode> {
    let config = Config::from_env().map_err(|e| {
        eprintln!("hermes: {e}");
        ExitCode::from(2)
    })?;
    // At most what ingest would take (`max_body_bytes`), one byte more to tell.
    let limit = config.max_body_bytes;
    let mut bytes = Vec::new();
    let read = if path == "-" {
        std::io::stdin()
            .take(limit as u64 + 1)
            .read_to_end(&mut bytes)
            .map(|_| ())
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(limit as u64 + 1).read_to_end(&mut bytes))
            .map(|_| ())
    };
    if let Err(e) = read {
        eprintln!("hermes: cannot read {path}: {e}");
        return Err(ExitCode::from(2));
    }
    if bytes.len() > limit {
        // What ingest answers with 413: the payload is the problem, not the call.
        println!(
            "{path}: larger than max_body_bytes ({limit} bytes): ingest would refuse it (413)"
        );
        return Err(ExitCode::FAILURE);
    }
    Ok((config, bytes))
}

/// The file's events, or the exit code after saying why not.
fn parse_or_exit<'b>(config: &Config, bytes: &'b [u8]) -> Result<Elements<'b>, ExitCode> {
    parse_events(bytes, config.limits.max_events).map_err(|e| {
        let (_, body) = response::from_error(&config.container_id, &e);
        println!("{}", body.error);
        ExitCode::FAILURE
    })
}

/// `hermes validate --payloads`: per event, each destination's decoded message
/// (after its transforms), or why it does not trigger, or why it fails.
fn payloads(path: &str) -> ExitCode {
    let (config, bytes) = match load(path) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let bytes = bytes::Bytes::from(bytes);
    let events = match parse_or_exit(&config, &bytes) {
        Ok(events) => events.items,
        Err(code) => return code,
    };
    let mut ok = true;
    let mut out = Vec::with_capacity(events.len());
    for (i, element) in events.iter().enumerate() {
        let event = &element.value;
        let mut errors = Vec::new();
        let mut destinations = Vec::new();
        if config
            .schema
            .check_element(element, i, &mut errors, usize::MAX)
            .passed
        {
            let id = process::event_identity(&config, element, i, None);
            for dest in &config.destinations {
                let trigger = dest.trigger(event);
                let entry = if !trigger.fired() {
                    json!({"name": dest.name, "triggered": false, "reason": trigger.to_string()})
                } else {
                    match dest.encode(element, &bytes, &id, Default::default()) {
                        Ok(message) => json!({
                            "name": dest.name,
                            "triggered": true,
                            "payload": hermes_core::json::to_value(&message.data)
                                .unwrap_or(Value::Null),
                            "attributes": message.attributes.iter()
                                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                                .collect::<serde_json::Map<_, _>>(),
                        }),
                        Err(e) => {
                            ok = false;
                            json!({"name": dest.name, "triggered": true, "error": e.to_string()})
                        }
                    }
                };
                destinations.push(entry);
            }
        } else {
            ok = false;
        }
        out.push(json!({
            "index": i,
            "event_name": event.get("event_name").map(Json::to_value).unwrap_or(Value::Null),
            "errors": errors.iter().map(|e| e.message.clone()).collect::<Vec<_>>(),
            "destinations": destinations,
        }));
    }
    match serde_json::to_string_pretty(&out) {
        Ok(text) => println!("{text}"),
        Err(e) => {
            eprintln!("hermes: {e}");
            return ExitCode::from(2);
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn validate(path: &str) -> ExitCode {
    let (config, bytes) = match load(path) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let bytes = bytes::Bytes::from(bytes);
    let events = match parse_or_exit(&config, &bytes) {
        Ok(events) => events.items,
        Err(code) => return code,
    };
    let report = process::process(
        &config,
        None,
        &events,
        &bytes,
        process::RequestContext::default(),
    )
    .await;
    let (status, body) = response::from_report(&config.container_id, report);
    for e in &body.errors {
        let code = serde_json::to_string(&e.code).unwrap_or_default();
        println!("{} [{}]", e.message, code.trim_matches('"'));
    }
    for t in &body.failed_tags {
        println!(
            "events[{}]: destination \"{}\": {}",
            t.event_index,
            t.tag_info.name,
            t.tag_info.error.as_deref().unwrap_or("failed")
        );
    }
    let valid = events.len() - body.invalid_schema_events.len();
    println!(
        "{} of {} events valid, {} destination failures (status {})",
        valid,
        events.len(),
        body.failed_tags.len(),
        status.as_u16()
    );
    if status.is_success() && body.failed_tags.is_empty() && body.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
