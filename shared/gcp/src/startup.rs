//! [`StartupError`]: why a function cannot start — its configuration, or
//! Google credentials.

use crate::auth::AuthError;
use hermes_core::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Auth(#[from] AuthError),
}
