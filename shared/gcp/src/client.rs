//! The HTTP client every call to Google shares. A leaf module: it imports
//! nothing of this crate.

use std::time::Duration;

/// One shared HTTP client (connection pool, rustls with the system roots).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(Duration::from_secs(90))
        .user_agent(concat!("hermes/", env!("CARGO_PKG_VERSION")))
        .build()
        // Building only fails when the TLS backend cannot start, which is a broken build.
        .unwrap_or_else(|_| reqwest::Client::new())
}
