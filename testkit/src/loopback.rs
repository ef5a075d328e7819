//! Test servers on loopback: a router served on a free port, and the HTTP
//! forwarding that the fronts placed before an emulator share (each adds its
//! own fault or count around it).

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Serves `app` on a free loopback port, in a task of its own; its address.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// An upstream's answer, passed back with its status and content type.
pub struct Forwarded {
    pub status: StatusCode,
    pub body: Bytes,
    content_type: Option<HeaderValue>,
}

impl IntoResponse for Forwarded {
    fn into_response(self) -> Response {
        let mut answer = (self.status, self.body).into_response();
        if let Some(ct) = self.content_type {
            answer.headers_mut().insert("content-type", ct);
        }
        answer
    }
}

/// Sends the request to `upstream` (`http://host:port`) with the same method,
/// path and query, the headers named in `pass`, and `body`. An unreachable
/// upstream is 502, a method reqwest cannot send 405.
pub async fn forward(
    http: &reqwest::Client,
    upstream: &str,
    (method, uri, headers): (&Method, &Uri, &HeaderMap),
    pass: &[&str],
    body: Bytes,
) -> Result<Forwarded, StatusCode> {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let m = reqwest::Method::from_bytes(method.as_str().as_bytes())
        .map_err(|_| StatusCode::METHOD_NOT_ALLOWED)?;
    let mut req = http.request(m, format!("{upstream}{path}")).body(body);
    for name in pass {
        if let Some(v) = headers.get(*name) {
            req = req.header(*name, v.as_bytes());
        }
    }
    let resp = req.send().await.map_err(|_| StatusCode::BAD_GATEWAY)?;
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|ct| HeaderValue::from_bytes(ct.as_bytes()).ok());
    let body = resp.bytes().await.unwrap_or_default();
    Ok(Forwarded {
        status,
        body,
        content_type,
    })
}
