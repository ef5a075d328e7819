//! Why Google credentials cannot be had, and the names they are found by. A
//! leaf module: it imports nothing of this crate.

use std::path::PathBuf;

pub const SCOPE_CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
pub const ENV_CREDENTIALS: &str = "GOOGLE_APPLICATION_CREDENTIALS";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no Google credentials found (Application Default Credentials)")]
    NoCredentials(#[source] gcp_auth::Error),
    /// A credentials file that cannot work: which file, and why.
    #[error("{ENV_CREDENTIALS}={}: {reason}", .file.display())]
    File { file: PathBuf, reason: String },
    #[error("could not get an access token")]
    Token(#[source] gcp_auth::Error),
    /// A step of a token Hermes gets itself failed.
    #[error("could not get an access token: {step} ({url}): {reason}")]
    Fetch {
        step: &'static str,
        url: String,
        reason: String,
    },
    /// An endpoint setting that cannot be used.
    #[error("{var}={value:?}: {reason}")]
    Setting {
        var: &'static str,
        value: String,
        reason: String,
    },
    #[error("timed out getting an access token")]
    Timeout,
}

impl AuthError {
    pub(crate) fn fetch(step: &'static str, url: &str, reason: String) -> Self {
        Self::Fetch {
            step,
            url: url.to_string(),
            reason,
        }
    }
}
