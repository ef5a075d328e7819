//! Notification templates: text with `{{path}}` placeholders, parsed once at
//! start-up. A path is dotted into the event's payload (`items.0.item_name`;
//! numeric segments index arrays) and `.length` of an array (or object, or
//! string) is its size. Numbers render as the payload has them, strings
//! without quotes, `true`/`false`, objects and arrays as compact JSON; a
//! missing value or `null` renders empty. Nothing is evaluated: a value that
//! looks like a placeholder is just text. The rendered text is at most
//! [`MAX_RENDERED_BYTES`], cut on a character boundary and ending in `…`.

use serde_json::Value;

/// The bound on a rendered text (4 KB), `…` included.
pub const MAX_RENDERED_BYTES: usize = 4096;
const ELLIPSIS: &str = "…";
/// A placeholder's path, in bytes: paths are written by whoever configures.
const MAX_PATH_BYTES: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("`{{{{` at byte {0} is never closed with `}}}}`")]
    Unclosed(usize),
    #[error("empty placeholder `{{{{}}}}` at byte {0}")]
    Empty(usize),
    #[error(
        "placeholder at byte {0}: a path of letters, digits, `_`, `-` and `.` (at most 256 bytes)"
    )]
    BadPath(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Path(Vec<String>),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Part>);

impl Template {
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let at = offset + open;
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or(TemplateError::Unclosed(at))?;
            let path = after[..close].trim();
            if path.is_empty() {
                return Err(TemplateError::Empty(at));
            }
            let valid = path.len() <= MAX_PATH_BYTES
                && path.split('.').all(|s| {
                    !s.is_empty()
                        && s.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                });
            if !valid {
                return Err(TemplateError::BadPath(at));
            }
            parts.push(Part::Path(path.split('.').map(str::to_string).collect()));
            let consumed = open + 2 + close + 2;
            rest = &rest[consumed..];
            offset += consumed;
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Self(parts))
    }

    /// The top-level fields the placeholders read (`items` for
    /// `{{items.length}}`), each once, in the order written.
    pub fn fields(&self) -> Vec<&str> {
        let mut fields: Vec<&str> = Vec::new();
        for part in &self.0 {
            if let Part::Path(path) = part {
                if let Some(first) = path.first() {
                    if !fields.contains(&first.as_str()) {
                        fields.push(first);
                    }
                }
            }
        }
        fields
    }

    /// The text for `payload`, at most [`MAX_RENDERED_BYTES`].
    pub fn render(&self, payload: &Value) -> String {
        let mut out = Bounded::default();
        for part in &self.0 {
            match part {
                Part::Text(t) => out.push(t),
                Part::Path(path) => match lookup(payload, path) {
                    Found::Value(v) => render_value(v, &mut out),
                    Found::Length(n) => out.push(&n.to_string()),
                    Found::Missing => {}
                },
            }
            if out.full {
                break;
            }
        }
        out.finish()
    }
}

enum Found<'a> {
    Value(&'a Value),
    Length(usize),
    Missing,
}

fn lookup<'a>(payload: &'a Value, path: &[String]) -> Found<'a> {
    let mut current = payload;
    for (i, segment) in path.iter().enumerate() {
        let next = match current {
            Value::Object(map) => map.get(segment.as_str()),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|n| items.get(n)),
            _ => None,
        };
        match next {
            Some(v) => current = v,
            // `length` names the size only where no field of that name exists.
            None if segment == "length" && i + 1 == path.len() => {
                return match current {
                    Value::Array(a) => Found::Length(a.len()),
                    Value::Object(o) => Found::Length(o.len()),
                    Value::String(s) => Found::Length(s.chars().count()),
                    _ => Found::Missing,
                }
            }
            None => return Found::Missing,
        }
    }
    Found::Value(current)
}

fn render_value(v: &Value, out: &mut Bounded) {
    match v {
        Value::Null => {}
        Value::String(s) => out.push(s),
        Value::Number(n) => out.push(&n.to_string()),
        Value::Bool(b) => out.push(if *b { "true" } else { "false" }),
        // Compact JSON, written through the bound: a 10 MB array costs no more than 4 KB.
        Value::Array(_) | Value::Object(_) => {
            let _ = serde_json::to_writer(&mut *out, v);
        }
    }
}

/// A string that keeps at most one byte more than the bound (to know it was
/// passed), on character boundaries.
#[derive(Default)]
struct Bounded {
    text: String,
    full: bool,
}

impl Bounded {
    fn push(&mut self, s: &str) {
        if self.full {
            return;
        }
        let room = MAX_RENDERED_BYTES + 1 - self.text.len();
        if s.len() <= room {
            self.text.push_str(s);
        } else {
            self.text.push_str(&s[..floor_char_boundary(s, room)]);
            self.full = true;
        }
        if self.text.len() > MAX_RENDERED_BYTES {
            self.full = true;
        }
    }

