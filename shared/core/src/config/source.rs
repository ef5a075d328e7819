//! Where the configuration and its secrets come from: `HERMES_CONFIG` (a
//! path) or `HERMES_CONFIG_TOML` (the text), and `HERMES_HASH_KEY`.

use super::error::ConfigError;
use crate::transform::ENV_HASH_KEY;

pub const ENV_CONFIG_PATH: &str = "HERMES_CONFIG";
pub const ENV_CONFIG_TOML: &str = "HERMES_CONFIG_TOML";

/// Reads the configuration text named by the environment; `None` when neither variable is set.
pub fn source_from_env() -> Result<Option<String>, ConfigError> {
    let path = std::env::var(ENV_CONFIG_PATH)
        .ok()
        .filter(|s| !s.is_empty());
    let text = std::env::var(ENV_CONFIG_TOML).ok();
    match (path, text) {
        (Some(_), Some(_)) => Err(ConfigError::BothSources),
        (Some(path), None) => {
            std::fs::read_to_string(&path)
                .map(Some)
                .map_err(|e| ConfigError::Unreadable {
                    path,
                    reason: e.to_string(),
                })
        }
        (None, text) => Ok(text),
    }
}

/// The raw bytes of `HERMES_HASH_KEY`, when set.
pub(crate) fn hash_key_from_env() -> Option<Vec<u8>> {
    let value = std::env::var_os(ENV_HASH_KEY)?;
    #[cfg(unix)]
    let bytes = std::os::unix::ffi::OsStringExt::into_vec(value);
    #[cfg(not(unix))]
    let bytes = value.to_string_lossy().into_owned().into_bytes();
    Some(bytes)
}
