//! [`TopicName`]: a Pub/Sub topic's full name, checked once against Google's
//! resource naming rules (Pub/Sub docs, "Resource names").

use crate::config::ENV_PROJECT;
use std::fmt;

/// `projects/{project}/topics/{id}`, valid by construction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicNameError {
    #[error("\"{0}\" is a bare topic id: write projects/PROJECT/topics/{0} or set {ENV_PROJECT}")]
    BareId(String),
    #[error("\"{0}\" is not projects/PROJECT/topics/TOPIC")]
    NotAName(String),
    #[error("project \"{project}\" {reason}")]
    Project {
        project: String,
        reason: &'static str,
    },
    #[error("topic id \"{id}\" {reason}")]
    Id { id: String, reason: &'static str },
}

impl TopicName {
    /// A full name, or a bare topic id completed with `project`.
    pub fn parse(topic: &str, project: Option<&str>) -> Result<Self, TopicNameError> {
        let (project, id) = match topic.split('/').collect::<Vec<_>>().as_slice() {
            ["projects", p, "topics", id] => (p.to_string(), id.to_string()),
            [id] => match project {
                Some(p) => (p.to_string(), id.to_string()),
                None => return Err(TopicNameError::BareId(topic.to_string())),
            },
            _ => return Err(TopicNameError::NotAName(topic.to_string())),
        };
        if let Err(reason) = check_project_id(&project) {
            return Err(TopicNameError::Project { project, reason });
        }
        if let Err(reason) = check_resource_id(&id) {
            return Err(TopicNameError::Id { id, reason });
        }
        Ok(Self(format!("projects/{project}/topics/{id}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The project part.
    pub fn project(&self) -> &str {
        self.0.split('/').nth(1).unwrap_or_default()
    }

    /// The topic id, the last part.
    pub fn id(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or_default()
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Google Cloud project id, as resource names hold it; why not otherwise.
pub fn check_project_id(p: &str) -> Result<(), &'static str> {
    // Also allows domain-scoped ids (`example.com:proj`).
    if p.is_empty()
        || !p
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | ':'))
    {
        return Err("must be lowercase letters, digits and hyphens");
    }
    Ok(())
}

/// Pub/Sub resource ids: 3–255 characters, start with a letter, letters, digits and `-_.~+%`,
/// not starting with `goog`.
pub fn check_resource_id(id: &str) -> Result<(), &'static str> {
    if !(3..=255).contains(&id.len()) {
        return Err("must be 3 to 255 characters long");
    }
    if !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err("must start with a letter");
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+' | '%'))
    {
        return Err("may hold only letters, digits and - _ . ~ + %");
    }
    if id.starts_with("goog") {
        return Err("must not start with \"goog\"");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::TopicName;

    #[test]
    fn bare_topic_needs_project() {
        let t = TopicName::parse("events", Some("p-1")).unwrap();
        assert_eq!(t.as_str(), "projects/p-1/topics/events");
        assert_eq!((t.project(), t.id()), ("p-1", "events"));
        assert!(TopicName::parse("events", None).is_err());
        assert!(TopicName::parse("projects/p/topics/1abc", None).is_err());
        assert!(TopicName::parse("projects/p/topics/goog-x", None).is_err());
    }
}
