//! The enriched event: the payload's own tree with each enrichment's value
//! set at its key. Only the keys written change: every other value keeps its
//! exact text (numbers as written, escapes as sent), as ingest's whole-event
//! payloads do.

use hermes_core::field_path::FieldPath;
use hermes_core::json::{self, Json, Str};
use serde_json::Value;

/// Writes `additions` into `event` (an object) and returns the compact JSON,
/// with the keys that could not be written: a key whose path runs through a
/// value that is not an object (`into = "a.b"` where `a` is a string).
pub fn write(event: Json<'_>, additions: &[(&FieldPath, Value)]) -> (Vec<u8>, Vec<String>) {
    // The added values live in `texts`; the tree borrows from both it and the payload.
    let texts: Vec<String> = additions.iter().map(|(_, v)| v.to_string()).collect();
    let mut tree: Json<'_> = event;
    let mut refused = Vec::new();
    for ((path, _), text) in additions.iter().zip(&texts) {
        // serde_json's output is JSON; a parse failure would be a bug, and skips the key.
        let Ok(value) = json::parse(text) else {
            refused.push(path.as_str().to_string());
            continue;
        };
        if !set(&mut tree, path, value) {
            refused.push(path.as_str().to_string());
        }
    }
    (tree.to_vec(), refused)
}

/// Sets `value` at `path`, making the objects on the way that are missing; a
/// key that is there is replaced. `false` when a value on the way is not an
/// object (nothing is changed then).
fn set<'a>(root: &mut Json<'a>, path: &FieldPath, value: Json<'a>) -> bool {
    let segments: Vec<&str> = path.as_str().split('.').collect();
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    // Check first, so that a refused key leaves no empty object behind.
    let mut probe: &Json<'a> = root;
    for seg in parents {
        match probe {
            Json::Object(_) => match probe.get(seg) {
                Some(next) => probe = next,
                None => break,
            },
            _ => return false,
        }
    }
    if !matches!(probe, Json::Object(_)) {
        return false;
    }
    let mut cur = root;
    for seg in parents {
        match entry(cur, seg, || Json::Object(Vec::new())) {
            Some(next) => cur = next,
            None => return false,
        }
    }
    match entry(cur, last, || Json::Null) {
        Some(slot) => {
            *slot = value;
            true
        }
        None => false,
    }
}

/// The value of `key` in an object (the last one when repeated, as readers
/// take it), added with `empty()` when missing; `None` when `obj` is not an object.
fn entry<'v, 'a>(
    obj: &'v mut Json<'a>,
    key: &str,
    empty: impl FnOnce() -> Json<'a>,
) -> Option<&'v mut Json<'a>> {
    let Json::Object(entries) = obj else {
        return None;
    };
    let at = match entries.iter().rposition(|(k, _)| k.is(key)) {
        Some(i) => i,
        None => {
            entries.push((Str::Owned(key.into()), empty()));
            entries.len() - 1
        }
    };
    entries.get_mut(at).map(|e| &mut e.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path(p: &str) -> FieldPath {
        FieldPath::parse(p).unwrap()
    }

    fn run(text: &str, additions: &[(&FieldPath, Value)]) -> (String, Vec<String>) {
        let (bytes, refused) = write(json::parse(text).unwrap(), additions);
        (String::from_utf8(bytes).unwrap(), refused)
    }

    #[test]
    fn untouched_values_keep_their_text() {
        let text =
            r#"{"value":1.10,"big":18446744073709551616,"name":"caf\u00e9","n":-0,"e":1E400}"#;
        let (out, refused) = run(text, &[(&path("customer"), json!({"segment": "gold"}))]);
        assert!(refused.is_empty());
        assert_eq!(
            out,
            r#"{"value":1.10,"big":18446744073709551616,"name":"caf\u00e9","n":-0,"e":1E400,"customer":{"segment":"gold"}}"#
        );
    }

    #[test]
    fn nested_keys_are_made_and_existing_keys_replaced() {
        let (out, _) = run(
            r#"{"ctx":{"a":1},"device":"old"}"#,
            &[
                (&path("ctx.geo.country"), json!("GB")),
                (&path("device"), json!({"is_bot": false})),
            ],
        );
        assert_eq!(
            out,
            r#"{"ctx":{"a":1,"geo":{"country":"GB"}},"device":{"is_bot":false}}"#
        );
    }

    #[test]
    fn a_path_through_a_scalar_is_refused_and_changes_nothing() {
        let (out, refused) = run(r#"{"a":"text"}"#, &[(&path("a.b.c"), json!(1))]);
        assert_eq!(out, r#"{"a":"text"}"#);
        assert_eq!(refused, vec!["a.b.c".to_string()]);
        // Through an array too: into writes object keys only.
        let (out, refused) = run(r#"{"a":[1]}"#, &[(&path("a.0"), json!(1))]);
        assert_eq!(out, r#"{"a":[1]}"#);
        assert_eq!(refused.len(), 1);
    }

    #[test]
    fn a_repeated_key_gets_the_value_readers_take() {
        let (out, _) = run(r#"{"k":1,"k":2}"#, &[(&path("k"), json!(3))]);
        assert_eq!(out, r#"{"k":1,"k":3}"#);
    }
}
