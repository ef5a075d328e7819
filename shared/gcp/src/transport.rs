//! One way to call a Google REST API: a shared connection pool, the
//! `Authorization` header, a deadline over all attempts, and retries of what
//! Google classes as transient ([`ErrorClass`]).

use super::api_error::{ApiError, ErrorClass};
use super::auth::AuthError;
use super::client::http_client;
use super::endpoint::Endpoint;
use super::retry::{retry, Attempt, Backoff, GaveUp};
use bytes::Bytes;
use reqwest::{Method, Url};
use std::time::Duration;
use tokio::time::Instant;

/// Why one attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("unreachable")]
    Unreachable(#[source] reqwest::Error),
    #[error("reading the answer")]
    Read(#[source] reqwest::Error),
    #[error("HTTP {http} {api}")]
    Api { http: u16, api: ApiError },
}

impl AttemptError {
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Auth(_) | Self::Unreachable(_) | Self::Read(_) => ErrorClass::Transient,
            Self::Api { http, api } => api.class(*http),
        }
    }

    /// Google's error object, when the API answered with one.
    pub fn api(&self) -> Option<(u16, &ApiError)> {
        match self {
            Self::Api { http, api } => Some((*http, api)),
            _ => None,
        }
    }
}

/// Why a call gave up.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// An answer that retrying will not change: [`ErrorClass::Permanent`] or
    /// [`ErrorClass::Conflict`].
    #[error(transparent)]
    Rejected(AttemptError),
    /// Out of time, with the last transient error, if any.
    #[error("deadline of {}ms passed", .budget.as_millis())]
    Deadline {
        budget: Duration,
        #[source]
        last: Option<Box<AttemptError>>,
    },
}

impl CallError {
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Rejected(e) => e.class(),
            Self::Deadline { .. } => ErrorClass::Transient,
        }
    }

    /// The service refused the content for its size ([`ApiError::is_too_large`]).
    pub fn is_too_large(&self) -> bool {
        match self {
            Self::Rejected(e) => e.api().is_some_and(|(_, api)| api.is_too_large()),
            Self::Deadline { .. } => false,
        }
    }
}

/// A point in time a call (retries and pages included) must finish by, and
/// the budget it was given, for the error message.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    pub at: Instant,
    pub budget: Duration,
}

impl Deadline {
    pub fn after(budget: Duration) -> Self {
        Self {
            at: Instant::now() + budget,
            budget,
        }
    }
}

/// A Google REST API client's transport.
#[derive(Debug, Clone)]
pub struct Transport {
    http: reqwest::Client,
    endpoint: Endpoint,
    /// `endpoint.base` parsed once: parsing the whole URL on every request
    /// (host, IDNA) was a measurable share of a publish's CPU time.
    base: Option<Url>,
    backoff: Backoff,
}

impl Transport {
    pub fn new(endpoint: Endpoint) -> Self {
        let base = Url::parse(&endpoint.base)
            .ok()
            .filter(|u| !u.cannot_be_a_base() && u.query().is_none() && u.fragment().is_none());
        Self {
            http: http_client(),
            endpoint,
            base,
            backoff: Backoff::default(),
        }
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.endpoint.base
    }

    /// `base` + `path` (which starts with `/`); `None` when that is no URL.
    pub fn url(&self, path: &str) -> Option<Url> {
        match &self.base {
            Some(base) => {
                let mut url = base.clone();
                url.set_path(&format!("{}{path}", base.path().trim_end_matches('/')));
                Some(url)
            }
            None => Url::parse(&format!("{}{path}", self.endpoint.base)).ok(),
        }
    }

    /// Sends until a 2xx answer (its body), an answer not worth retrying, or
    /// the deadline. Each attempt gets the time left as its own timeout.
    pub async fn call(
        &self,
        method: Method,
        url: &Url,
        body: Option<Bytes>,
        deadline: Deadline,
    ) -> Result<Bytes, CallError> {
        retry(deadline.at, self.backoff, |left| {
            self.attempt(&method, url, body.as_ref(), left)
        })
        .await
        .map_err(|g| match g {
            GaveUp::Error(e) => CallError::Rejected(e),
            GaveUp::Deadline(last) => CallError::Deadline {
                budget: deadline.budget,
                last: last.map(Box::new),
            },
        })
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&Bytes>,
        left: Duration,
    ) -> Attempt<Bytes, AttemptError> {
        match self.send(method, url, body, left).await {
            Ok(bytes) => Attempt::Done(bytes),
            Err(e) if e.class() == ErrorClass::Transient => Attempt::Retry(e),
            Err(e) => Attempt::Fail(e),
        }
    }

    async fn send(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&Bytes>,
        left: Duration,
    ) -> Result<Bytes, AttemptError> {
        let auth = self.endpoint.auth.header().await?;
        let mut req = self.http.request(method.clone(), url.clone()).timeout(left);
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                // A reference-counted copy: a retry does not copy the body again.
                .body(b.clone());
        }
        if let Some(h) = auth {
            req = req.header(reqwest::header::AUTHORIZATION, h);
        }
        let resp = req.send().await.map_err(AttemptError::Unreachable)?;
        let http = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(AttemptError::Read)?;
        if (200..300).contains(&http) {
            return Ok(bytes);
        }
        Err(AttemptError::Api {
            http,
            api: ApiError::from_body(http, &bytes),
        })
    }
}
