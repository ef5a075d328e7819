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
    /// An invalid value at `key`. Both may quote the configuration (a topic
    /// name, a key): control characters are written escaped (`\n`), so the
    /// error stays one line whatever the file holds.
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            key: one_line(key.into()),
            message: one_line(message.into()),
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

/// `text` with its control characters escaped as Rust writes them (`\n`,
/// `\u{1b}`); unchanged (not copied) when it has none.
fn one_line(text: String) -> String {
    if !text.chars().any(char::is_control) {
        return text;
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the configuration fuzz target: a topic name with a newline
    /// made a two-line error.
    #[test]
    fn errors_are_one_line_whatever_they_quote() {
        let e = ConfigError::invalid(
            "destinations[0].topic",
            "\"]ev\nts\" is not a topic\r\u{1b}",
        );
        let line = e.to_string();
        assert!(
            !line.contains('\n') && !line.contains('\r') && !line.contains('\u{1b}'),
            "{line}"
        );
        assert!(line.contains("]ev\\nts"), "{line}");
        let text = "[[destinations]]\nname = \"e\"\ntopic = \"]ev\\nts\"\n";
        let err = crate::config::Config::parse(text, Some("p"))
            .unwrap_err()
            .to_string();
        assert!(!err.contains('\n'), "{err}");
    }
}
