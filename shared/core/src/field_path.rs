//! [`FieldPath`]: a dotted path into an event (`items.0.quantity`), parsed
//! once from the configuration.

use crate::json::Json;

/// The Common Event Data object of personal data.
pub const PERSONAL_FIELD: &str = "user_data";

/// A dotted path (`items.0.quantity`); numeric segments index arrays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    text: String,
    segments: Vec<String>,
}

impl FieldPath {
    pub fn parse(text: &str) -> Option<Self> {
        if text.is_empty() || text.split('.').any(str::is_empty) {
            return None;
        }
        Some(Self {
            text: text.to_string(),
            segments: text.split('.').map(str::to_string).collect(),
        })
    }

    /// A one-segment path: a top-level field.
    pub fn field(name: &str) -> Self {
        Self {
            text: name.to_string(),
            segments: vec![name.to_string()],
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The path's segments, in order (`items`, `0`, `quantity`).
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().map(String::as_str)
    }

    /// Whether the path is inside `user_data`, whose values no error text quotes.
    pub fn is_personal(&self) -> bool {
        self.segments.first().is_some_and(|s| s == PERSONAL_FIELD)
    }

    /// The value at this path; `None` when any segment is missing or the value is null.
    pub fn lookup<'v, 'a>(&self, root: &'v Json<'a>) -> Option<&'v Json<'a>> {
        let mut cur = root;
        for seg in &self.segments {
            cur = match cur {
                Json::Object(_) => cur.get(seg)?,
                Json::Array(items) => items.get(seg.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        (!cur.is_null()).then_some(cur)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_index_arrays() {
        let event = crate::json::parse(r#"{"items": [{"quantity": 3}], "n": null}"#).unwrap();
        let p = FieldPath::parse("items.0.quantity").unwrap();
        assert_eq!(p.lookup(&event), Some(&Json::Number("3")));
        assert_eq!(
            FieldPath::parse("items.1.quantity").unwrap().lookup(&event),
            None
        );
        assert_eq!(FieldPath::parse("n").unwrap().lookup(&event), None);
        assert!(FieldPath::parse("a..b").is_none());
    }
}
