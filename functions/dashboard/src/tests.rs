//! The router over an in-memory store: the page, the JSON, the event stream and
//! the shared poller.

use super::*;
use axum::body::Body;
use axum::http::Request;
use hermes_core::store::ItemTotals;
use hermes_testkit::sse::Events;
use hermes_testkit::stores::{MemoryStore, PanickingStore};
use http_body_util::BodyExt;
use serde_json::Value;
use std::time::Instant;
use tower::ServiceExt;

fn item(id: &str, name: &str, counter: i64, price: f64) -> ItemTotals {
    ItemTotals {
        item_id: id.into(),
        fields: serde_json::json!({"item_name": name, "price": price, "currency": "DKK"})
            .as_object()
            .cloned()
            .unwrap(),
        counter,
        revenue: [("DKK".to_string(), price * counter as f64)].into(),
        profit: Default::default(),
        last_event_at: Some("2026-03-01T12:00:00Z".into()),
    }
}

fn setup(poll_ms: u64) -> (Arc<MemoryStore>, Arc<Dashboard>) {
    let store = Arc::new(MemoryStore::default());
    store.set(vec![]);
    let settings = Settings {
        poll_interval: Duration::from_millis(poll_ms),
        ..Settings::default()
    };
    let dashboard = Arc::new(Dashboard::new(store.clone(), settings));
    (store, dashboard)
}

async fn get(app: Router, uri: &str) -> Response {
    app.oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap()
}

async fn text(response: Response) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn the_page_is_self_contained() {
    let (_, dashboard) = setup(1000);
    let response = get(router(dashboard), "/").await;
    assert_eq!(response.status(), 200);
    let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let page = text(response).await;
    assert!(page.contains("<style>:root"), "stylesheet inline");
    assert!(page.contains("new EventSource(STREAM)"), "script inline");
    assert!(!page.contains("{{"), "every placeholder filled");
    assert!(!page.contains("/*{{"), "every placeholder filled");
    for external in [
        "src=\"http",
        "href=\"http",
        "@import",
        "url(http",
        "//cdn",
        "fonts.",
    ] {
        assert!(!page.contains(external), "external asset: {external}");
    }
    for needle in [
        "id=\"rows\"",
        "id=\"totals\"",
        "id=\"chart\"",
        "id=\"empty\"",
        "id=\"status\"",
    ] {
        assert!(page.contains(needle), "{needle}");
    }
}

#[tokio::test]
async fn the_ingest_url_is_escaped_into_the_page() {
    let store = Arc::new(MemoryStore::default());
    let settings = Settings {
        ingest_url: Some("https://ingest.example.com/?a=1&b=\"2\"".into()),
        ..Settings::default()
    };
    let dashboard = Arc::new(Dashboard::new(store, settings));
    assert!(dashboard.page().contains(
        "<meta name=\"hermes-ingest-url\" content=\"https://ingest.example.com/?a=1&amp;b=&quot;2&quot;\">"
    ));
    let (_, default) = setup(1000);
    assert!(default
        .page()
        .contains("<meta name=\"hermes-ingest-url\" content=\"\">"));
}

#[tokio::test]
async fn items_json_has_the_fixed_shape() {
    let (store, dashboard) = setup(1000);
    store.set(vec![item("a", "Alpha", 1, 10.0), item("b", "Beta", 3, 2.5)]);
    let response = get(router(dashboard), "/api/items").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let doc: Value = serde_json::from_str(&text(response).await).unwrap();
    assert_eq!(doc["items"][0]["item_id"], "b");
    assert_eq!(doc["items"][0]["item_name"], "Beta");
    assert_eq!(doc["items"][0]["counter"], 3);
    assert_eq!(doc["items"][0]["revenue"], serde_json::json!({"DKK": 7.5}));
    assert_eq!(doc["items"][0]["price"], 2.5);
    assert_eq!(doc["items"][1]["item_category"], Value::Null);
    assert_eq!(doc["totals"]["items"], 2);
    assert_eq!(doc["totals"]["counter"], 4);
    assert_eq!(doc["totals"]["revenue"], serde_json::json!({"DKK": 17.5}));
}

#[tokio::test]
async fn a_store_error_is_503_with_a_message() {
    let (store, dashboard) = setup(1000);
    store.fail("firestore unavailable");
    let response = get(router(dashboard), "/api/items").await;
    assert_eq!(response.status(), 503);
    let doc: Value = serde_json::from_str(&text(response).await).unwrap();
    // The store's own error is logged, never sent to the caller.
    let error = doc["error"].as_str().unwrap();
    assert!(error.contains("cannot read the counters"), "{doc}");
    assert!(!error.contains("firestore unavailable"), "{doc}");
}

