//! Tokens Hermes gets itself (an `authorized_user` refresh token, an
//! `external_account`'s exchange), cached until shortly before they expire;
//! one fetch at a time, the callers waiting meanwhile share its token.

use super::error::AuthError;
use crate::client::http_client;
use serde::Deserialize;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A token is renewed this long before it expires (Google's own clients: 3m45s).
const RENEW_BEFORE: Duration = Duration::from_secs(225);

/// How a token is got.
pub(crate) trait Fetch: Send + Sync {
    fn fetch(
        &self,
        http: &reqwest::Client,
    ) -> impl Future<Output = Result<Fetched, AuthError>> + Send;
}

/// An access token and how long it is good for.
pub(crate) struct Fetched {
    pub token: String,
    pub expires_in: Duration,
}

pub(crate) struct Refreshing<F> {
    flow: F,
    http: reqwest::Client,
    cached: tokio::sync::Mutex<Option<(Arc<str>, Instant)>>,
}

impl<F: Fetch> Refreshing<F> {
    pub(crate) fn new(flow: F) -> Self {
        Self {
            flow,
            http: http_client(),
            cached: tokio::sync::Mutex::new(None),
        }
    }

    pub(crate) async fn token(&self) -> Result<Arc<str>, AuthError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, renew_at)) = cached.as_ref() {
            if Instant::now() < *renew_at {
                return Ok(token.clone());
            }
        }
        let fetched = self.flow.fetch(&self.http).await?;
        let life = fetched.expires_in;
        let renew_at = Instant::now() + life.saturating_sub(RENEW_BEFORE).max(life / 2);
        let token: Arc<str> = fetched.token.into();
        *cached = Some((token.clone(), renew_at));
        Ok(token)
    }
}

/// An OAuth 2.0 token answer (Google's token endpoint, STS).
#[derive(Deserialize)]
pub(crate) struct OAuthToken {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl From<OAuthToken> for Fetched {
    fn from(t: OAuthToken) -> Self {
        Self {
            token: t.access_token,
            // STS may leave it out when the token lives as long as its source.
            expires_in: Duration::from_secs(t.expires_in.unwrap_or(3600)),
        }
    }
}

/// `application/x-www-form-urlencoded` of the pairs.
pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Sends `req` and reads a JSON answer; any failure names `step` and `url`.
pub(crate) async fn send_json<T: serde::de::DeserializeOwned>(
    step: &'static str,
    url: &str,
    req: reqwest::RequestBuilder,
) -> Result<T, AuthError> {
    let text = send_text(step, url, req).await?;
    serde_json::from_str(&text).map_err(|e| AuthError::fetch(step, url, e.to_string()))
}

/// Sends `req` and reads a 2xx answer as text.
pub(crate) async fn send_text(
    step: &'static str,
    url: &str,
    req: reqwest::RequestBuilder,
) -> Result<String, AuthError> {
    let resp = req
        .send()
        .await
        .map_err(|e| AuthError::fetch(step, url, hermes_core::error::report(&e)))?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .map_err(|e| AuthError::fetch(step, url, e.to_string()))?;
    if !status.is_success() {
        return Err(AuthError::fetch(
            step,
            url,
            format!(
                "HTTP {}: {}",
                status.as_u16(),
                hermes_core::excerpt::preview(&text, 300)
            ),
        ));
    }
    Ok(text)
}
