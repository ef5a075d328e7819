//! `Notify` in process against a webhook on loopback (a real HTTP server) and
//! an in-memory marker store: the status table, the bodies and the markers.

use super::*;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use hermes_push::{process, Processed};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Default)]
struct Markers(Mutex<HashSet<DocumentId>>);

impl MarkerStore for Markers {
    fn exists<'a>(&'a self, id: &'a DocumentId) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { Ok(self.0.lock().unwrap().contains(id)) })
    }
    fn put<'a>(
        &'a self,
        id: &'a DocumentId,
        _: &'a hermes_core::store::MarkerOrigin,
        _: SystemTime,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.0.lock().unwrap().insert(id.clone());
            Ok(())
        })
    }
}

/// The last call: its `Idempotency-Key` and body.
type LastCall = Arc<Mutex<Option<(Option<String>, Vec<u8>)>>>;

/// A webhook answering `status` (after `delay`), counting calls and keeping the last body.
struct Hook {
    url: String,
    calls: Arc<AtomicUsize>,
    last: LastCall,
}

async fn hook(status: u16, delay: Duration) -> Hook {
    let calls = Arc::new(AtomicUsize::new(0));
    let last: LastCall = Arc::new(Mutex::new(None));
    let (c, l) = (calls.clone(), last.clone());
    let app = Router::new().route(
        "/secret-path",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let (c, l) = (c.clone(), l.clone());
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    let key = headers
                        .get("idempotency-key")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    *l.lock().unwrap() = Some((key, body.to_vec()));
                    tokio::time::sleep(delay).await;
                    let status = StatusCode::from_u16(status).unwrap();
                    let mut response = status.into_response();
                    if status.is_redirection() {
                        response
                            .headers_mut()
                            .insert("location", HeaderValue::from_static("/x"));
                    }
                    response
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/secret-path", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Hook { url, calls, last }
}

fn notify(config: &str, url: &str) -> Notify {
    let table: toml::Table = toml::from_str(config).unwrap();
    let settings = Settings::parse(&table).unwrap();
    Notify::new(
        settings,
        WebhookUrl::parse(url).unwrap(),
        Arc::new(Markers::default()),
    )
}

fn message(id: &str, event: &str, data: &Value) -> PushMessage {
    PushMessage {
        message_id: id.into(),
        data: data.to_string().into_bytes(),
        attributes: HashMap::from([
            ("event_name".to_string(), event.to_string()),
            ("hermes_event_id".to_string(), format!("ev-{id}")),
        ]),
        publish_time: None,
        subscription: "projects/p/subscriptions/notify".into(),
        delivery_attempt: None,
    }
}

const SLACK: &str =
    "events = ['purchase']\ntemplate = 'Order {{transaction_id}} ({{items.length}})'";

/// An event id beyond visible ASCII is sent percent-encoded: the same key on
/// every delivery, and no raw UTF-8 bytes in a header.
#[tokio::test]
async fn a_non_ascii_event_id_is_sent_percent_encoded() {
    let hook = hook(200, Duration::ZERO).await;
    let n = notify(SLACK, &hook.url);
    let mut m = message(
        "1",
        "purchase",
        &json!({ "transaction_id": "T1", "items": [] }),
    );
    m.attributes
        .insert("hermes_event_id".into(), "café 1%".into());
    assert_eq!(n.notify(&m).await.unwrap(), Outcome::Delivered(200));
    let (key, _) = hook.last.lock().unwrap().clone().unwrap();
    assert_eq!(key.as_deref(), Some("caf%C3%A9%201%25"));
    assert_eq!(idempotency_key("ev-1"), "ev-1");
}

#[tokio::test]
async fn a_2xx_delivers_once_with_the_rendered_text_and_the_key() {
    let hook = hook(200, Duration::ZERO).await;
    let n = notify(SLACK, &hook.url);
    let m = message(
        "1",
        "purchase",
        &json!({ "transaction_id": "T\"1}", "items": [1, 2] }),
    );
    assert_eq!(n.notify(&m).await.unwrap(), Outcome::Delivered(200));
    assert_eq!(n.notify(&m).await.unwrap(), Outcome::Duplicate);
    assert_eq!(hook.calls.load(Ordering::SeqCst), 1);
    let (key, body) = hook.last.lock().unwrap().clone().unwrap();
    assert_eq!(key.as_deref(), Some("ev-1"));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body, json!({ "text": "Order T\"1} (2)" }));
    // Another event name: ignored, no call.
    let other = message("2", "page_view", &json!({}));
    assert_eq!(n.notify(&other).await.unwrap(), Outcome::Ignored);
    assert_eq!(hook.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_json_body_is_the_payload() {
    let hook = hook(204, Duration::ZERO).await;
    let n = notify("body = 'json'", &hook.url);
    let payload = json!({ "transaction_id": "T-2", "value": 12.5 });
    let m = message("3", "anything", &payload);
    assert_eq!(n.notify(&m).await.unwrap(), Outcome::Delivered(204));
    let (_, body) = hook.last.lock().unwrap().clone().unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), payload);
}

