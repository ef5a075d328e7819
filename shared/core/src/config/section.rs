//! The sections of the configuration that belong to one function each.
//! hermes-core knows only their names: every function skips the others'
//! sections, and the code that reads a section is its owner's.

use super::error::ConfigError;

/// A function's own section of the shared configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    Counters,
    Dashboard,
    Notify,
    Enrich,
    Quarantine,
    Dev,
}

impl Section {
    pub const ALL: [Section; 6] = [
        Self::Counters,
        Self::Dashboard,
        Self::Notify,
        Self::Enrich,
        Self::Quarantine,
        Self::Dev,
    ];

    /// The table's name in the file: `[counters]`, …
    pub fn name(self) -> &'static str {
        match self {
            Self::Counters => "counters",
            Self::Dashboard => "dashboard",
            Self::Notify => "notify",
            Self::Enrich => "enrich",
            Self::Quarantine => "quarantine",
            Self::Dev => "dev",
        }
    }
}

/// `[jobs.<name>]`: the tables reserved for the user's own push jobs, which
/// every Hermes function skips.
pub const JOBS: &str = "jobs";

/// `value` when it holds more than white space; else an error naming `key`.
pub fn non_empty(key: impl Into<String>, value: String) -> Result<String, ConfigError> {
    if value.trim().is_empty() {
        Err(ConfigError::invalid(key, "must not be empty"))
    } else {
        Ok(value)
    }
}

/// A push job's `events` (`notify.events`, `enrich.events`): the `event_name`
/// attributes it acts on; absent: every event (an empty list). A list given
/// empty is refused — it would read as "none" to whoever wrote it, and mean
/// every event — and so is a blank name. `verb` says what the job does
/// ("notify", "enrich") in the message.
pub fn event_names(
    key: &str,
    verb: &str,
    events: Option<Vec<String>>,
) -> Result<Vec<String>, ConfigError> {
    if events.as_ref().is_some_and(Vec::is_empty) {
        return Err(ConfigError::invalid(
            key,
            format!("must list at least one event_name (leave it out to {verb} every event)"),
        ));
    }
    let events = events.unwrap_or_default();
    if let Some(i) = events.iter().position(|e| e.trim().is_empty()) {
        return Err(ConfigError::invalid(
            format!("{key}[{i}]"),
            "must not be empty",
        ));
    }
    Ok(events)
}

/// Parses a function's own section (`[counters]`, `[dashboard]`, `[dev]`) into its
/// raw settings; unknown keys and wrong types are errors naming the section.
pub fn parse_section<T: serde::de::DeserializeOwned>(
    name: &str,
    section: &toml::Table,
) -> Result<T, ConfigError> {
    toml::Value::Table(section.clone())
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::invalid(name, e.message().replace('\n', " ")))
}
