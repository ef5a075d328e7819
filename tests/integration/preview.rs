//! The preview inspector's API, in process: ingest's tracer writing to a
//! store the dashboard's inspector reads. Which requests are traced (only
//! authorized preview requests with a live session value), what a trace holds
//! (errors with paths, trigger reasons, payloads as published with `user_data`
//! masked, no token), its expiry, and that tracing leaves the response as it is.
//! Also the counters' trace route's refusals, and `hermes dev`'s guard on the
//! inspector beyond loopback.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use hermes_core::auth::{TokenSet, Tokens};
use hermes_core::preview::{SessionValue, TraceReader, TraceSink};
use hermes_dashboard::settings::Settings;
use hermes_dashboard::Dashboard;
use hermes_ingest::Ingest;
use hermes_testkit::emulator::{free_port, Function};
use hermes_testkit::publishers::Recorder;
use hermes_testkit::samples::config;
use hermes_testkit::stores::MemoryStore;
use hermes_testkit::traces::MemoryTraces;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tower::ServiceExt;

const PROD: &str = "prod-token-5f1e9a";
const PREVIEW: &str = "preview-token-c0ffee";
const WAIT: Duration = Duration::from_secs(10);

/// Two destinations: items (needs `items`), and an ads tag for purchases whose
/// `quantity_int` fails on a non-numeric quantity and whose `email` comes from `user_data`.
const CONFIG: &str = r#"
container_id = "GTM-PREVIEW"
[[destinations]]
name = "items-realtime"
topic = "projects/p-1/topics/items-realtime"
require = ["items"]
[[destinations]]
name = "ads"
topic = "projects/p-1/topics/ads"
events = ["purchase"]
[destinations.mapping]
transaction_id = "transaction_id"
quantity_int = "items.0.quantity"
email = "user_data.email_address"
[preview]
ttl_secs = 120
"#;

fn tokens() -> Tokens {
    Tokens {
        production: TokenSet::parse("P", Some(PROD)).unwrap(),
        preview: TokenSet::parse("Q", Some(PREVIEW)).unwrap(),
    }
}

struct Setup {
    ingest: Router,
    dashboard: Router,
    traces: Arc<MemoryTraces>,
    recorder: Arc<Recorder>,
}

fn setup(tracing: bool) -> Setup {
    let traces = Arc::new(MemoryTraces::default());
    let recorder = Arc::new(Recorder::default());
    let cfg = config(CONFIG);
    let ttl = cfg.preview.ttl;
    let mut ingest = Ingest::new(cfg, tokens(), recorder.clone()).unwrap();
    if tracing {
        ingest = ingest.with_tracing(traces.clone() as Arc<dyn TraceSink>);
    }
    let dashboard = Dashboard::new(Arc::new(MemoryStore::default()), Settings::default())
        .with_preview(traces.clone() as Arc<dyn TraceReader>, ttl);
    Setup {
        ingest: hermes_ingest::router(Arc::new(ingest)),
        dashboard: hermes_dashboard::router(Arc::new(dashboard)),
        traces,
        recorder,
    }
}

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, Vec<u8>, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, bytes, json)
}

async fn send(app: &Router, body: &Value, headers: &[(&str, &str)]) -> (StatusCode, Vec<u8>) {
    let mut req = Request::post("/").header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let (status, bytes, _) = call(app, req.body(Body::from(body.to_string())).unwrap()).await;
    (status, bytes)
}

