//! Helpers for the in-process tests of the ingest router. (Real Pub/Sub is
//! exercised by the emulator tests; faults by wiremock.)

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use hermes_core::auth::{TokenSet, Tokens};
use hermes_core::config::Config;
use hermes_core::destination::Publisher;
use hermes_ingest::{router, Ingest};
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

pub use hermes_testkit::publishers::Recorder;
pub use hermes_testkit::samples::config;

/// One destination taking every event, the sGTM test setup's "one tag".
pub const ONE_DESTINATION: &str = r#"
container_id = "GTM-TEST"
[[destinations]]
name = "all-events"
id = "7"
topic = "events"
"#;

pub fn tokens(prod: Option<&str>, preview: Option<&str>) -> Tokens {
    Tokens {
        production: TokenSet::parse("HERMES_BEARER_TOKEN", prod).expect("tokens"),
        preview: TokenSet::parse("HERMES_PREVIEW_BEARER_TOKEN", preview).expect("tokens"),
    }
}

pub fn app_with(config: Config, tokens: Tokens, publisher: Arc<dyn Publisher>) -> Router {
    router(Arc::new(
        Ingest::new(config, tokens, publisher).expect("ingest state"),
    ))
}

/// The router over a fresh [`Recorder`].
pub fn app(toml: &str, tokens: Tokens) -> (Router, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    (app_with(config(toml), tokens, recorder.clone()), recorder)
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn errors(&self) -> &Vec<Value> {
        self.body["errors"].as_array().expect("errors array")
    }
}

pub async fn call(app: &Router, request: Request<Body>) -> Answer {
    let response = app
        .clone()
        .oneshot(request)
        .await
        .expect("infallible router");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

/// `POST /` with a JSON body and optional extra headers.
pub async fn send(app: &Router, body: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = Request::post("/").header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    call(
        app,
        req.body(Body::from(body.to_string())).expect("request"),
    )
    .await
}

pub async fn send_json(app: &Router, body: &Value) -> Answer {
    send(app, &body.to_string(), &[]).await
}
