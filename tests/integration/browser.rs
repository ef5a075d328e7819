//! The dashboard in a real browser: `hermes dev` runs on a fresh SQLite file,
//! and the node test in `tests/browser/` (headless Debian Chromium driven by
//! playwright-core) opens `/dashboard`, posts purchases to ingest and checks the
//! open page updates without reload within 2 s. It writes a screenshot to
//! `target/browser/dashboard.png`, or to `docs/dashboard.png` with
//! `HERMES_UPDATE_SCREENSHOT=1`.

use hermes_testkit::ci::skip;
use hermes_testkit::emulator::{free_port, repo_root, Function};
use std::process::Command;

fn ready(path: &std::path::Path, what: &str) -> bool {
    if path.exists() {
        return true;
    }
    skip(format!(
        "{what} ({}) is missing: run scripts/install-browser-tools",
        path.display()
    ));
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_updates_live_in_a_real_browser() {
    let browser_dir = repo_root().join("tests/browser");
    let chromium = std::env::var("HERMES_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !ready(std::path::Path::new(&chromium), "Chromium")
        || !ready(
            &browser_dir.join("node_modules/playwright-core/package.json"),
            "playwright-core",
        )
    {
        return;
    }
    let dir = std::env::temp_dir().join(format!("hermes-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = dir.join("hermes.db").to_string_lossy().into_owned();
    let dev = Function::start_on("hermes", &["dev", "--db", &db], free_port(), &[]).await;
    // Catalog costs for most of the node test's items, so profit shows (one stays unknown).
    let client = reqwest::Client::new();
    for (id, cost) in [
        ("BLZ-001", 640.0),
        ("SHT-014", 170.0),
        ("CHN-220", 260.0),
        ("SNK-310", 410.0),
        ("BLT-045", 95.0),
        ("SCF-102", 120.0),
        ("TEE-501", 70.0),
    ] {
        let r = client
            .put(format!("{}/dev/catalog/{id}", dev.base))
            .body(format!(r#"{{"cost": {cost}, "brand": "Hermes Demo"}}"#))
            .send()
            .await
            .expect("catalog");
        assert_eq!(r.status(), 204);
    }

    let screenshot = if std::env::var_os("HERMES_UPDATE_SCREENSHOT").is_some() {
        repo_root().join("docs/dashboard.png")
    } else {
        let out = repo_root().join("target/browser");
        std::fs::create_dir_all(&out).expect("target/browser");
        out.join("dashboard.png")
    };
    let output = Command::new("node")
        .arg("--test")
        .current_dir(&browser_dir)
        .env("HERMES_DASHBOARD_URL", format!("{}/dashboard", dev.base))
        .env("HERMES_INGEST_URL", format!("{}/", dev.base))
        .env("HERMES_CHROMIUM", &chromium)
        .env("HERMES_SCREENSHOT", &screenshot)
        .output()
        .expect("node runs");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{report}");
    assert!(
        output.status.success(),
        "browser test failed:\n{report}\n--- hermes dev ---\n{}",
        dev.log_text()
    );
    // A test that skipped itself (no browser, no URLs) must not pass as run.
    assert!(
        report.contains("# skipped 0") && report.contains("# fail 0"),
        "{report}"
    );
    assert!(screenshot.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
