//! The body of an answer the server gives before a handler had its say (503
//! overloaded, 408 too slow, a connection over the cap): the same JSON shape
//! as ingest's answers (README, "The ingest function"), so a client of any
//! function parses one format.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// How refusals are worded: the container id that prefixes the message.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub container_id: String,
}

impl Default for Refusal {
    fn default() -> Self {
        Self {
            container_id: hermes_core::config::DEFAULT_CONTAINER_ID.to_string(),
        }
    }
}

/// The JSON text of a refusal.
pub fn refusal_json(r: &Refusal, status: StatusCode, message: &str) -> String {
    serde_json::json!({
        "status": status.as_u16(),
        "error": format!("[{}][Server-to-Server Client][Error] - {message}", r.container_id),
        "invalidSchemaEvents": [],
        "fullyFailedTagEvents": [],
        "partialFailedTagEvents": [],
        "failedTags": [],
        "errors": [],
        "errorsOmitted": 0,
        "messageIds": [],
    })
    .to_string()
}

/// A refusal as a response.
pub fn refusal(r: &Refusal, status: StatusCode, message: &str) -> Response {
    let mut response = (status, refusal_json(r, status, message)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A refusal as raw HTTP/1.1 bytes, for a connection no handler will see
/// (over the connection cap, a header that never finished). Closes the connection.
pub fn refusal_bytes(r: &Refusal, status: StatusCode, message: &str, retry_after: bool) -> Vec<u8> {
    let body = refusal_json(r, status, message);
    let reason = status.canonical_reason().unwrap_or("");
    let retry = if retry_after {
        "Retry-After: 1\r\n"
    } else {
        ""
    };
    format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{retry}connection: close\r\n\r\n{body}",
        status.as_u16(),
        body.len()
    )
    .into_bytes()
}
