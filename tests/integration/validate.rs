//! `hermes validate FILE|-` (README, "Running ingest on its own"): the events
//! of a file or of stdin checked against the configured schema and
//! destinations, each error printed with its path and code; exit 0 when every
//! event is valid and every destination would publish, 1 when the payload has
//! a problem, 2 when the command cannot run (no file, a bad configuration, a
//! wrong call).

use hermes_testkit::emulator::binary;
use std::io::Write;
use std::process::{Command, Output, Stdio};

const CONFIG: &str = r#"
max_body_bytes = 2000
[[destinations]]
name = "typed"
topic = "typed"
[destinations.mapping]
q_int = "q"
"#;

/// `hermes validate` with `args`, `stdin` piped in, under `config`.
fn validate(args: &[&str], stdin: &[u8], config: &str) -> Output {
    let mut child = Command::new(binary("hermes"))
        .arg("validate")
        .args(args)
        .env("HERMES_CONFIG_TOML", config)
        .env("GOOGLE_CLOUD_PROJECT", "p-1")
        .env_remove("HERMES_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hermes runs");
    let mut input = child.stdin.take().expect("stdin");
    // The command may stop reading early (an oversized payload): ignore EPIPE.
    let _ = input.write_all(stdin);
    drop(input);
    child.wait_with_output().expect("hermes ends")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_valid_file_exits_0() {
    let dir = std::env::temp_dir().join(format!("hermes-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("events.json");
    std::fs::write(&file, r#"[{"event_name":"a","q":"3"},{"event_name":"b"}]"#).expect("write");
    let out = validate(&[file.to_str().expect("utf-8 path")], b"", CONFIG);
    let _ = std::fs::remove_dir_all(&dir);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!(
        stdout.trim(),
        "2 of 2 events valid, 0 destination failures (status 200)"
    );
}

#[test]
fn errors_from_stdin_are_printed_with_path_and_code_and_exit_1() {
    let body = br#"[{"event_name":5},{"event_name":"a","q":"x"},{"event_name":"ok"}]"#;
    let out = validate(&["-"], body, CONFIG);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[0].contains("event_name") && lines[0].ends_with("[type]"),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("events[1]: destination \"typed\":"),
        "{stdout}"
    );
    assert_eq!(
        lines[2],
        "2 of 3 events valid, 1 destination failures (status 206)"
    );
}

#[test]
fn payload_problems_exit_1() {
    // Not JSON: the answer ingest would give, with line and column.
    let out = validate(&["-"], b"[{\"event_name\": }", CONFIG);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("line 1"), "{stdout}");
    // Larger than ingest takes: said, not read whole.
    let big = format!(r#"[{{"event_name":"{}"}}]"#, "x".repeat(5_000));
    let out = validate(&["-"], big.as_bytes(), CONFIG);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("max_body_bytes"), "{stdout}");
}

#[test]
fn a_command_that_cannot_run_exits_2() {
    // No such file.
    let out = validate(&["/nonexistent/events.json"], b"", CONFIG);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("cannot read"), "{stderr}");
    // A configuration that does not parse names its key.
    let out = validate(&["-"], b"[]", "[countres]\nshards = 2\n");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("countres"), "{stderr}");
    // No file named at all: the usage.
    let out = validate(&[], b"", CONFIG);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("usage:"), "{stderr}");
}
