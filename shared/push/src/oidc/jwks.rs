//! Google's signing keys (JWKS): fetched over HTTP, cached for the
//! `Cache-Control: max-age` Google sends, refetched for an unknown `kid` at
//! most once per `min_refetch_interval`, and kept past their `max-age` for a
//! day while Google cannot be reached. Concurrent requests share one fetch.

use super::token::{echo, AuthFailure};
use crate::decode_base64_lenient;
use hermes_core::error::report;
use jsonwebtoken::DecodingKey;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// JWKS lifetime when the response has no `Cache-Control: max-age`.
const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// Upper bound on any `max-age`.
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
/// How soon a failed fetch is retried when there is no usable key at all.
const FAILED_FETCH_RETRY: Duration = Duration::from_secs(5);
/// How long keys past their `max-age` are still used while Google cannot be reached.
const STALE_GRACE: Duration = Duration::from_secs(24 * 3600);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
pub(super) struct JwksCache {
    keys: RwLock<Option<Arc<KeySet>>>,
    /// Bumped (under `fetch`) each time a fetch ends, success or not.
    generation: AtomicU64,
    fetch: tokio::sync::Mutex<FetchState>,
}

#[derive(Default)]
struct FetchState {
    last_attempt: Option<Instant>,
    /// The error of the last fetch, if it failed.
    last_error: Option<String>,
}

struct KeySet {
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Instant,
    ttl: Duration,
}

impl KeySet {
    fn fresh(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.fetched_at) < self.ttl
    }

    fn usable(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.fetched_at) < self.ttl + STALE_GRACE
    }
}