#[tokio::test]
async fn webhook_answers_map_to_the_push_status_table() {
    for (answer, push) in [
        (429, 503),
        (500, 503),
        (503, 503),
        (400, 400),
        (404, 400),
        (301, 500),
    ] {
        let hook = hook(answer, Duration::ZERO).await;
        let n = notify(SLACK, &hook.url);
        let m = message("4", "purchase", &json!({}));
        let e = n.notify(&m).await.unwrap_err();
        assert_eq!(e.class().status().as_u16(), push, "webhook {answer}: {e}");
        // No marker: the retry calls again.
        let _ = n.notify(&m).await;
        assert_eq!(hook.calls.load(Ordering::SeqCst), 2, "webhook {answer}");
    }
}

#[tokio::test]
async fn a_timeout_or_no_connection_is_transient_and_never_shows_the_url() {
    let slow = hook(200, Duration::from_secs(5)).await;
    let n = notify(&format!("{SLACK}\ntimeout_ms = 100"), &slow.url);
    let e = n
        .notify(&message("5", "purchase", &json!({})))
        .await
        .unwrap_err();
    assert_eq!(e.class(), FailureClass::Transient, "{e}");
    let text = hermes_core::error::report(&e);
    assert!(!text.contains("secret-path"), "{text}");
    // A closed port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let n = notify(SLACK, &format!("http://127.0.0.1:{port}/secret-path"));
    let e = n
        .notify(&message("6", "purchase", &json!({})))
        .await
        .unwrap_err();
    assert_eq!(e.class(), FailureClass::Transient);
    assert!(!hermes_core::error::report(&e).contains("secret-path"));
}

#[tokio::test]
async fn an_overlapping_delivery_waits_for_the_first() {
    let slow = hook(200, Duration::from_secs(2)).await;
    let n = Arc::new(notify(SLACK, &slow.url));
    let m = message("7", "purchase", &json!({}));
    let first = tokio::spawn({
        let (n, m) = (n.clone(), m.clone());
        async move { n.notify(&m).await }
    });
    // The second arrives while the first is at the webhook.
    while slow.calls.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let second = n.notify(&m).await.unwrap_err();
    assert_eq!(second.class(), FailureClass::Transient);
    assert_eq!(first.await.unwrap().unwrap(), Outcome::Delivered(200));
    assert_eq!(n.notify(&m).await.unwrap(), Outcome::Duplicate);
    assert_eq!(slow.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn poison_payloads_and_previews() {
    let hook = hook(200, Duration::ZERO).await;
    let n = notify(SLACK, &hook.url);
    let mut m = message("8", "purchase", &json!({}));
    m.data = b"not json".to_vec();
    assert_eq!(
        n.notify(&m).await.unwrap_err().class(),
        FailureClass::Poison
    );
    // An event id no header could carry as it is goes percent-encoded: notified, not poison.
    let mut odd_key = message("9", "purchase", &json!({}));
    odd_key
        .attributes
        .insert("hermes_event_id".into(), "a\nb".into());
    assert_eq!(n.notify(&odd_key).await.unwrap(), Outcome::Delivered(200));
    let (key, _) = hook.last.lock().unwrap().clone().unwrap();
    assert_eq!(key.as_deref(), Some("a%0Ab"));
    let mut preview = message("10", "purchase", &json!({}));
    preview
        .attributes
        .insert("hermes_preview".into(), "true".into());
    assert_eq!(
        process(&n, &preview).await.unwrap(),
        Processed::SkippedPreview
    );
    // Only the odd-key event called the webhook.
    assert_eq!(hook.calls.load(Ordering::SeqCst), 1);
}