#[tokio::test]
async fn nested_under_a_prefix() {
    let (store, dashboard) = setup(1000);
    store.set(vec![item("a", "Alpha", 1, 10.0)]);
    let app = Router::new().nest("/dashboard", router(dashboard));
    let page = get(app.clone(), "/dashboard").await;
    assert_eq!(page.status(), 200);
    assert!(text(page).await.contains("location.pathname"));
    // Plain `nest` does not route the trailing-slash form: `mount` does.
    assert_eq!(get(app.clone(), "/dashboard/").await.status(), 404);
    let items = get(app.clone(), "/dashboard/api/items").await;
    assert_eq!(items.status(), 200);
    let events = get(app.clone(), "/dashboard/api/items/stream").await;
    assert_eq!(events.status(), 200);
    assert_eq!(get(app, "/dashboard/healthz").await.status(), 200);
}

#[tokio::test]
async fn mounted_under_a_prefix_with_and_without_the_slash() {
    let (store, dashboard) = setup(1000);
    store.set(vec![item("a", "Alpha", 1, 10.0)]);
    let ingest = Router::new().route("/", axum::routing::post(|| async { "ingest" }));
    for prefix in ["/dashboard", "/dashboard/", "dashboard"] {
        let app = ingest.clone().merge(mount(prefix, dashboard.clone()));
        for uri in ["/dashboard", "/dashboard/"] {
            let page = get(app.clone(), uri).await;
            assert_eq!(page.status(), 200, "{prefix}: {uri}");
            assert!(text(page).await.contains("location.pathname"));
        }
        let items = get(app.clone(), "/dashboard/api/items").await;
        assert_eq!(items.status(), 200);
        assert!(text(items).await.contains("Alpha"));
        assert_eq!(get(app.clone(), "/dashboard/healthz").await.status(), 200);
    }
    let root = mount("/", dashboard);
    assert_eq!(get(root.clone(), "/").await.status(), 200);
    assert_eq!(get(root, "/api/items").await.status(), 200);
}

#[tokio::test]
async fn the_stream_sends_on_connect_and_on_change_only() {
    let (store, dashboard) = setup(30);
    store.set(vec![item("a", "Alpha", 1, 10.0)]);
    let app = router(dashboard.clone());
    let mut events = Events::from_response(get(app, "/api/items/stream").await);
    let (name, data) = events.next(Duration::from_secs(2)).await.unwrap();
    assert_eq!(name, "message");
    let doc: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(doc["items"][0]["counter"], 1);
    assert_eq!(doc["totals"]["counter"], 1);

    // No change: no event (several polls pass).
    let reads = store.reads();
    let quiet = tokio::time::timeout(
        Duration::from_millis(200),
        events.next(Duration::from_secs(5)),
    )
    .await;
    assert!(quiet.is_err(), "an unchanged store sends nothing");
    assert!(store.reads() > reads, "still polling");

    store.set(vec![item("a", "Alpha", 2, 10.0)]);
    let started = Instant::now();
    let (_, data) = events.next(Duration::from_secs(2)).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(500));
    let doc: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(doc["items"][0]["counter"], 2);
    assert_eq!(doc["totals"]["revenue"], serde_json::json!({"DKK": 20.0}));
}

#[tokio::test]
async fn store_errors_are_error_events_and_the_stream_goes_on() {
    let (store, dashboard) = setup(30);
    store.set(vec![item("a", "Alpha", 1, 10.0)]);
    let mut events = Events::from_response(get(router(dashboard), "/api/items/stream").await);
    assert_eq!(
        events.next(Duration::from_secs(2)).await.unwrap().0,
        "message"
    );
    store.fail("deadline exceeded");
    let (name, data) = events.next(Duration::from_secs(2)).await.unwrap();
    assert_eq!(name, "error");
    let error: Value = serde_json::from_str(&data).unwrap();
    let error = error["error"].as_str().unwrap();
    assert!(error.contains("cannot read the counters"), "{error}");
    assert!(!error.contains("deadline exceeded"), "{error}");
    // Back again: the items are sent again (the page clears its error banner on them).
    store.set(vec![item("a", "Alpha", 1, 10.0)]);
    let (name, data) = events.next(Duration::from_secs(2)).await.unwrap();
    assert_eq!(name, "message");
    assert!(data.contains("\"counter\":1"));
}

#[tokio::test]
async fn a_store_failing_from_the_start_reports_an_error_event() {
    let (store, dashboard) = setup(30);
    store.fail("permission denied");
    let mut events = Events::from_response(get(router(dashboard), "/api/items/stream").await);
    let (name, data) = events.next(Duration::from_secs(2)).await.unwrap();
    assert_eq!(name, "error");
    // The page learns that the store cannot be read; the store's words stay in the log.
    assert!(data.contains("cannot read the counters"), "{data}");
    assert!(!data.contains("permission denied"), "{data}");
}

