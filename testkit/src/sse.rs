//! A Server-Sent Events reader for the dashboard's stream: over HTTP from a running
//! binary, or off the body of an in-process router's response.

use axum::http::header::CONTENT_TYPE;
use http_body_util::BodyExt;
use std::time::{Duration, Instant};

enum Source {
    Http(reqwest::Response),
    Body(axum::body::Body),
}

impl Source {
    /// The next bytes of the stream; `None` at its end.
    async fn chunk(&mut self) -> Option<Vec<u8>> {
        match self {
            Source::Http(resp) => resp
                .chunk()
                .await
                .expect("read the event stream")
                .map(|b| b.to_vec()),
            Source::Body(body) => loop {
                let frame = body.frame().await?.expect("read the event stream");
                // Trailers carry no events.
                if let Ok(data) = frame.into_data() {
                    return Some(data.to_vec());
                }
            },
        }
    }
}

/// Reads Server-Sent Events off a streaming response.
pub struct Events {
    source: Source,
    buf: Vec<u8>,
}

impl Events {
    /// `GET url` as an event stream: it must answer 200 with `text/event-stream`.
    pub async fn open(url: &str) -> Self {
        let resp = reqwest::Client::new()
            .get(url)
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("open the event stream");
        assert_eq!(resp.status(), 200);
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Self {
            source: Source::Http(resp),
            buf: Vec::new(),
        }
    }

    /// The stream of an in-process response: it must be 200 with `text/event-stream`.
    pub fn from_response(response: axum::response::Response) -> Self {
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()[CONTENT_TYPE], "text/event-stream");
        Self {
            source: Source::Body(response.into_body()),
            buf: Vec::new(),
        }
    }

    /// The next event with data, as (event name, data), skipping comments; `None` at
    /// the end of the stream. Panics when none comes `within`.
    pub async fn next(&mut self, within: Duration) -> Option<(String, String)> {
        let deadline = Instant::now() + within;
        loop {
            while let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..end + 2).collect();
                let block = String::from_utf8(block).expect("the event stream is UTF-8");
                let mut name = "message".to_string();
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
                    }
                }
                if !data.is_empty() {
                    return Some((name, data.join("\n")));
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.source.chunk())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no event within {within:?}; got {:?}",
                        String::from_utf8_lossy(&self.buf)
                    )
                })?;
            self.buf.extend_from_slice(&chunk);
        }
    }
}
