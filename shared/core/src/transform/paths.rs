//! Transform paths: dotted, with `*` for every element of an array
//! (`items.*.customer_email`); a numeric segment indexes an array or names an
//! object key, as in the mapping's paths.

use crate::json::Json;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    /// `*`: every element of an array.
    Each,
}

/// A parsed transform path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformPath {
    text: String,
    segments: Vec<Segment>,
}

impl TransformPath {
    /// `None` for an empty path or an empty segment (`a..b`).
    pub fn parse(text: &str) -> Option<Self> {
        if text.is_empty() || text.split('.').any(str::is_empty) {
            return None;
        }
        let segments = text
            .split('.')
            .map(|s| match s {
                "*" => Segment::Each,
                key => Segment::Key(key.to_string()),
            })
            .collect();
        Some(Self {
            text: text.to_string(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The path's segments, in order: `Some(key)` (a numeric key also indexes
    /// an array), `None` for `*` (every element of an array).
    pub fn segments(&self) -> impl Iterator<Item = Option<&str>> {
        self.segments.iter().map(|s| match s {
            Segment::Key(k) => Some(k.as_str()),
            Segment::Each => None,
        })
    }

    /// The last segment naming a field (not `*`, not an array index): what
    /// decides how a hashed value is normalised.
    pub fn last_field(&self) -> Option<&str> {
        self.segments.iter().rev().find_map(|s| match s {
            Segment::Key(k) if k.parse::<usize>().is_err() => Some(k.as_str()),
            _ => None,
        })
    }

    /// Calls `f` on every value the path reaches (null included).
    pub fn for_each_mut(&self, root: &mut Json<'_>, f: &mut dyn FnMut(&mut Json<'_>)) {
        visit(root, &self.segments, f);
    }

    /// Removes every value the path reaches: an object key, an array element
    /// (`items.1`), or every element (`items.*`).
    pub fn remove(&self, root: &mut Json<'_>) {
        let Some((last, parents)) = self.segments.split_last() else {
            return;
        };
        visit(root, parents, &mut |parent| match (parent, last) {
            (parent @ Json::Object(_), Segment::Key(k)) => parent.remove(k),
            (Json::Array(items), Segment::Key(k)) => {
                if let Some(i) = k.parse::<usize>().ok().filter(|i| *i < items.len()) {
                    items.remove(i);
                }
            }
            (Json::Array(items), Segment::Each) => items.clear(),
            _ => {}
        });
    }
}

fn visit(value: &mut Json<'_>, segments: &[Segment], f: &mut dyn FnMut(&mut Json<'_>)) {
    let Some((first, rest)) = segments.split_first() else {
        f(value);
        return;
    };
    match (value, first) {
        (value @ Json::Object(_), Segment::Key(k)) => {
            if let Some(v) = value.get_mut(k) {
                visit(v, rest, f);
            }
        }
        (Json::Array(items), Segment::Key(k)) => {
            if let Some(v) = k.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                visit(v, rest, f);
            }
        }
        (Json::Array(items), Segment::Each) => {
            for v in items {
                visit(v, rest, f);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::tests::leaked;
    use serde_json::json;

    fn path(p: &str) -> TransformPath {
        TransformPath::parse(p).unwrap()
    }

    #[test]
    fn wildcards_reach_every_element() {
        let mut v = leaked(&json!({"items": [{"e": "a"}, {"e": "b"}, {"x": 1}, 5]}));
        let mut seen = Vec::new();
        path("items.*.e").for_each_mut(&mut v, &mut |v| seen.push(v.to_value()));
        assert_eq!(seen, vec![json!("a"), json!("b")]);
        path("items.*.e").remove(&mut v);
        assert_eq!(v.to_value(), json!({"items": [{}, {}, {"x": 1}, 5]}));
    }

    #[test]
    fn removal_keeps_the_order_of_other_keys() {
        let mut v = leaked(&json!({"a": 1, "b": 2, "c": 3, "l": [1, 2, 3]}));
        path("b").remove(&mut v);
        path("l.1").remove(&mut v);
        assert_eq!(v.to_vec(), br#"{"a":1,"c":3,"l":[1,3]}"#);
        path("l.*").remove(&mut v);
        assert_eq!(v.get("l"), Some(&Json::Array(Vec::new())));
    }

    #[test]
    fn last_field_skips_indices_and_wildcards() {
        assert_eq!(
            path("user_data.email_address").last_field(),
            Some("email_address")
        );
        assert_eq!(path("user_data.phone.*").last_field(), Some("phone"));
        assert_eq!(path("a.0").last_field(), Some("a"));
        assert_eq!(path("*").last_field(), None);
        assert!(TransformPath::parse("a..b").is_none());
        assert!(TransformPath::parse("").is_none());
    }
}
