//! Helpers for the in-process tests of the ingest router.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use hermes_core::auth::{TokenSet, Tokens};
use hermes_core::config::Config;
use hermes_core::hermes::Message;
use hermes_core::pubsub::{BoxFuture, PublishError, Publisher};
use hermes_ingest::{router, Ingest};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

pub const PROJECT: &str = "hermes-test";

/// A `Publisher` that keeps what it was given, for asserting which tags ran.
/// (Real Pub/Sub is exercised by the emulator tests; faults by wiremock.)
#[derive(Default)]
pub struct Recorder {
    pub published: Mutex<Vec<(String, Message)>>,
}

impl Recorder {
    pub fn count(&self) -> usize {
        self.published.lock().map(|p| p.len()).unwrap_or(0)
    }
    pub fn messages(&self) -> Vec<(String, Message)> {
        self.published.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

impl Publisher for Recorder {
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        messages: &'a [Message],
    ) -> BoxFuture<'a, Result<Vec<String>, PublishError>> {
        Box::pin(async move {
            let mut published = self
                .published
                .lock()
                .map_err(|e| PublishError::Queue(e.to_string()))?;
            let mut ids = Vec::new();
            for m in messages {
                published.push((topic.to_string(), m.clone()));
                ids.push(format!("m{}", published.len()));
            }
            Ok(ids)
        })
    }
}

/// One destination taking every event, the sGTM test setup's "one tag".
pub const ONE_DESTINATION: &str = r#"
container_id = "GTM-TEST"
[[destinations]]
name = "all-events"
id = "7"
topic = "events"
"#;

pub fn config(toml: &str) -> Config {
    Config::parse(toml, Some(PROJECT)).expect("test config")
}

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
