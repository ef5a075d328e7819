//! `hermes dev`: the whole pipeline on one port with the embedded SQLite queue
//! and store — a kill -9 in the middle of a stream loses nothing answered and
//! counts nothing twice; poison messages end dead-lettered after 5 attempts.

use hermes_testkit::emulator::{free_port, get_json, Emulator, Function};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
[[destinations]]
name = "items-realtime"
topic = "items-realtime"
require = ["items"]
[dev]
retry_min_ms = 20
retry_max_ms = 100
"#;

fn data_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hermes-dev-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("data dir");
    dir
}

async fn start(db: &Path, port: u16) -> Function {
    let db = db.to_string_lossy().into_owned();
    Function::start_on(
        "hermes",
        &["dev", "--db", &db],
        port,
        &[("HERMES_CONFIG_TOML", CONFIG)],
    )
    .await
}

/// Waits until the queue has delivered everything it holds.
async fn drained(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stats = get_json(&format!("{base}/dev/queue")).await;
        if stats["pending"] == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "queue not drained: {stats}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn counter(base: &str, item: &str) -> i64 {
    let items = get_json(&format!("{base}/dashboard/api/items")).await;
    items["items"]
        .as_array()
        .and_then(|list| list.iter().find(|i| i["item_id"] == item))
        .and_then(|i| i["counter"].as_i64())
        .unwrap_or(0)
}

