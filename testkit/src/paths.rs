//! Where things are: the workspace root, its target directory, and the test
//! peers `scripts/install-test-tools` installs. A leaf module.

use std::path::{Path, PathBuf};

/// The workspace root: the kit lives one level below it, whichever package's test runs.
pub fn repo_root() -> PathBuf {
    let kit = Path::new(env!("CARGO_MANIFEST_DIR"));
    kit.parent().unwrap_or(kit).to_path_buf()
}

/// The workspace's target directory (`CARGO_TARGET_DIR`, relative to the root, or `target/`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(|t| repo_root().join(t))
        .unwrap_or_else(|| repo_root().join("target"))
}

/// Where `scripts/install-test-tools` puts the test peers (`HERMES_TOOLS` overrides).
pub fn tools_dir() -> PathBuf {
    std::env::var_os("HERMES_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".tools"))
}
