//! Baseline (a) of the load benchmark, "the machine's limit": the same HTTP
//! stack as `hermes-ingest` (axum on a multi-threaded tokio runtime) doing no
//! work at all. It reads the whole body and answers 200 with a small JSON body.
//! Listens on `127.0.0.1:$PORT` (loopback only).

use axum::body::Bytes;
use axum::http::header;
use axum::routing::{get, post};
use axum::Router;

const OK: &str = r#"{"status":200,"error":""}"#;

async fn ok(_body: Bytes) -> ([(header::HeaderName, &'static str); 1], &'static str) {
    ([(header::CONTENT_TYPE, "application/json")], OK)
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let app = Router::new()
        .route("/", post(ok))
        .route("/healthz", get(|| async { "ok" }));
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bare-axum: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("bare-axum: {e}");
        std::process::exit(1);
    }
}
