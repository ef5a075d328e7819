//! Where a Google Cloud REST API is: Google's production host, another
//! endpoint of it named by a setting (a regional endpoint, a Private Service
//! Connect name), or an emulator named by an environment variable (plain
//! HTTP), and the auth that goes with it.

use super::auth::{Auth, AuthError};
use reqwest::Url;

/// A REST endpoint and its auth.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Scheme and authority, no trailing slash: `https://pubsub.googleapis.com`.
    pub base: String,
    pub auth: Auth,
}

/// The variables that choose one API's endpoint.
#[derive(Debug, Clone, Copy)]
pub struct EndpointVars {
    /// An emulator's `host:port` (`PUBSUB_EMULATOR_HOST`): plain HTTP, the emulator's auth.
    pub emulator: &'static str,
    /// Another endpoint of the real API (`HERMES_PUBSUB_ENDPOINT`): an https
    /// URL, Google credentials on.
    pub endpoint: &'static str,
    /// Google's production host.
    pub production: &'static str,
}

fn env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|h| !h.trim().is_empty())
}

impl Endpoint {
    /// The emulator named by `var` (`host:port`, as Google's clients take it), if set.
    pub fn emulator_from_env(var: &str, auth: Auth) -> Option<Self> {
        let host = env(var)?;
        let host = host.trim().trim_end_matches('/');
        let base = if host.starts_with("http://") || host.starts_with("https://") {
            host.to_string()
        } else {
            format!("http://{host}")
        };
        Some(Self { base, auth })
    }

    /// The base URL of an endpoint setting: https, or plain http to this
    /// machine only (a test's recording endpoint), since a Google access token
    /// goes with every call; no query or fragment.
    pub fn parse_base(var: &'static str, value: &str) -> Result<String, AuthError> {
        let fail = |reason: &str| AuthError::Setting {
            var,
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let url = Url::parse(value.trim()).map_err(|e| fail(&format!("not a URL: {e}")))?;
        let Some(host) = url.host_str() else {
            return Err(fail("names no host"));
        };
        let loopback = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(fail(
                    "must be an https URL (an access token goes with each call)",
                ))
            }
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(fail("must have no query or fragment"));
        }
        Ok(url.as_str().trim_end_matches('/').to_string())
    }

    /// The emulator when `vars.emulator` is set; else `vars.endpoint` or
    /// Google's production host, with Application Default Credentials. Both
    /// set is refused: which one was meant cannot be told.
    pub async fn from_env(vars: EndpointVars, emulator_auth: Auth) -> Result<Self, AuthError> {
        let endpoint = env(vars.endpoint);
        if let Some(emulator) = Self::emulator_from_env(vars.emulator, emulator_auth) {
            if let Some(value) = endpoint {
                return Err(AuthError::Setting {
                    var: vars.endpoint,
                    value,
                    reason: format!("is set together with {}: set one of them", vars.emulator),
                });
            }
            return Ok(emulator);
        }
        let base = match endpoint {
            Some(value) => Self::parse_base(vars.endpoint, &value)?,
            None => vars.production.to_string(),
        };
        Ok(Self {
            base,
            auth: Auth::google().await?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Endpoint;

    const VAR: &str = "HERMES_PUBSUB_ENDPOINT";

    #[test]
    fn an_endpoint_setting_is_https_or_loopback_http() {
        let ok = |v: &str| Endpoint::parse_base(VAR, v).expect(v);
        assert_eq!(
            ok("https://europe-west1-pubsub.googleapis.com/"),
            "https://europe-west1-pubsub.googleapis.com"
        );
        assert_eq!(
            ok("https://pubsub-hermes.p.googleapis.com"),
            "https://pubsub-hermes.p.googleapis.com"
        );
        assert_eq!(ok("http://127.0.0.1:8085"), "http://127.0.0.1:8085");
        assert_eq!(ok("http://localhost:8085/"), "http://localhost:8085");
        for bad in [
            "http://pubsub.example.com",
            "europe-west1-pubsub.googleapis.com",
            "https://pubsub.googleapis.com/?x=1",
            "ftp://127.0.0.1",
        ] {
            let e = Endpoint::parse_base(VAR, bad).expect_err(bad).to_string();
            assert!(e.starts_with(&format!("{VAR}=")), "{e}");
        }
    }
}
