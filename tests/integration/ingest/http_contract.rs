//! The HTTP side of ingest (README, "The ingest function"): methods, gzip, size
//! limits, encodings, check order.

use super::common::*;
use axum::body::Body;
use axum::http::Request;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::json;
use std::io::Write;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn small_limit() -> String {
    format!("max_body_bytes = 100\n{ONE_DESTINATION}")
}

#[tokio::test]
async fn healthz_and_methods() {
    let (app, _) = app(ONE_DESTINATION, tokens(Some("t"), None));
    let a = call(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(a.status, 200);
    let a = call(&app, Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(a.status, 405);
    let a = call(&app, Request::put("/").body(Body::empty()).unwrap()).await;
    assert_eq!(a.status, 405);
}

#[tokio::test]
async fn gzip_bodies_are_accepted() {
    let (app, rec) = app(ONE_DESTINATION, tokens(None, None));
    let body = gzip(br#"[{"event_name":"purchase"},{"event_name":"login"}]"#);
    let req = Request::post("/")
        .header("content-encoding", "gzip")
        .body(Body::from(body))
        .unwrap();
    let a = call(&app, req).await;
    assert_eq!(a.status, 200, "{}", a.body);
    // What is published is the decompressed events, each as written.
    let published: Vec<String> = rec
        .messages()
        .iter()
        .map(|(_, m)| String::from_utf8_lossy(&m.data).into_owned())
        .collect();
    assert_eq!(
        published,
        [r#"{"event_name":"purchase"}"#, r#"{"event_name":"login"}"#]
    );
}

#[tokio::test]
async fn bad_gzip_is_400() {
    let (app, rec) = app(ONE_DESTINATION, tokens(None, None));
    let req = Request::post("/")
        .header("content-encoding", "gzip")
        .body(Body::from("not gzip"))
        .unwrap();
    let a = call(&app, req).await;
    assert_eq!(a.status, 400);
    assert!(a.body["error"].as_str().unwrap().contains("gzip"));
    assert_eq!(rec.count(), 0);
}

#[tokio::test]
async fn other_encodings_are_415() {
    let (app, _) = app(ONE_DESTINATION, tokens(None, None));
    let req = Request::post("/")
        .header("content-encoding", "br")
        .body(Body::from("[]"))
        .unwrap();
    let a = call(&app, req).await;
    assert_eq!(a.status, 415);
    assert_eq!(a.body["status"], 415);
}

#[tokio::test]
async fn declared_length_over_limit_is_413_before_auth() {
    let (app, rec) = app(&small_limit(), tokens(Some("t"), None));
    let body = json!([{"event_name": "x".repeat(200)}]).to_string();
    let req = Request::post("/")
        .header("content-length", body.len())
        .body(Body::from(body))
        .unwrap();
    let a = call(&app, req).await;
    assert_eq!(a.status, 413);
    assert_eq!(a.body["status"], 413);
    assert!(a.body["error"].as_str().unwrap().contains("100 bytes"));
    assert_eq!(rec.count(), 0);
}

#[tokio::test]
async fn undeclared_length_over_limit_is_413_while_reading() {
    // No Content-Length header: the limit applies while the body is read.
    let (app, rec) = app(&small_limit(), tokens(None, None));
    let body = json!([{"event_name": "x".repeat(200)}]).to_string();
    let req = Request::post("/").body(Body::from(body)).unwrap();
    assert!(req.headers().get("content-length").is_none());
    let a = call(&app, req).await;
    assert_eq!(a.status, 413);
    assert_eq!(rec.count(), 0);
}

#[tokio::test]
async fn gzip_bomb_is_413_after_decompression() {
    let (app, rec) = app(&small_limit(), tokens(None, None));
    let mut inflated = b"[".to_vec();
    inflated.extend(std::iter::repeat_n(b' ', 10_000));
    inflated.extend(b"]");
    let body = gzip(&inflated);
    assert!(body.len() < 100);
    let req = Request::post("/")
        .header("content-encoding", "gzip")
        .body(Body::from(body))
        .unwrap();
    let a = call(&app, req).await;
    assert_eq!(a.status, 413);
    assert_eq!(rec.count(), 0);
}

#[tokio::test]
async fn order_auth_before_parse_before_schema() {
    let (app, _) = app(ONE_DESTINATION, tokens(Some("t"), None));
    // Bad JSON without auth: 401, not 400.
    assert_eq!(send(&app, "{{{", &[]).await.status, 401);
    // Bad JSON with auth: 400.
    assert_eq!(
        send(&app, "{{{", &[("authorization", "Bearer t")])
            .await
            .status,
        400
    );
    // Unsupported encoding without auth: 401.
    let req = Request::post("/")
        .header("content-encoding", "br")
        .body(Body::from("[]"))
        .unwrap();
    assert_eq!(call(&app, req).await.status, 401);
}

#[tokio::test]
async fn response_is_json_with_every_field() {
    let (app, _) = app(ONE_DESTINATION, tokens(Some("t"), None));
    for (body, headers) in [("[]", vec![("authorization", "Bearer t")]), ("[]", vec![])] {
        let a = send(&app, body, &headers).await;
        assert_eq!(a.headers["content-type"], "application/json");
        for key in [
            "status",
            "error",
            "invalidSchemaEvents",
            "fullyFailedTagEvents",
            "partialFailedTagEvents",
            "failedTags",
            "errors",
            "messageIds",
        ] {
            assert!(a.body.get(key).is_some(), "{key} missing from {}", a.body);
        }
    }
}

/// A key written twice in one object: the check would read one value and a
/// consumer of the published text perhaps the other, so the event is refused
/// (README, "The ingest function"); the other events of the request go on.
#[tokio::test]
async fn an_event_with_a_key_written_twice_is_refused() {
    let (app, rec) = app(ONE_DESTINATION, tokens(None, None));
    let a = send(&app, r#"[{"event_name":5,"event_name":"purchase"}]"#, &[]).await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.body["errors"][0]["code"], "duplicate_key", "{}", a.body);
    assert_eq!(a.body["errors"][0]["path"], "events[0].event_name");
    assert_eq!(a.body["errors"].as_array().map(Vec::len), Some(1));
    assert_eq!(rec.count(), 0, "nothing published");

    // Escaped spellings of one key are one key; deep objects count too; the
    // valid event beside them is published.
    let body = r#"[
        {"event_name":"a","user_data":{"city":"X","\u0063ity":"Y"}},
        {"event_name":"purchase","items":[{"price":1,"price":1e9}]},
        {"event_name":"purchase","items":[{"price":1},{"price":2}]}
    ]"#;
    let a = send(&app, body, &[]).await;
    assert_eq!(a.status, 206, "{}", a.body);
    assert_eq!(a.body["invalidSchemaEvents"], json!([0, 1]));
    let paths: Vec<&str> = a.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["events[0].user_data.city", "events[1].items[0].price"]
    );
    assert_eq!(rec.count(), 1);
}
