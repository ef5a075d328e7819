//! The ingest request path: bytes and headers in, an answer out, through the
//! router with a publisher that records (or, by the first byte, fails). Every
//! answer must be one of the contract's statuses with its JSON body.
#![no_main]

use axum::body::Body;
use axum::http::Request;
use hermes_core::auth::{TokenSet, Tokens};
use hermes_core::config::Config;
use hermes_core::future::BoxFuture;
use hermes_core::destination::{Message, PublishError, Publisher, TopicName};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

const CONFIG: &str = r#"
max_body_bytes = 65536
[schema]
structural = '{"items": {"type": "array", "value": {"type": "object", "value": {"item_id": {"type": "string"}}}}}'
[[destinations]]
name = "typed"
topic = "typed"
require = ["items"]
[destinations.mapping]
value_num = "value"
quantity_int = "items.0.quantity"
items = "items"
[[destinations]]
name = "all"
topic = "all"
[limits]
max_events = 50
max_errors = 5
"#;

struct Sink {
    fail: bool,
}

impl Publisher for Sink {
    fn publish<'a>(
        &'a self,
        _topic: &'a TopicName,
        messages: &'a [Message],
    ) -> BoxFuture<'a, Result<Vec<String>, PublishError>> {
        Box::pin(async move {
            if self.fail {
                return Err(PublishError::Failed {
                    backend: "fuzz sink",
                    source: "down".into(),
                });
            }
            Ok((0..messages.len()).map(|i| format!("m{i}")).collect())
        })
    }
}

struct World {
    rt: tokio::runtime::Runtime,
    ok: axum::Router,
    failing: axum::Router,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let config = Config::parse(CONFIG, Some("fuzz")).expect("fuzz config");
        let tokens = Tokens {
            production: TokenSet::parse("HERMES_BEARER_TOKEN", Some("prod-a,prod-b")).unwrap(),
            preview: TokenSet::parse("HERMES_PREVIEW_BEARER_TOKEN", Some("prev")).unwrap(),
        };
        let router = |fail: bool| {
            let ingest =
                hermes_ingest::Ingest::new(config.clone(), tokens.clone(), Arc::new(Sink { fail }))
                    .unwrap();
            let protection = hermes_runtime::Protection::from_config(&config);
            protection.guard(hermes_ingest::router(Arc::new(ingest)))
        };
        World {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            ok: router(false),
            failing: router(true),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let w = world();
    let mut req = Request::post(if flags & 1 != 0 { "/?validate_only=true" } else { "/" });
    req = req.header(
        "authorization",
        match (flags >> 1) & 3 {
            0 => "Bearer prod-a",
            1 => "Bearer prev",
            2 => "Basic x",
            _ => "Bearer nope",
        },
    );
    if flags & 8 != 0 {
        req = req.header("x-gtm-server-preview", "1");
    }
    let body = if flags & 16 != 0 {
        req = req.header("content-encoding", "gzip");
        // Half the gzip cases are real gzip of the input, half raw bytes.
        if flags & 32 != 0 {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = gz.write_all(body);
            gz.finish().unwrap_or_default()
        } else {
            body.to_vec()
        }
    } else {
        body.to_vec()
    };
    if flags & 64 != 0 {
        req = req.header("idempotency-key", "k-1");
    }
    let app = if flags & 128 != 0 { &w.failing } else { &w.ok };
    let request = req.body(Body::from(body)).unwrap();
    let (status, bytes) = w.rt.block_on(async {
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 16 << 20).await.unwrap();
        (status, bytes)
    });
    assert!(
        [200, 206, 400, 401, 413, 415, 422, 500, 503].contains(&status),
        "status {status}"
    );
    let answer: serde_json::Value = serde_json::from_slice(&bytes).expect("a JSON answer");
    assert_eq!(answer["status"].as_u64(), Some(u64::from(status)));
    assert!(answer["errors"].as_array().is_some_and(|e| e.len() <= 5));
});