fn purchase(item: &str) -> String {
    json!([{"event_name": "purchase", "items": [{"item_id": item, "item_name": "Crash test", "price": 1, "quantity": 1}]}]).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_mid_stream_loses_nothing_answered_and_counts_nothing_twice() {
    let dir = data_dir("crash");
    let db = dir.join("hermes.db");
    let port = free_port();
    let mut dev = start(&db, port).await;
    let base = dev.base.clone();

    let answered = Arc::new(AtomicUsize::new(0));
    let unanswered = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut senders = Vec::new();
    for _ in 0..4 {
        let (client, base, answered, unanswered) = (
            client.clone(),
            base.clone(),
            answered.clone(),
            unanswered.clone(),
        );
        senders.push(tokio::spawn(async move {
            // Bounded: at most 2,000 requests per sender.
            for _ in 0..2000 {
                let result = client
                    .post(format!("{base}/"))
                    .header("content-type", "application/json")
                    .body(purchase("crash"))
                    .send()
                    .await;
                match result {
                    Ok(r) if r.status() == 200 => {
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(r) => panic!("unexpected status {}", r.status()),
                    // The process died with this request in flight.
                    Err(_) => {
                        unanswered.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                }
            }
        }));
    }
    // Let the stream run, deliveries included, then kill without warning.
    while answered.load(Ordering::SeqCst) < 150 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    dev.proc.child.kill().expect("kill -9");
    let _ = dev.proc.child.wait();
    for s in senders {
        s.await.expect("sender");
    }
    let answered = answered.load(Ordering::SeqCst);
    let in_flight = unanswered.load(Ordering::SeqCst);
    assert!(in_flight <= 4);

    let dev = start(&db, port).await;
    drained(&dev.base).await;
    let counted = counter(&dev.base, "crash").await as usize;
    eprintln!("{answered} answered 200 before the kill, {in_flight} in flight, {counted} counted after restart");
    assert!(
        counted >= answered,
        "lost answered requests: {answered} answered 200, {counted} counted"
    );
    assert!(
        counted <= answered + in_flight,
        "counted twice: {answered} answered + {in_flight} in flight, {counted} counted"
    );
    let dead = get_json(&format!("{}/dev/dead-letters", dev.base)).await;
    assert_eq!(dead["deadLetters"], json!([]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_is_dead_lettered_after_5_attempts_and_visible() {
    let dir = data_dir("dead-letter");
    let dev = start(&dir.join("hermes.db"), free_port()).await;
    let client = reqwest::Client::new();
    let poison = json!([{"event_name": "purchase", "items": [{"item_name": "no id"}]}]).to_string();
    let r = client
        .post(format!("{}/", dev.base))
        .header("content-type", "application/json")
        .body(poison)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "ingest accepts it: the schema does not look into items"
    );
    // The dev catalog gives the healthy item a cost, so profit shows.
    let r = client
        .put(format!("{}/dev/catalog/healthy", dev.base))
        .body(r#"{"cost": 0.25, "brand": "Acme"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = client
        .post(format!("{}/", dev.base))
        .body(purchase("healthy"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let deadline = Instant::now() + Duration::from_secs(20);
    let dead = loop {
        let dead = get_json(&format!("{}/dev/dead-letters", dev.base)).await;
        if dead["deadLetters"]
            .as_array()
            .is_some_and(|d| !d.is_empty())
        {
            break dead;
        }
        assert!(
            Instant::now() < deadline,
            "not dead-lettered in time: {}",
            dev.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let letter = &dead["deadLetters"][0];
    assert_eq!(letter["attempts"], 5);
    assert!(
        letter["lastError"].as_str().unwrap().contains("item_id"),
        "{letter}"
    );
    assert!(letter["data"].as_str().unwrap().contains("no id"));
    // The poison message did not block the healthy one.
    assert_eq!(counter(&dev.base, "healthy").await, 1);
    let items = get_json(&format!("{}/dashboard/api/items", dev.base)).await;
    let healthy = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item_id"] == "healthy")
        .unwrap()
        .clone();
    assert_eq!(
        (healthy["profit"]["XXX"].as_f64(), healthy["brand"].as_str()),
        (Some(0.75), Some("Acme")),
        "{healthy}"
    );
    let stats = get_json(&format!("{}/dev/queue", dev.base)).await;
    assert_eq!(
        (stats["pending"].as_i64(), stats["dead"].as_i64()),
        (Some(0), Some(1))
    );
    // And the terminal saw it.
    let warnings = dev.log_lines("WARNING");
    assert!(
        warnings.iter().any(|w| w["message"]
            .as_str()
            .unwrap_or("")
            .contains("dead-lettered")),
        "{warnings:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_emulators_set_it_uses_them_instead() {
    let Some(emu) = Emulator::start().await else {
        return;
    };
    let dir = data_dir("emulators");
    let db = dir.join("hermes.db").to_string_lossy().into_owned();
    let project = format!("dev-emulators-{}", std::process::id());
    let dev = Function::start_on(
        "hermes",
        &["dev", "--db", &db],
        free_port(),
        &[
            ("GOOGLE_CLOUD_PROJECT", &project),
            ("PUBSUB_EMULATOR_HOST", emu.pubsub_host()),
            ("FIRESTORE_EMULATOR_HOST", emu.firestore_host()),
        ],
    )
    .await;
    let r = reqwest::Client::new()
        .post(format!("{}/", dev.base))
        .body(purchase("via-emulators"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The emulator pushed to hermes dev's /counters/, which wrote to the emulator's Firestore.
    let name = format!("projects/{project}/databases/(default)/documents/items/via-emulators");
    let deadline = Instant::now() + Duration::from_secs(15);
    while emu.firestore_get(&name).await.is_none() {
        assert!(
            Instant::now() < deadline,
            "not counted in the Firestore emulator:\n{}",
            dev.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        counter(&dev.base, "via-emulators").await,
        1,
        "the dashboard reads the emulator too"
    );
    // The push endpoint is not where anyone could guess it: only the subscription knows.
    let planted = reqwest::Client::new()
        .post(format!("{}/counters", dev.base))
        .body(
            hermes_testkit::samples::push_envelope(
                "1",
                &json!({"items": [{"item_id": "via-emulators"}]}),
                json!({}),
            )
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(planted.status(), 404);
    // No embedded queue in this mode, and no SQLite file was needed.
    assert_eq!(
        reqwest::get(format!("{}/dev/queue", dev.base))
            .await
            .unwrap()
            .status(),
        404
    );
    assert!(!dir.join("hermes.db").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// With a production token configured, nothing reachable from outside can make
/// a published event vanish or count twice: there is no push endpoint to plant
/// or acknowledge messages through, and every `/dev/*` route wants the token.
#[tokio::test(flavor = "multi_thread")]
async fn pushes_from_outside_cannot_make_a_published_event_vanish() {
    const TOKEN: &str = "dev-secret";
    let dir = data_dir("outside");
    let db = dir.join("hermes.db").to_string_lossy().into_owned();
    let dev = Function::start_on(
        "hermes",
        &["dev", "--db", &db],
        free_port(),
        &[
            ("HERMES_CONFIG_TOML", CONFIG),
            ("HERMES_BEARER_TOKEN", TOKEN),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let bearer = format!("Bearer {TOKEN}");
    // Planted pushes, as an attacker would send them, before and after a real purchase.
    let plant = |id: &str| {
        let envelope = hermes_testkit::samples::push_envelope(
            id,
            &json!({"items": [{"item_id": "guarded", "quantity": 100}]}),
            json!({}),
        );
        let http = http.clone();
        let base = dev.base.clone();
        async move {
            for path in ["/counters", "/counters/", "/counters/x"] {
                let r = http
                    .post(format!("{base}{path}"))
                    .header("content-type", "application/json")
                    .body(envelope.to_string())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 404, "{path}");
            }
        }
    };
    plant("1").await;
    plant("2").await;
    let r = http
        .post(format!("{}/", dev.base))
        .header("authorization", &bearer)
        .body(purchase("guarded"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    plant("3").await;

    for (method, path) in [
        ("GET", "/dev/queue"),
        ("GET", "/dev/dead-letters"),
        ("PUT", "/dev/catalog/guarded"),
    ] {
        let req = |auth: Option<&str>| {
            let mut r = http.request(method.parse().unwrap(), format!("{}{path}", dev.base));
            if let Some(a) = auth {
                r = r.header("authorization", a);
            }
            r.body(r#"{"cost": 1}"#).send()
        };
        assert_eq!(req(None).await.unwrap().status(), 401, "{method} {path}");
        assert_eq!(
            req(Some("Bearer wrong")).await.unwrap().status(),
            401,
            "{method} {path}"
        );
        let ok = req(Some(&bearer)).await.unwrap().status();
        assert!(ok.is_success(), "{method} {path}: {ok}");
    }

    // The purchase is counted once, and nothing planted counted.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stats: Value = http
            .get(format!("{}/dev/queue", dev.base))
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if stats["pending"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "queue not drained: {stats}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(counter(&dev.base, "guarded").await, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_quantities_are_poison_and_the_dashboard_keeps_answering() {
    let dir = data_dir("huge");
    let dev = start(&dir.join("hermes.db"), free_port()).await;
    let client = reqwest::Client::new();
    let post = |body: String| {
        let request = client
            .post(format!("{}/", dev.base))
            .header("content-type", "application/json")
            .body(body);
        async move { request.send().await.expect("POST").status().as_u16() }
    };
    assert_eq!(post(purchase("steady")).await, 200);
    drained(&dev.base).await;
    assert_eq!(counter(&dev.base, "steady").await, 1);
    // i64::MAX on top of a stored 1 used to make SQLite store a REAL counter,
    // and /dashboard/api/items answered 503 from then on.
    let huge = json!([{"event_name": "purchase", "items": [
        {"item_id": "steady", "quantity": i64::MAX}
    ]}]);
    assert_eq!(post(huge.to_string()).await, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    while get_json(&format!("{}/dev/queue", dev.base)).await["dead"] != 1 {
        assert!(
            Instant::now() < deadline,
            "not dead-lettered: {}",
            dev.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let letter = &get_json(&format!("{}/dev/dead-letters", dev.base)).await["deadLetters"][0];
    assert!(
        letter["lastError"]
            .as_str()
            .unwrap_or_default()
            .contains("quantity"),
        "{letter}"
    );
    let r = reqwest::get(format!("{}/dashboard/api/items", dev.base))
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
    assert_eq!(
        counter(&dev.base, "steady").await,
        1,
        "nothing of it counted"
    );
    assert_eq!(post(purchase("steady")).await, 200);
    drained(&dev.base).await;
    assert_eq!(counter(&dev.base, "steady").await, 2, "still counting");

    // The same run's health figures, as the dashboard page shows them.
    assert_eq!(
        post(json!([{"event_name": 5}, {"event_name": "page_view"}]).to_string()).await,
        206
    );
    assert_eq!(post("{".into()).await, 400);
    let health = get_json(&format!("{}/dashboard/api/health", dev.base)).await;
    let sum = |name: &str| -> i64 {
        health["events_per_minute"][name]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_i64)
            .sum()
    };
    assert_eq!(sum("purchase"), 3, "{health}");
    // Counted as the queue takes them: page_view triggers no destination here.
    assert_eq!(sum("page_view"), 0, "{health}");
    assert_eq!(health["rejected_last_hour"], json!({"type": 1}), "{health}");
    assert_eq!(health["refused_last_hour"], json!({"400": 1}), "{health}");
    assert_eq!(health["dead_letters"], 1);
    assert_eq!(health["minutes"].as_array().map(Vec::len), Some(10));
}
