//! The dashboard and the preview inspector in a real browser: `hermes dev`
//! runs on a fresh SQLite file, and the node tests in `tests/browser/`
//! (headless Debian Chromium driven by playwright-core) open `/dashboard`
//! (posting purchases to ingest, the open page updates without reload within
//! 2 s) and `/dashboard/preview` (a copied curl shows live). Each writes a
//! screenshot to `target/browser/`, or to `docs/` with `HERMES_UPDATE_SCREENSHOT=1`.

use hermes_testkit::ci::skip;
use hermes_testkit::emulator::{free_port, repo_root, Function};
use std::process::Command;

/// Chromium and playwright-core, or a skip: the browser directory and the browser.
fn browser_tools() -> Option<(std::path::PathBuf, String)> {
    let browser_dir = repo_root().join("tests/browser");
    let chromium = std::env::var("HERMES_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let ok = ready(std::path::Path::new(&chromium), "Chromium")
        && ready(
            &browser_dir.join("node_modules/playwright-core/package.json"),
            "playwright-core",
        );
    ok.then_some((browser_dir, chromium))
}

/// Where a test's screenshot goes: `docs/NAME` with `HERMES_UPDATE_SCREENSHOT=1`,
/// else `target/browser/NAME`.
fn screenshot_path(name: &str) -> std::path::PathBuf {
    if std::env::var_os("HERMES_UPDATE_SCREENSHOT").is_some() {
        repo_root().join("docs").join(name)
    } else {
        let out = repo_root().join("target/browser");
        std::fs::create_dir_all(&out).expect("target/browser");
        out.join(name)
    }
}

/// Runs one node test file; fails unless it ran (no skip) and passed.
fn node_test(
    browser_dir: &std::path::Path,
    file: &str,
    env: &[(&str, &str)],
    log: &dyn Fn() -> String,
) {
    let output = Command::new("node")
        .args(["--test", file])
        .current_dir(browser_dir)
        .envs(env.iter().copied())
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
        log()
    );
    // A test that skipped itself (no browser, no URLs) must not pass as run.
    assert!(
        report.contains("# skipped 0") && report.contains("# fail 0"),
        "{report}"
    );
}

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
    let Some((browser_dir, chromium)) = browser_tools() else {
        return;
    };
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

    let screenshot = screenshot_path("dashboard.png");
    let dashboard = format!("{}/dashboard", dev.base);
    let ingest = format!("{}/", dev.base);
    let shot = screenshot.to_string_lossy().into_owned();
    node_test(
        &browser_dir,
        "dashboard.test.mjs",
        &[
            ("HERMES_DASHBOARD_URL", dashboard.as_str()),
            ("HERMES_INGEST_URL", ingest.as_str()),
            ("HERMES_CHROMIUM", chromium.as_str()),
            ("HERMES_SCREENSHOT", shot.as_str()),
        ],
        &|| dev.log_text(),
    );
    assert!(screenshot.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The preview inspector: `hermes dev` with two destinations (one whose tag
/// fails on a bad quantity) and both token kinds; the node test copies the
/// page's curl, sends it through a shell with the preview token, and checks
/// the request on the open page (`tests/browser/preview.test.mjs`). Its
/// screenshot is `docs/preview-inspector.png` with `HERMES_UPDATE_SCREENSHOT=1`.
#[tokio::test(flavor = "multi_thread")]
async fn preview_inspector_shows_a_copied_curl_live_in_a_real_browser() {
    let Some((browser_dir, chromium)) = browser_tools() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("hermes-browser-preview-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = dir.join("hermes.db").to_string_lossy().into_owned();
    let config = r#"
container_id = "hermes-dev"
[[destinations]]
name = "items-realtime"
topic = "items-realtime"
require = ["items"]
[[destinations]]
name = "ads"
topic = "ads-conversions"
events = ["purchase"]
[destinations.mapping]
transaction_id = "transaction_id"
value_num = "value"
quantity_int = "items.0.quantity"
email = "user_data.email_address"
"#;
    let preview_token = "preview-browser-token";
    let dev = Function::start_on(
        "hermes",
        &["dev", "--db", &db],
        free_port(),
        &[
            ("HERMES_CONFIG_TOML", config),
            ("HERMES_BEARER_TOKEN", "production-browser-token"),
            ("HERMES_PREVIEW_BEARER_TOKEN", preview_token),
        ],
    )
    .await;
    let screenshot = screenshot_path("preview-inspector.png");
    let url = format!("{}/dashboard/preview", dev.base);
    let shot = screenshot.to_string_lossy().into_owned();
    node_test(
        &browser_dir,
        "preview.test.mjs",
        &[
            ("HERMES_PREVIEW_URL", url.as_str()),
            ("HERMES_PREVIEW_BEARER_TOKEN", preview_token),
            ("HERMES_CHROMIUM", chromium.as_str()),
            ("HERMES_SCREENSHOT", shot.as_str()),
        ],
        &|| dev.log_text(),
    );
    assert!(screenshot.exists());
    let _ = std::fs::remove_dir_all(&dir);
}