impl JwksCache {
    fn snapshot(&self) -> Option<Arc<KeySet>> {
        match self.keys.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn store(&self, set: KeySet) {
        let set = Some(Arc::new(set));
        match self.keys.write() {
            Ok(mut g) => *g = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
    }

    /// The key for `kid`, fetching the JWKS when the cache is empty, expired, or
    /// (rate-limited) does not know `kid`.
    pub(super) async fn key(
        &self,
        http: &reqwest::Client,
        url: &str,
        min_refetch_interval: Duration,
        kid: &str,
    ) -> Result<Arc<DecodingKey>, AuthFailure> {
        let seen = self.generation.load(Ordering::Acquire);
        if let Some(set) = self.snapshot() {
            if set.fresh(Instant::now()) {
                if let Some(k) = set.keys.get(kid) {
                    return Ok(k.clone());
                }
            }
        }

        let mut state = self.fetch.lock().await;
        let now = Instant::now();
        let snapshot = self.snapshot();
        let usable = |set: &Option<Arc<KeySet>>| {
            set.as_ref()
                .filter(|s| s.usable(now))
                .and_then(|s| s.keys.get(kid).cloned())
        };

        // A fetch ended while we waited for the lock: its outcome is ours too.
        if self.generation.load(Ordering::Acquire) != seen {
            return match (usable(&snapshot), &state.last_error) {
                (Some(k), _) => Ok(k),
                (None, Some(e)) => Err(AuthFailure::JwksUnavailable(e.clone())),
                (None, None) => Err(AuthFailure::UnknownKey(echo(kid))),
            };
        }

        let fresh = snapshot.as_ref().is_some_and(|s| s.fresh(now));
        if fresh {
            if let Some(k) = snapshot.as_ref().and_then(|s| s.keys.get(kid)) {
                return Ok(k.clone());
            }
        }
        let since_attempt = state.last_attempt.map(|t| now.saturating_duration_since(t));
        let within = |d: Duration| since_attempt.is_some_and(|s| s < d);
        if within(min_refetch_interval) {
            // Recently fetched (or tried to): do not refetch for an unknown kid.
            if let Some(e) = &state.last_error {
                if let Some(k) = usable(&snapshot) {
                    return Ok(k);
                }
                if within(FAILED_FETCH_RETRY.min(min_refetch_interval)) {
                    return Err(AuthFailure::JwksUnavailable(e.clone()));
                }
            } else if fresh {
                return Err(AuthFailure::UnknownKey(echo(kid)));
            }
        }

        state.last_attempt = Some(now);
        // The text of the failure is kept: every request that finds no usable
        // key until the next fetch answers with it.
        let result = fetch(http, url, min_refetch_interval)
            .await
            .map_err(|e| report(&e));
        let outcome = match result {
            Ok(set) => {
                state.last_error = None;
                let key = set.keys.get(kid).cloned();
                self.store(set);
                key.ok_or_else(|| AuthFailure::UnknownKey(echo(kid)))
            }
            Err(e) => {
                let outcome = match usable(&snapshot) {
                    Some(k) => {
                        tracing::warn!(
                            jwks_url = %url,
                            error = %e,
                            "could not refresh Google's signing keys; using cached keys past their max-age"
                        );
                        Ok(k)
                    }
                    None => Err(AuthFailure::JwksUnavailable(e.clone())),
                };
                state.last_error = Some(e);
                outcome
            }
        };
        self.generation.fetch_add(1, Ordering::AcqRel);
        drop(state);
        outcome
    }
}

/// Why Google's keys could not be had.
#[derive(Debug, thiserror::Error)]
enum JwksError {
    #[error("GET {url}")]
    Request {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("GET {url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("GET {url}: not a JWKS")]
    NotJwks {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("GET {url}: JWKS has no RS256 signing key")]
    NoKey { url: String },
}

/// What [`parse_jwks`] found wrong, before the URL is known.
#[derive(Debug)]
enum BadJwks {
    NotJwks(serde_json::Error),
    NoKey,
}

async fn fetch(
    http: &reqwest::Client,
    url: &str,
    min_refetch_interval: Duration,
) -> Result<KeySet, JwksError> {
    let request = |source| JwksError::Request {
        url: url.to_string(),
        source,
    };
    let resp = http
        .get(url)
        .timeout(FETCH_TIMEOUT)
        .send()
        .await
        .map_err(request)?;
    let status = resp.status();
    let max_age = resp
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_max_age);
    let body = resp.bytes().await.map_err(request)?;
    if !status.is_success() {
        return Err(JwksError::Status {
            url: url.to_string(),
            status: status.as_u16(),
        });
    }
    let keys = parse_jwks(&body).map_err(|e| match e {
        BadJwks::NotJwks(source) => JwksError::NotJwks {
            url: url.to_string(),
            source,
        },
        BadJwks::NoKey => JwksError::NoKey {
            url: url.to_string(),
        },
    })?;
    let ttl = max_age
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TTL)
        .min(MAX_TTL)
        .max(min_refetch_interval);
    tracing::debug!(jwks_url = %url, keys = keys.len(), ttl_s = ttl.as_secs(), "fetched signing keys");
    Ok(KeySet {
        keys,
        fetched_at: Instant::now(),
        ttl,
    })
}

/// `max-age` of a `Cache-Control` value; `no-cache`/`no-store` count as 0.
fn parse_max_age(value: &str) -> Option<u64> {
    let mut max_age = None;
    for directive in value.split(',') {
        let directive = directive.trim();
        let (name, arg) = directive.split_once('=').unwrap_or((directive, ""));
        let name = name.trim();
        if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store") {
            return Some(0);
        }
        if name.eq_ignore_ascii_case("max-age") {
            max_age = arg.trim().trim_matches('"').parse().ok();
        }
    }
    max_age
}

/// The RS256 signing keys of a JWKS, by `kid`; other keys are skipped.
fn parse_jwks(body: &[u8]) -> Result<HashMap<String, Arc<DecodingKey>>, BadJwks> {
    #[derive(serde::Deserialize)]
    struct Wire {
        keys: Vec<serde_json::Value>,
    }
    #[derive(serde::Deserialize)]
    struct WireKey {
        #[serde(default)]
        kty: Option<String>,
        #[serde(default)]
        kid: Option<String>,
        #[serde(default)]
        alg: Option<String>,
        #[serde(default, rename = "use")]
        use_: Option<String>,
        #[serde(default)]
        n: Option<String>,
        #[serde(default)]
        e: Option<String>,
    }
    let wire: Wire = serde_json::from_slice(body).map_err(BadJwks::NotJwks)?;
    let mut keys = HashMap::new();
    for value in wire.keys {
        let Ok(k) = serde_json::from_value::<WireKey>(value) else {
            continue;
        };
        let rsa_sig = k.kty.as_deref() == Some("RSA")
            && k.alg.as_deref().is_none_or(|a| a == "RS256")
            && k.use_.as_deref().is_none_or(|u| u == "sig");
        let (true, Some(kid), Some(n), Some(e)) = (rsa_sig, k.kid, k.n, k.e) else {
            continue;
        };
        let (Ok(n), Ok(e)) = (decode_base64_lenient(&n), decode_base64_lenient(&e)) else {
            continue;
        };
        if n.is_empty() || e.is_empty() {
            continue;
        }
        keys.insert(kid, Arc::new(DecodingKey::from_rsa_raw_components(&n, &e)));
    }
    if keys.is_empty() {
        return Err(BadJwks::NoKey);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age() {
        assert_eq!(
            parse_max_age("public, max-age=19549, must-revalidate"),
            Some(19549)
        );
        assert_eq!(parse_max_age("no-store"), Some(0));
        assert_eq!(parse_max_age("public"), None);
        assert_eq!(parse_max_age("Max-Age = 5"), Some(5));
    }
}
