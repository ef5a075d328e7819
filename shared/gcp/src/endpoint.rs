//! Where a Google Cloud REST API is: Google's production host, or an emulator
//! named by an environment variable (plain HTTP), and the auth that goes with it.

use super::auth::{Auth, AuthError};

/// A REST endpoint and its auth.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Scheme and authority, no trailing slash: `https://pubsub.googleapis.com`.
    pub base: String,
    pub auth: Auth,
}

impl Endpoint {
    /// The emulator named by `var` (`host:port`, as Google's clients take it), if set.
    pub fn emulator_from_env(var: &str, auth: Auth) -> Option<Self> {
        let host = std::env::var(var).ok().filter(|h| !h.trim().is_empty())?;
        let host = host.trim().trim_end_matches('/');
        let base = if host.starts_with("http://") || host.starts_with("https://") {
            host.to_string()
        } else {
            format!("http://{host}")
        };
        Some(Self { base, auth })
    }

    /// The emulator when `var` is set, else Google's production host with ADC.
    pub async fn from_env(
        var: &str,
        production: &str,
        emulator_auth: Auth,
    ) -> Result<Self, AuthError> {
        match Self::emulator_from_env(var, emulator_auth) {
            Some(e) => Ok(e),
            None => Ok(Self {
                base: production.to_string(),
                auth: Auth::google().await?,
            }),
        }
    }
}