async fn open_session(dashboard: &Router) -> Value {
    let (status, _, doc) = call(
        dashboard,
        Request::post("/api/preview/sessions")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    doc
}

async fn requests(dashboard: &Router, session: &str) -> (StatusCode, Value) {
    let (status, _, doc) = call(
        dashboard,
        Request::get(format!("/api/preview/{session}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    (status, doc)
}

fn purchase(transaction: &str, quantity: Value) -> Value {
    json!({
        "event_name": "purchase",
        "transaction_id": transaction,
        "currency": "EUR",
        "user_data": {"email_address": "jane.doe@example.com", "city": "Aarhus"},
        "items": [{"item_id": "SKU-1", "price": 15, "quantity": quantity}]
    })
}

/// A request: its transaction id, headers, the status expected, and whether it is traced.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, StatusCode, bool);

#[tokio::test]
async fn only_authorized_preview_requests_with_a_live_session_are_traced() {
    let s = setup(true);
    let session = open_session(&s.dashboard).await;
    assert_eq!(session["header"], "x-gtm-server-preview");
    let value = session["value"].as_str().unwrap().to_string();
    let id = session["session"].as_str().unwrap().to_string();
    let other = open_session(&s.dashboard).await;
    assert_ne!(other["value"], session["value"]);
    assert_ne!(other["session"], session["session"]);
    assert!(session["expires_at"].as_str().is_some());

    let header = ("x-gtm-server-preview", value.as_str());
    let preview_auth = format!("Bearer {PREVIEW}");
    let prod_auth = format!("Bearer {PROD}");
    let now = SystemTime::now();
    let expired =
        SessionValue::generate(now - Duration::from_secs(7200), Duration::from_secs(3600)).unwrap();
    let expired_value = expired.as_str().to_string();
    let cases: Vec<Case> = vec![
        (
            "T-preview",
            vec![header, ("authorization", &preview_auth)],
            StatusCode::OK,
            true,
        ),
        (
            "T-wrong-token",
            vec![header, ("authorization", "Bearer nope")],
            StatusCode::UNAUTHORIZED,
            false,
        ),
        ("T-no-token", vec![header], StatusCode::UNAUTHORIZED, false),
        // A production request: no session to trace into, whatever it carries.
        (
            "T-production",
            vec![("authorization", &prod_auth)],
            StatusCode::OK,
            false,
        ),
        // The preview token without the header is no authorization at all.
        (
            "T-preview-token-only",
            vec![("authorization", &preview_auth)],
            StatusCode::UNAUTHORIZED,
            false,
        ),
        (
            "T-malformed",
            vec![
                ("x-gtm-server-preview", "ZW52LTJ8"),
                ("authorization", &preview_auth),
            ],
            StatusCode::OK,
            false,
        ),
        (
            "T-expired",
            vec![
                ("x-gtm-server-preview", &expired_value),
                ("authorization", &preview_auth),
            ],
            StatusCode::OK,
            false,
        ),
        // The production token authorizes a preview request too.
        (
            "T-preview-prod-token",
            vec![header, ("authorization", &prod_auth)],
            StatusCode::OK,
            true,
        ),
        (
            "T-last",
            vec![header, ("authorization", &preview_auth)],
            StatusCode::OK,
            true,
        ),
    ];
    let mut traced = Vec::new();
    for (transaction, headers, status, is_traced) in &cases {
        let (got, body) = send(
            &s.ingest,
            &json!([purchase(transaction, json!(2))]),
            headers,
        )
        .await;
        assert_eq!(
            got,
            *status,
            "{transaction}: {}",
            String::from_utf8_lossy(&body)
        );
        if *is_traced {
            traced.push(*transaction);
        }
    }
    // An authorized preview request refused for its body is traced too, with its answer.
    let mut req = Request::post("/").header("content-type", "application/json");
    for (k, v) in [header, ("authorization", preview_auth.as_str())] {
        req = req.header(k, v);
    }
    let (status, _, _) = call(&s.ingest, req.body(Body::from("[{")).unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    traced.push("(bad JSON)");
    // One task writes traces in request order: once the last one is there,
    // every earlier one that was traced is there too.
    let all = s.traces.wait_for(traced.len(), WAIT).await;
    assert_eq!(all.len(), traced.len(), "traced: {all:?}");
    let (status, doc) = requests(&s.dashboard, &id).await;
    assert_eq!(status, StatusCode::OK);
    let shown: Vec<&str> = doc["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["events"][0]["destinations"][1]["payload"]["transaction_id"]
                .as_str()
                .unwrap_or(if r["status"] == 400 && r["events"] == json!([]) {
                    "(bad JSON)"
                } else {
                    "?"
                })
        })
        .collect();
    traced.reverse();
    assert_eq!(shown, traced, "newest first");

    // No token, no user_data value, anywhere in a trace or in what the API shows.
    let text = serde_json::to_string(&all).unwrap() + &doc.to_string();
    for secret in [
        PROD,
        PREVIEW,
        "Bearer",
        "jane.doe@example.com",
        "Aarhus",
        value.as_str(),
    ] {
        assert!(!text.contains(secret), "a trace holds {secret:?}");
    }
    // Another session sees none of them; a malformed id is no session.
    let (_, doc) = requests(&s.dashboard, other["session"].as_str().unwrap()).await;
    assert_eq!(doc["requests"], json!([]));
    let (status, _) = requests(&s.dashboard, "not-a-session").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_trace_shows_errors_reasons_and_payloads_as_published() {
    let s = setup(true);
    let session = open_session(&s.dashboard).await;
    let value = session["value"].as_str().unwrap();
    let auth = format!("Bearer {PREVIEW}");
    let body = json!([
        purchase("T-1", json!(2)),
        // `value` is not a number: a schema error at events[1].value.
        {"event_name": "purchase", "value": "lots", "items": [{"item_id": "A"}]},
        // The ads tag fails: `quantity_int` cannot convert "many".
        purchase("T-3", json!("many")),
        {"event_name": "page_view"}
    ]);
    let (status, _) = send(
        &s.ingest,
        &body,
        &[("x-gtm-server-preview", value), ("authorization", &auth)],
    )
    .await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    s.traces.wait_for(1, WAIT).await;
    let (_, doc) = requests(&s.dashboard, session["session"].as_str().unwrap()).await;
    let request = &doc["requests"][0];
    assert_eq!(request["status"], 206);
    assert_eq!(request["response"]["status"], 206);
    let received = hermes_core::time::parse_timestamp(request["received_at"].as_str().unwrap());
    let expires = hermes_core::time::parse_timestamp(request["expire_at"].as_str().unwrap());
    assert_eq!(
        expires.unwrap().duration_since(received.unwrap()).unwrap(),
        Duration::from_secs(120),
        "[preview] ttl_secs"
    );
    let events = request["events"].as_array().unwrap();
    assert_eq!(events.len(), 4);
    let dest = |e: usize, d: usize| &events[e]["destinations"][d];

    // Event 0: both tags fired and published; payloads decoded, user_data masked.
    assert_eq!(events[0]["index"], 0);
    assert_eq!(events[0]["event_name"], "purchase");
    assert_eq!(events[0]["errors"], json!([]));
    for d in 0..2 {
        assert_eq!(dest(0, d)["triggered"], true);
        assert_eq!(dest(0, d)["reason"], "matched");
        assert!(dest(0, d)["message_id"].as_str().unwrap().starts_with('m'));
        assert_eq!(dest(0, d)["error"], Value::Null);
        assert!(dest(0, d)["executionTime"].is_u64());
        assert_eq!(dest(0, d)["attributes"]["hermes_preview"], "true");
        assert_eq!(dest(0, d)["attributes"]["event_name"], "purchase");
    }
    assert_eq!(dest(0, 0)["name"], "items-realtime");
    assert_eq!(
        dest(0, 0)["payload"]["user_data"],
        json!({"email_address": "***", "city": "***"})
    );
    assert_eq!(dest(0, 0)["payload"]["items"][0]["item_id"], "SKU-1");
    assert_eq!(
        dest(0, 1)["payload"],
        json!({"transaction_id": "T-1", "quantity": 2, "email": "***"})
    );
    // What was shown is what was published, but for the masking.
    let published = s.recorder.messages();
    let (_, first_ad) = published
        .iter()
        .find(|(topic, _)| topic.ends_with("/ads"))
        .unwrap();
    let ads: Value = serde_json::from_slice(&first_ad.data).unwrap();
    assert_eq!(ads["transaction_id"], "T-1");
    assert_eq!(ads["email"], "jane.doe@example.com");

    // Event 1: a schema error with its path; nothing ran.
    assert_eq!(events[1]["errors"][0]["path"], "events[1].value");
    assert_eq!(dest(1, 0)["triggered"], false);
    assert_eq!(dest(1, 0)["reason"], "event failed the schema");

    // Event 2: items fired, ads failed with the conversion's reason.
    assert_eq!(dest(2, 0)["triggered"], true);
    assert_eq!(dest(2, 1)["triggered"], true);
    assert_eq!(dest(2, 1)["message_id"], Value::Null);
    assert!(
        dest(2, 1)["error"].as_str().unwrap().contains("quantity"),
        "{}",
        dest(2, 1)
    );
    assert_eq!(dest(2, 1)["payload"], Value::Null);

    // Event 3: neither trigger matched, each says why.
    assert_eq!(dest(3, 0)["triggered"], false);
    assert_eq!(dest(3, 0)["reason"], "required field missing: items");
    assert_eq!(dest(3, 1)["reason"], "event not in events");
}

#[tokio::test]
async fn the_response_is_byte_identical_with_and_without_tracing() {
    let traced = setup(true);
    let plain = setup(false);
    let session = open_session(&traced.dashboard).await;
    let value = session["value"].as_str().unwrap();
    let auth = format!("Bearer {PREVIEW}");
    let headers = [
        ("x-gtm-server-preview", value),
        ("authorization", auth.as_str()),
        ("idempotency-key", "req-1"),
    ];
    let body = json!([
        purchase("T-1", json!(2)),
        {"event_name": 7},
        purchase("T-3", json!("many")),
    ]);
    let with = send(&traced.ingest, &body, &headers).await;
    let without = send(&plain.ingest, &body, &headers).await;
    assert_eq!(with.0, StatusCode::PARTIAL_CONTENT);
    assert_eq!(with.0, without.0);
    assert_eq!(
        String::from_utf8_lossy(&with.1),
        String::from_utf8_lossy(&without.1)
    );
    // The same messages were published, and only the traced one has a trace.
    assert_eq!(traced.recorder.messages(), plain.recorder.messages());
    traced.traces.wait_for(1, WAIT).await;
    assert!(plain.traces.all().is_empty());
}

#[tokio::test]
async fn the_trace_route_refuses_unauthenticated_pushes_and_poison() {
    use hermes_counters::preview::{router, TraceWriter};
    use hermes_counters::settings::Settings as CountersSettings;
    let store = Arc::new(MemoryTraces::default());
    let mut settings = CountersSettings::default();
    let open = router(Arc::new(TraceWriter::new(&settings, store.clone())));
    settings.push = hermes_push::PushAuth::audience("https://counters.example/preview-traces");
    let guarded = router(Arc::new(TraceWriter::new(&settings, store.clone())));
    let envelope = |data: &str| {
        use base64::Engine;
        json!({"message": {"messageId": "1", "data": base64::engine::general_purpose::STANDARD.encode(data)},
               "subscription": "projects/p/subscriptions/preview"})
    };
    let post = |body: Value| {
        Request::post("/preview-traces")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let trace = serde_json::to_string(&hermes_core::preview::RequestTrace {
        session: hermes_core::preview::SessionId::parse(&"a".repeat(64)).unwrap(),
        id: "t-1".into(),
        received_at: "2026-01-01T00:00:00.000000Z".into(),
        expire_at: "2026-01-01T01:00:00.000000Z".into(),
        status: 200,
        response: json!({ "status": 200 }),
        events: Vec::new(),
        events_omitted: 0,
        backfill: false,
    })
    .unwrap();
    // A real trace without the push token: refused, nothing written.
    let (status, _, _) = call(&guarded, post(envelope(&trace))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(&open, post(envelope("{\"not\": \"a trace\"}"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(store.all().is_empty());
    // The same trace where no token is asked for: written (the route does write).
    let (status, _, _) = call(&open, post(envelope(&trace))).await;
    assert!(status.is_success(), "{status}");
    let written: Vec<String> = store.all().into_iter().map(|t| t.id).collect();
    assert_eq!(written, ["t-1"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn beyond_loopback_hermes_dev_guards_the_inspector_with_the_production_token() {
    let dir = std::env::temp_dir().join(format!("hermes-preview-guard-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = dir.join("hermes.db").to_string_lossy().into_owned();
    let port = free_port();
    let dev = Function::start_on(
        "hermes",
        &["dev", "--db", &db, "--host", "0.0.0.0"],
        port,
        &[("HERMES_BEARER_TOKEN", PROD)],
    )
    .await;
    let http = reqwest::Client::new();
    for path in ["/dashboard/preview", "/dashboard/api/preview/sessions"] {
        let anonymous = http
            .post(format!("{}{path}", dev.base))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401, "{path}");
    }
    let page = http
        .get(format!("{}/dashboard/preview", dev.base))
        .bearer_auth(PROD)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let opened = http
        .post(format!("{}/dashboard/api/preview/sessions", dev.base))
        .bearer_auth(PROD)
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 201);
    drop(dev);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_page_is_self_contained_and_the_stream_shows_a_traced_request() {
    let s = setup(true);
    let page = s
        .dashboard
        .clone()
        .oneshot(Request::get("/preview").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    // Nothing may be loaded from elsewhere.
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    let html = axum::body::to_bytes(page.into_body(), usize::MAX)
        .await
        .unwrap();
    let html = String::from_utf8(html.to_vec()).unwrap();
    assert!(html.contains("Send requests manually") && html.contains("EventSource"));
    assert!(
        !html.contains("{{")
            && !html.contains("<script src")
            && !html.contains("<link rel=\"stylesheet")
    );

    let session = open_session(&s.dashboard).await;
    let id = session["session"].as_str().unwrap();
    let response = s
        .dashboard
        .clone()
        .oneshot(
            Request::get(format!("/api/preview/{id}/stream"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut events = hermes_testkit::sse::Events::from_response(response);
    let (_, first) = events.next(WAIT).await.expect("the first document");
    assert_eq!(
        serde_json::from_str::<Value>(&first).unwrap()["requests"],
        json!([])
    );
    let auth = format!("Bearer {PREVIEW}");
    send(
        &s.ingest,
        &json!([purchase("T-live", json!(1))]),
        &[
            ("x-gtm-server-preview", session["value"].as_str().unwrap()),
            ("authorization", &auth),
        ],
    )
    .await;
    // The dashboard reads every second (its default poll interval): well within 2 s.
    let (_, next) = events
        .next(Duration::from_secs(2))
        .await
        .expect("the traced request, live");
    let doc: Value = serde_json::from_str(&next).unwrap();
    assert_eq!(doc["requests"].as_array().unwrap().len(), 1);
    assert_eq!(doc["requests"][0]["status"], 200);
}

#[tokio::test]
async fn a_trace_shows_quarantined_events_and_the_backfill_flag() {
    let traces = Arc::new(MemoryTraces::default());
    let recorder = Arc::new(Recorder::default());
    let cfg = config(&format!(
        "{CONFIG}\n[quarantine]\ntopic = \"projects/p-1/topics/hermes-quarantine\"\n"
    ));
    let ttl = cfg.preview.ttl;
    let ingest = Ingest::new(cfg, tokens(), recorder.clone())
        .unwrap()
        .with_tracing(traces.clone() as Arc<dyn TraceSink>);
    let ingest = hermes_ingest::router(Arc::new(ingest));
    let dashboard = hermes_dashboard::router(Arc::new(
        Dashboard::new(Arc::new(MemoryStore::default()), Settings::default())
            .with_preview(traces.clone() as Arc<dyn TraceReader>, ttl),
    ));
    let session = open_session(&dashboard).await;
    let value = session["value"].as_str().unwrap();
    let prod = format!("Bearer {PROD}");
    let body = json!([
        purchase("T-1", json!(2)),
        {"event_name": "purchase", "value": "lots", "items": [{"item_id": "A"}]},
        purchase("T-3", json!("many")),
    ]);
    let headers = [
        ("x-gtm-server-preview", value),
        ("authorization", prod.as_str()),
        ("x-hermes-backfill", "true"),
    ];
    let (status, _) = send(&ingest, &body, &headers).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    traces.wait_for(1, WAIT).await;
    let (_, doc) = requests(&dashboard, session["session"].as_str().unwrap()).await;
    let request = &doc["requests"][0];
    assert_eq!(request["backfill"], true, "{request}");
    let events = request["events"].as_array().unwrap();
    assert!(events[0].get("quarantined").is_none(), "{}", events[0]);
    assert_eq!(events[1]["quarantined"], "schema");
    assert_eq!(events[2]["quarantined"], "destination");

    // The bad rows carry the request's marks, like its other messages.
    let deadline = std::time::Instant::now() + WAIT;
    let rows = loop {
        let rows: Vec<_> = recorder
            .messages()
            .into_iter()
            .filter(|(topic, _)| topic.ends_with("/hermes-quarantine"))
            .collect();
        if rows.len() == 2 || std::time::Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(rows.len(), 2);
    for (_, row) in &rows {
        let attrs: std::collections::BTreeMap<_, _> = row.attributes.iter().cloned().collect();
        assert_eq!(attrs["hermes_preview"], "true");
        assert_eq!(attrs["hermes_backfill"], "true");
    }

    // A request without the header is no backfill.
    let (status, _) = send(
        &ingest,
        &json!([purchase("T-4", json!(1))]),
        &[("x-gtm-server-preview", value), ("authorization", &prod)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    traces.wait_for(2, WAIT).await;
    let (_, doc) = requests(&dashboard, session["session"].as_str().unwrap()).await;
    let newest = &doc["requests"][0];
    assert_eq!(newest["backfill"], false, "{newest}");
}
