//! The webhook call: `POST` with `Content-Type: application/json` and
//! `Idempotency-Key`, one timeout, redirects not followed. The URL is a secret
//! (it often holds a token): it is never logged, and errors drop it.

use axum::http::HeaderValue;
use std::time::Duration;

/// The webhook URL, parsed at start-up; its `Debug` does not show it.
#[derive(Clone)]
pub struct WebhookUrl(reqwest::Url);

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookUrl(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("is not set")]
    Missing,
    // The value is a secret: the error does not quote it.
    #[error("is not an http(s) URL")]
    Invalid,
}

impl WebhookUrl {
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(UrlError::Missing);
        }
        let url = reqwest::Url::parse(text).map_err(|_| UrlError::Invalid)?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(UrlError::Invalid);
        }
        Ok(Self(url))
    }
}

/// Why a webhook call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// 429 or 5xx: the receiver may take it later.
    #[error("webhook answered {0}")]
    Unavailable(u16),
    /// No answer within the timeout, or no connection.
    #[error("webhook unreachable")]
    Unreachable(#[source] reqwest::Error),
    /// Any other 4xx: this request will never be taken.
    #[error("webhook refused the call with {0}")]
    Refused(u16),
    /// A redirect (not followed: a POST must not turn into a GET elsewhere) or
    /// another unexpected status.
    #[error("webhook answered {0}, which is not a success")]
    Unexpected(u16),
}

/// The webhook client: one connection pool.
#[derive(Debug, Clone)]
pub struct Webhook {
    url: WebhookUrl,
    http: reqwest::Client,
}

impl Webhook {
    pub fn new(url: WebhookUrl, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self { url, http }
    }

    /// Sends `body` (JSON); `Ok(status)` for a 2xx.
    pub async fn send(&self, key: HeaderValue, body: Vec<u8>) -> Result<u16, WebhookError> {
        let response = self
            .http
            .post(self.url.0.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("idempotency-key", key)
            .body(body)
            .send()
            .await
            .map_err(|e| WebhookError::Unreachable(e.without_url()))?;
        let status = response.status().as_u16();
        match status {
            200..=299 => Ok(status),
            429 | 500..=599 => Err(WebhookError::Unavailable(status)),
            400..=499 => Err(WebhookError::Refused(status)),
            _ => Err(WebhookError::Unexpected(status)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_never_shown() {
        let url = WebhookUrl::parse("https://hooks.example.com/services/T0/B0/secret").unwrap();
        assert!(!format!("{url:?}").contains("secret"));
        assert_eq!(WebhookUrl::parse(" ").unwrap_err(), UrlError::Missing);
        assert_eq!(
            WebhookUrl::parse("ftp://x/secret").unwrap_err(),
            UrlError::Invalid
        );
        assert_eq!(
            WebhookUrl::parse("not a url secret").unwrap_err(),
            UrlError::Invalid
        );
        assert!(!UrlError::Invalid.to_string().contains("secret"));
    }
}
