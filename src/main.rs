//! `hermes`: the command line.
//! - `hermes dev` runs the whole pipeline on one machine (see `dev.rs`).
//! - `hermes validate FILE|-` checks a payload offline against the configured schema
//!   and destinations, printing each error with its path.

use hermes_core::config::Config;
use hermes_ingest::{parse_events, process, response};
use std::io::Read;
use std::process::ExitCode;

mod dev;

const USAGE: &str = "usage:
  hermes dev [--port N] [--db FILE] [--host IP]
                           run the whole pipeline on one port: ingest at POST /, the
                           dashboard at /dashboard, an embedded SQLite queue and counter
                           store (default ./hermes-data/hermes.db); HERMES_CONFIG or a
                           built-in sample that counts the items of every event;
                           listens on 127.0.0.1 unless --host says otherwise
  hermes validate FILE|-   check a JSON array of events (from a file or stdin) against the
                           schema and destinations of HERMES_CONFIG / HERMES_CONFIG_TOML
                           (Common Event Data when neither is set); exit 1 on any error";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("dev") {
        return run_dev(&args[1..]).await;
    }
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
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
    hermes_core::logging::init_with_default("warn");
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

async fn validate(path: &str) -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hermes: {e}");
            return ExitCode::from(2);
        }
    };
    let mut bytes = Vec::new();
    let read = if path == "-" {
        std::io::stdin().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::read(path).map(|b| bytes = b)
    };
    if let Err(e) = read {
        eprintln!("hermes: cannot read {path}: {e}");
        return ExitCode::from(2);
    }
    let events = match parse_events(&bytes, config.limits.max_events) {
        Ok(events) => events,
        Err(e) => {
            let (_, body) = response::from_error(&config.container_id, &e);
            println!("{}", body.error);
            return ExitCode::FAILURE;
        }
    };
    let report = process::process(&config, None, &events, process::RequestContext::default()).await;
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
