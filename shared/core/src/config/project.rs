//! The Google Cloud project the functions run in.

pub const ENV_PROJECT: &str = "GOOGLE_CLOUD_PROJECT";

/// `GOOGLE_CLOUD_PROJECT`, when set and not empty.
pub fn project_from_env() -> Option<String> {
    std::env::var(ENV_PROJECT).ok().filter(|s| !s.is_empty())
}
