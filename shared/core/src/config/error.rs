//! [`ConfigError`]: why a configuration cannot be used, as one line naming
//! the key. A leaf module, so that every section's parser can use it.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("HERMES_CONFIG and HERMES_CONFIG_TOML are both set: set only one")]
    BothSources,
    #[error("HERMES_CONFIG: cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("invalid configuration at line {line} (`{text}`): {message}")]
    Syntax {
        line: usize,
        text: String,
        message: String,
    },
    #[error("invalid configuration: `{key}`: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }

    /// Maps a TOML / serde error onto the line (and so the key) it points at.
    pub fn from_toml(source: &str, err: &toml::de::Error) -> Self {
        let message = err.message().replace('\n', " ");
        match err.span() {
            Some(span) => {
                let start = span.start.min(source.len());
                let line = source[..start].matches('\n').count() + 1;
                let text = source.lines().nth(line - 1).unwrap_or("").trim();
                let text = crate::excerpt::preview(text, 80);
                Self::Syntax {
                    line,
                    text,
                    message,
                }
            }
            None => Self::invalid("(document)", message),
        }
    }
}