    fn finish(mut self) -> String {
        if self.text.len() > MAX_RENDERED_BYTES || self.full {
            let keep = floor_char_boundary(&self.text, MAX_RENDERED_BYTES - ELLIPSIS.len());
            if keep < self.text.len() {
                self.text.truncate(keep);
                self.text.push_str(ELLIPSIS);
            }
        }
        self.text
    }
}

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.full {
            // Stops the serializer: nothing more would be kept.
            return Err(std::io::Error::other("template bound reached"));
        }
        // serde_json writes whole tokens; a string token's escapes keep it UTF-8.
        self.push(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The largest index ≤ `at` that is a character boundary of `s`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    (0..=at).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(template: &str, payload: &Value) -> String {
        Template::parse(template).unwrap().render(payload)
    }

    fn purchase() -> Value {
        json!({
            "transaction_id": "T-1",
            "value": 180.5,
            "tax": 12,
            "currency": "DKK",
            "paid": true,
            "coupon": null,
            "items": [
                { "item_id": "123", "item_name": "Blazer", "quantity": 1 },
                { "item_id": "456", "item_name": "T-Shirt", "quantity": 2 }
            ],
            "user": { "address": { "city": "Aarhus" } }
        })
    }

    #[test]
    fn the_readme_template() {
        assert_eq!(
            render(
                "New order {{transaction_id}}: {{value}} {{currency}} ({{items.length}} items)",
                &purchase()
            ),
            "New order T-1: 180.5 DKK (2 items)"
        );
    }

    #[test]
    fn paths_index_objects_and_arrays() {
        let p = purchase();
        assert_eq!(render("{{user.address.city}}", &p), "Aarhus");
        assert_eq!(render("{{items.1.item_name}}", &p), "T-Shirt");
        assert_eq!(render("{{ items.0.quantity }}", &p), "1");
        assert_eq!(render("{{tax}}/{{paid}}", &p), "12/true");
        assert_eq!(
            render("{{items.0}}", &p),
            r#"{"item_id":"123","item_name":"Blazer","quantity":1}"#
        );
        assert_eq!(render("{{user.address.length}}", &p), "1");
    }

    #[test]
    fn fields_are_the_placeholders_first_segments() {
        let t = Template::parse("{{a.b}} {{items.length}} {{a}} x").unwrap();
        assert_eq!(t.fields(), ["a", "items"]);
        assert!(Template::parse("no placeholders")
            .unwrap()
            .fields()
            .is_empty());
    }

    #[test]
    fn missing_values_render_empty() {
        let p = purchase();
        assert_eq!(render("[{{nope}}]", &p), "[]");
        assert_eq!(render("[{{coupon}}]", &p), "[]");
        assert_eq!(render("[{{items.9.item_name}}]", &p), "[]");
        assert_eq!(render("[{{currency.x}}]", &p), "[]");
        assert_eq!(render("[{{value.length}}]", &p), "[]");
        assert_eq!(render("[{{items.length}}]", &json!("not an object")), "[]");
    }

    #[test]
    fn a_field_named_length_wins() {
        assert_eq!(
            render("{{a.length}}", &json!({ "a": { "length": 7, "b": 1 } })),
            "7"
        );
    }

    #[test]
    fn bad_templates_are_refused() {
        assert_eq!(Template::parse("a {{b"), Err(TemplateError::Unclosed(2)));
        assert_eq!(Template::parse("{{ }}"), Err(TemplateError::Empty(0)));
        assert_eq!(Template::parse("{{a b}}"), Err(TemplateError::BadPath(0)));
        assert_eq!(Template::parse("{{a..b}}"), Err(TemplateError::BadPath(0)));
        assert!(Template::parse("no placeholders } {").is_ok());
    }

    #[test]
    fn values_are_never_evaluated() {
        let p = json!({ "name": "{{secret}}", "secret": "s3cr3t" });
        assert_eq!(render("{{name}}", &p), "{{secret}}");
    }

    #[test]
    fn the_text_is_bounded_with_an_ellipsis_on_a_char_boundary() {
        let long = "é".repeat(5000); // 10,000 bytes
        let out = render("x{{v}}", &json!({ "v": long }));
        assert!(out.len() <= MAX_RENDERED_BYTES, "{}", out.len());
        assert!(out.len() > MAX_RENDERED_BYTES - 8);
        assert!(out.ends_with('…'));
        assert!(out.starts_with("xé"));
        // Exactly at the bound: kept whole, no ellipsis.
        let exact = "a".repeat(MAX_RENDERED_BYTES);
        assert_eq!(render("{{v}}", &json!({ "v": exact })), exact);
        let over = "a".repeat(MAX_RENDERED_BYTES + 1);
        let out = render("{{v}}", &json!({ "v": over }));
        assert_eq!(out.len(), MAX_RENDERED_BYTES);
        assert!(out.ends_with('…'));
        // A huge array is cut too, without rendering all of it.
        let big: Vec<u32> = (0..1_000_000).collect();
        let out = render("{{v}}", &json!({ "v": big }));
        assert!(out.len() <= MAX_RENDERED_BYTES && out.ends_with('…'));
        // Many placeholders cannot pass the bound either.
        let many = "{{v}}".repeat(2000);
        let out = render(&many, &json!({ "v": "abc" }));
        assert!(out.len() <= MAX_RENDERED_BYTES && out.ends_with('…'));
    }

    #[test]
    fn hostile_values_still_give_valid_json_bodies() {
        let p = json!({
            "name": "\"}, \"text\": \"pwned\", \"x\": {\"",
            "brace": "{{name}} }} {{",
            "ctl": "a\u{0}b\nc\\d\u{2028}",
        });
        let text = render("{{name}} {{brace}} {{ctl}}", &p);
        let body = serde_json::to_vec(&json!({ "text": text })).unwrap();
        let back: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(back.as_object().unwrap().len(), 1);
        assert_eq!(back["text"], text);
        assert!(text.contains("\"pwned\""));
    }

    proptest::proptest! {
        #[test]
        fn any_value_renders_within_the_bound(s in ".{0,3000}", n in 0usize..4) {
            let p = json!({ "s": s });
            let out = render(&"{{s}}|".repeat(n + 1), &p);
            proptest::prop_assert!(out.len() <= MAX_RENDERED_BYTES);
            let body = serde_json::to_string(&json!({ "text": out })).unwrap();
            proptest::prop_assert!(serde_json::from_str::<Value>(&body).is_ok());
        }
    }
}