#[tokio::test]
async fn one_poller_for_many_clients_and_none_without() {
    let (store, dashboard) = setup(100);
    store.set(vec![item("a", "Alpha", 1, 10.0)]);
    assert!(!dashboard.polling());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(store.reads(), 0, "no clients, no reads");

    let app = router(dashboard.clone());
    let mut clients = Vec::new();
    for _ in 0..8 {
        let mut events = Events::from_response(get(app.clone(), "/api/items/stream").await);
        let (_, data) = events.next(Duration::from_secs(2)).await.unwrap();
        assert!(data.contains("Alpha"));
        clients.push(events);
    }
    assert_eq!(dashboard.clients(), 8);
    assert!(dashboard.polling());
    let before = store.reads();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let reads = store.reads() - before;
    assert!(
        (7..=12).contains(&reads),
        "8 clients for 1 s at 100 ms: about 10 reads, not 80 (got {reads})"
    );

    // Everyone gets the change.
    store.set(vec![item("a", "Alpha", 5, 10.0)]);
    for events in &mut clients {
        let (_, data) = events.next(Duration::from_secs(2)).await.unwrap();
        assert!(data.contains("\"counter\":5"));
    }

    drop(clients);
    let deadline = Instant::now() + Duration::from_secs(2);
    while dashboard.polling() {
        assert!(Instant::now() < deadline, "the poller did not stop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(dashboard.clients(), 0);
    let after = store.reads();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(store.reads(), after, "no clients, no reads");

    // A client coming back restarts it and gets the current figures at once,
    // even though nothing changed since the last run.
    let mut events = Events::from_response(get(app, "/api/items/stream").await);
    let (_, data) = events.next(Duration::from_secs(2)).await.unwrap();
    assert!(data.contains("\"counter\":5"));
    assert!(dashboard.polling());
}

#[tokio::test]
async fn a_panicking_store_is_an_error_event_and_polling_goes_on() {
    // Its reads panic: the poller dies, and the next client starts a new one.
    let store = Arc::new(PanickingStore::default());
    let settings = Settings {
        poll_interval: Duration::from_millis(30),
        ..Settings::default()
    };
    let dashboard = Arc::new(Dashboard::new(store.clone(), settings));
    let mut events =
        Events::from_response(get(router(dashboard.clone()), "/api/items/stream").await);
    let (name, data) = events.next(Duration::from_secs(2)).await.unwrap();
    assert_eq!(name, "error");
    assert!(data.contains("cannot read the counters"), "{data}");
    assert!(!data.contains("panicked"), "{data}");
    let (name, data) = events.next(Duration::from_secs(2)).await.unwrap();
    assert_eq!(name, "message");
    assert!(data.contains("\"items\":[]"));
    assert!(dashboard.polling());
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let (_, dashboard) = setup(50);
    let mut events =
        Events::from_response(get(router(dashboard.clone()), "/api/items/stream").await);
    assert!(events.next(Duration::from_secs(2)).await.is_some());
    dashboard.shutdown();
    assert!(events.next(Duration::from_secs(2)).await.is_none());
}

#[tokio::test]
async fn healthz() {
    let (_, dashboard) = setup(1000);
    let response = get(router(dashboard), "/healthz").await;
    assert_eq!(response.status(), 200);
}

/// More changes than one changed read holds (`CHANGED_AT_MOST`): the poller
/// reads everything instead, so no change is held back until the next
/// scheduled full read.
#[tokio::test]
async fn more_changes_than_a_changed_read_holds_make_a_full_read() {
    let (store, dashboard) = setup(1);
    let many = |n: usize| -> Vec<ItemTotals> {
        (0..n)
            .map(|i| item(&format!("i{i}"), "Item", 1, 1.0))
            .collect()
    };
    store.set(many(10));
    let app = router(dashboard);
    let doc: Value =
        serde_json::from_str(&text(get(app.clone(), "/api/items").await).await).unwrap();
    assert_eq!(doc["totals"]["items"], 10);
    assert_eq!(store.reads(), 1, "the first read is a full one");
    store.set(many(CHANGED_AT_MOST + 1));
    tokio::time::sleep(Duration::from_millis(5)).await;
    let doc: Value = serde_json::from_str(&text(get(app, "/api/items").await).await).unwrap();
    assert_eq!(
        doc["totals"]["items"],
        CHANGED_AT_MOST + 1,
        "every change is there"
    );
    // The changed read that gave up, then the full read.
    assert_eq!(store.reads(), 3);
}
