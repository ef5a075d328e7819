//! CI detection and skips that cannot go unnoticed.
//!
//! A test whose peer is missing (a tool, the emulator, Chromium) calls [`skip`] and
//! returns. Under CI that is a failure; elsewhere the test passes, but the skip is
//! written where `scripts/test` reads it back for its closing summary, because the
//! test's own output is captured and never shown for a passing test.

use std::fmt::Display;
use std::io::Write;
use std::path::PathBuf;

/// The variable naming the file skips are appended to (`scripts/test` sets it).
pub const SKIP_LOG_VAR: &str = "HERMES_SKIP_LOG";

/// `CI` is set, and not to "", "false" or "0".
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Where skips are recorded: `$HERMES_SKIP_LOG`, else `test-skips.txt` in the
/// workspace's target directory.
pub fn skip_log() -> PathBuf {
    match std::env::var_os(SKIP_LOG_VAR) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => crate::paths::target_dir().join("test-skips.txt"),
    }
}

/// The running test's name: libtest runs each test on a thread named after it.
fn current_test() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_string()
}

/// The calling test cannot run, for `reason`; the caller returns right after.
///
/// Under CI this panics with the reason: a missing peer is a failure there.
/// Otherwise it prints `SKIP <test>: <reason>` to stderr and appends the same line
/// to [`skip_log`].
pub fn skip(reason: impl Display) {
    let test = current_test();
    if in_ci() {
        panic!("{test} cannot run under CI: {reason}");
    }
    let line = format!("SKIP {test}: {reason}");
    eprintln!("{line}");
    let path = skip_log();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // One write of one line: concurrent tests append whole lines.
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
    if let Err(e) = written {
        eprintln!("cannot record the skip in {}: {e}", path.display());
    }
}
