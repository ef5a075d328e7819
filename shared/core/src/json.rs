//! A borrowed JSON tree over the request body: what ingest checks, triggers,
//! maps and publishes without copying the client's text.
//!
//! Scalars keep their text as written (`18446744073709551616`, `-0`, `1E400`,
//! `"caf\u00e9"` stay so when published), strings are borrowed, objects are
//! small vectors in the order written. A parse is strict JSON (RFC 8259) with
//! a bound on nesting, so hostile input cannot overflow the stack; the only
//! difference from `serde_json::Value` is that numbers outside `f64`'s range
//! are accepted, as the text they are.

use std::borrow::Cow;
use std::fmt;

/// Nesting deeper than this is refused, counting the request's own array (as
/// `serde_json` does: 127 levels parse, the 128th does not).
pub const MAX_DEPTH: usize = 128;

/// A JSON value borrowing its text from the document it was parsed from.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    /// A number as written: valid JSON number syntax, never converted.
    Number(&'a str),
    String(Str<'a>),
    Array(Vec<Json<'a>>),
    /// Entries in the order written; a repeated key is kept (lookups take the
    /// last) and flagged on the array element that holds it
    /// ([`Element::repeated_key`]).
    Object(Vec<(Str<'a>, Json<'a>)>),
}

/// A JSON string.
#[derive(Debug, Clone, PartialEq)]
pub enum Str<'a> {
    /// Text between the quotes without escapes: it is the string.
    Plain(&'a str),
    /// Text between the quotes with escapes, written out as it came.
    Escaped(&'a str),
    /// A string made after parsing (a digest, a masked address): written escaped.
    Owned(Box<str>),
}

impl<'a> Str<'a> {
    /// The string's value, escapes decoded.
    pub fn as_cow(&self) -> Cow<'_, str> {
        match self {
            Self::Plain(s) => Cow::Borrowed(s),
            Self::Escaped(raw) => Cow::Owned(unescape(raw)),
            Self::Owned(s) => Cow::Borrowed(s),
        }
    }

    /// The value as a plain `&str` when no decoding is needed.
    pub fn as_plain(&self) -> Option<&str> {
        match self {
            Self::Plain(s) => Some(s),
            Self::Owned(s) => Some(s),
            Self::Escaped(_) => None,
        }
    }

    /// Whether the string's value is `other`.
    pub fn is(&self, other: &str) -> bool {
        match self.as_plain() {
            // Length and first byte first: most keys compared differ there.
            Some(s) => {
                s.len() == other.len()
                    && s.as_bytes().first() == other.as_bytes().first()
                    && s == other
            }
            None => self.as_cow() == other,
        }
    }

    /// Writes the string with its quotes: the client's own text when it is one.
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::Plain(raw) | Self::Escaped(raw) => {
                out.push(b'"');
                out.extend_from_slice(raw.as_bytes());
                out.push(b'"');
            }
            Self::Owned(s) => write_escaped(out, s),
        }
    }
}

/// Writes `s` as a JSON string (quotes, and escapes where JSON needs them).
pub fn write_escaped(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    // Most strings need no escape at all: one scan, one copy.
    if !bytes.iter().any(|&b| SPECIAL[b as usize]) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Decodes the escapes of a string's raw text (already checked by the parser).
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hi = hex4(&mut chars);
                let code = if (0xD800..0xDC00).contains(&hi) {
                    // The parser only lets a leading surrogate through with its trailing one.
                    chars.next();
                    chars.next();
                    let lo = hex4(&mut chars);
                    0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3ff)
                } else {
                    hi
                };
                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

fn hex4(chars: &mut std::str::Chars<'_>) -> u32 {
    (0..4).fold(0, |n, _| {
        n * 16 + chars.next().and_then(|c| c.to_digit(16)).unwrap_or(0)
    })
}

impl<'a> Json<'a> {
    /// The JSON type name, as reported in errors (`null` included).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "boolean",
            Self::Number(_) => "number",
            Self::String(_) => "string",
            Self::Array(_) => "array",
            Self::Object(_) => "object",
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// The value of field `name` of an object (the last one when repeated).
    pub fn get(&self, name: &str) -> Option<&Json<'a>> {
        match self {
            Self::Object(entries) => entries.iter().rev().find(|(k, _)| k.is(name)).map(|e| &e.1),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Json<'a>> {
        match self {
            Self::Object(entries) => entries
                .iter_mut()
                .rev()
                .find(|(k, _)| k.is(name))
                .map(|e| &mut e.1),
            _ => None,
        }
    }

    /// Removes every entry named `name` of an object.
    pub fn remove(&mut self, name: &str) {
        if let Self::Object(entries) = self {
            entries.retain(|(k, _)| !k.is(name));
        }
    }

    /// Keeps each key of every object once, with its last value at its first
    /// place (as a JSON map reads a repeated key).
    pub fn dedupe(&mut self) {
        match self {
            Self::Array(items) => items.iter_mut().for_each(Self::dedupe),
            Self::Object(entries) => {
                for (_, v) in entries.iter_mut() {
                    v.dedupe();
                }
                let repeated = {
                    let mut seen = std::collections::HashSet::with_capacity(entries.len());
                    entries.iter().any(|(k, _)| !seen.insert(k.as_cow()))
                };
                if repeated {
                    let mut kept: Vec<(Str<'a>, Json<'a>)> = Vec::with_capacity(entries.len());
                    let mut at = std::collections::HashMap::with_capacity(entries.len());
                    for (k, v) in entries.drain(..) {
                        match at.get(k.as_cow().as_ref()) {
                            Some(&i) => {
                                let slot: &mut (Str<'a>, Json<'a>) = &mut kept[i];
                                slot.1 = v;
                            }
                            None => {
                                at.insert(k.as_cow().into_owned(), kept.len());
                                kept.push((k, v));
                            }
                        }
                    }
                    *entries = kept;
                }
            }
            _ => {}
        }
    }

    /// The path of the first key written twice in one object, depth first,
    /// after `prefix` (`events[0]` gives `events[0].items[1].price`); `None`
    /// when every object's keys are distinct. One buffer for the whole walk:
    /// linear in the keys' length, however long or deep they are.
    pub fn repeated_key_path(&self, prefix: &str) -> Option<String> {
        let mut path = prefix.to_string();
        self.find_repeated_key(&mut path).then_some(path)
    }

    fn find_repeated_key(&self, path: &mut String) -> bool {
        let len = path.len();
        match self {
            Self::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    use std::fmt::Write;
                    let _ = write!(path, "[{i}]");
                    if item.find_repeated_key(path) {
                        return true;
                    }
                    path.truncate(len);
                }
                false
            }
            Self::Object(entries) => {
                if has_repeated_key(entries) {
                    let mut seen = std::collections::HashSet::with_capacity(entries.len());
                    if let Some((key, _)) = entries.iter().find(|(k, _)| !seen.insert(k.as_cow())) {
                        path.push('.');
                        path.push_str(&key.as_cow());
                        return true;
                    }
                }
                for (key, value) in entries {
                    path.push('.');
                    path.push_str(&key.as_cow());
                    if value.find_repeated_key(path) {
                        return true;
                    }
                    path.truncate(len);
                }
                false
            }
            _ => false,
        }
    }

    /// The string's value, escapes decoded.
    pub fn as_str(&self) -> Option<Cow<'_, str>> {
        match self {
            Self::String(s) => Some(s.as_cow()),
            _ => None,
        }
    }

    /// Whether this is the string `s`.
    pub fn is_str(&self, s: &str) -> bool {
        matches!(self, Self::String(v) if v.is(s))
    }

    /// Writes the value minified: scalars and strings as written, no whitespace.
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::Null => out.extend_from_slice(b"null"),
            Self::Bool(true) => out.extend_from_slice(b"true"),
            Self::Bool(false) => out.extend_from_slice(b"false"),
            Self::Number(n) => out.extend_from_slice(n.as_bytes()),
            Self::String(s) => s.write(out),
            Self::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write(out);
                }
                out.push(b']');
            }
            Self::Object(entries) => {
                out.push(b'{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    k.write(out);
                    out.push(b':');
                    v.write(out);
                }
                out.push(b'}');
            }
        }
    }

    /// The minified text.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    /// As a `serde_json::Value` (for display: a number outside `f64`'s range
    /// becomes its text as a string).
    pub fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(*b),
            Self::Number(n) => {
                serde_json::from_str(n).unwrap_or_else(|_| Value::String(n.to_string()))
            }
            Self::String(s) => Value::String(s.as_cow().into_owned()),
            Self::Array(items) => Value::Array(items.iter().map(Self::to_value).collect()),
            Self::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.as_cow().into_owned(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

/// A payload as a `serde_json::Value`, for display (`hermes validate
/// --payloads`, the preview inspector): a number past `f64`'s range shows as
/// its text. `None` when `bytes` are not JSON.
pub fn to_value(bytes: &[u8]) -> Option<serde_json::Value> {
    let text = std::str::from_utf8(bytes).ok()?;
    parse(text).ok().map(|tree| tree.to_value())
}

/// Why a text is not JSON, and where (a byte offset).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {offset}")]
pub struct SyntaxError {
    pub what: &'static str,
    pub offset: usize,
}

impl SyntaxError {
    /// Line and column (1-based, in characters) of the error in `text`.
    pub fn line_column(&self, text: &[u8]) -> (usize, usize) {
        let upto = &text[..self.offset.min(text.len())];
        let line = upto.iter().filter(|&&b| b == b'\n').count() + 1;
        let start = upto.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&upto[start..]).chars().count() + 1;
        (line, column)
    }
}

/// One element of a parsed array, with its own text.
#[derive(Debug, Clone, PartialEq)]
pub struct Element<'a> {
    /// The element's text, from its first byte to its last.
    pub text: &'a str,
    /// No whitespace inside `text` outside strings: `text` is already minified.
    pub minified: bool,
    /// Some object inside writes one key twice (compared unescaped, so
    /// `"a"` and `"\u0061"` are the same key): readers disagree on which
    /// value such a key has. [`Json::repeated_key_path`] says where.
    pub repeated_key: bool,
    pub value: Json<'a>,
}

impl Element<'_> {
    /// The minified text: `text` itself when it is so already.
    pub fn minified_text(&self) -> Cow<'_, [u8]> {
        if self.minified {
            Cow::Borrowed(self.text.as_bytes())
        } else {
            Cow::Owned(self.value.to_vec())
        }
    }
}

/// A parsed top-level array.
#[derive(Debug, Clone, PartialEq)]
pub struct Elements<'a> {
    pub items: Vec<Element<'a>>,
    /// About the memory the tree holds (vectors' capacity), for budgets.
    pub heap_bytes: usize,
}

/// Why an array could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArrayError {
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    /// Valid so far, but the array has more than the limit of elements.
    #[error("more than {0} elements")]
    TooMany(usize),
    /// The text is a JSON value other than an array (not checked further).
    #[error("not an array")]
    NotArray,
}

/// `part` of `body` as a slice sharing its memory; a copy when `part` lies elsewhere.
pub fn share(body: &bytes::Bytes, part: &[u8]) -> bytes::Bytes {
    let range = body.as_ptr_range();
    let inside = range.start <= part.as_ptr() && part.as_ptr_range().end <= range.end;
    if inside && !part.is_empty() {
        body.slice_ref(part)
    } else {
        bytes::Bytes::copy_from_slice(part)
    }
}

/// Parses one JSON document (surrounding whitespace allowed).
pub fn parse(text: &str) -> Result<Json<'_>, SyntaxError> {
    let mut p = Parser::new(text);
    p.ws();
    let value = p.value(MAX_DEPTH)?;
    p.ws();
    p.end()?;
    Ok(value)
}

/// Parses a document that must be an array of at most `max` elements, each
/// with its own text; the elements past `max` are never built.
pub fn parse_array(text: &str, max: usize) -> Result<Elements<'_>, ArrayError> {
    let mut p = Parser::new(text);
    p.ws();
    if p.peek() != Some(b'[') {
        return Err(ArrayError::NotArray);
    }
    p.pos += 1;
    let mut items: Vec<Element<'_>> = Vec::new();
    p.ws();
    if p.peek() == Some(b']') {
        p.pos += 1;
    } else {
        loop {
            let start = p.pos;
            p.spaced = false;
            p.repeated = false;
            let value = p.value(MAX_DEPTH - 1)?;
            if items.len() == max {
                return Err(ArrayError::TooMany(max));
            }
            items.push(Element {
                text: &text[start..p.pos],
                minified: !p.spaced,
                repeated_key: p.repeated,
                value,
            });
            p.ws();
            match p.next() {
                Some(b',') => p.ws(),
                Some(b']') => break,
                _ => return Err(p.error_before("expected `,` or `]`").into()),
            }
        }
    }
    p.ws();
    p.end()?;
    p.heap += items.capacity() * std::mem::size_of::<Element<'_>>();
    Ok(Elements {
        items,
        heap_bytes: p.heap,
    })
}

/// Whether two entries have the same key. Small objects (most events) are
/// compared pair by pair, larger ones through a set, so a 100,000-key object
/// costs 100,000 hashes, not 5 billion comparisons.
fn has_repeated_key(entries: &[(Str<'_>, Json<'_>)]) -> bool {
    const PAIRWISE: usize = 16;
    if entries.len() <= PAIRWISE {
        entries
            .iter()
            .enumerate()
            .any(|(i, (key, _))| entries[..i].iter().any(|(other, _)| same_key(key, other)))
    } else {
        let mut seen = std::collections::HashSet::with_capacity(entries.len());
        entries.iter().any(|(key, _)| !seen.insert(key.as_cow()))
    }
}

/// Whether two keys are the same string once escapes are decoded.
fn same_key(a: &Str<'_>, b: &Str<'_>) -> bool {
    match (a.as_plain(), b.as_plain()) {
        (Some(a), Some(b)) => a == b,
        _ => a.as_cow() == b.as_cow(),
    }
}

/// The bytes that end a run of plain string text.
static SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Whitespace was skipped since it was last reset.
    spaced: bool,
    /// An object with a repeated key was parsed since it was last reset.
    repeated: bool,
    heap: usize,
    /// The elements and entries of the containers being parsed: each
    /// container is then allocated once, at its size, not grown push by push.
    values: Vec<Json<'a>>,
    entries: Vec<(Str<'a>, Json<'a>)>,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            spaced: false,
            repeated: false,
            heap: 0,
            values: Vec::new(),
            entries: Vec::new(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn error(&self, what: &'static str) -> SyntaxError {
        SyntaxError {
            what,
            offset: self.pos,
        }
    }

    fn error_before(&self, what: &'static str) -> SyntaxError {
        SyntaxError {
            what,
            offset: self.pos.saturating_sub(1),
        }
    }

    fn end(&self) -> Result<(), SyntaxError> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(self.error("trailing characters"))
        }
    }

    fn ws(&mut self) {
        let start = self.pos;
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
        if self.pos != start {
            self.spaced = true;
        }
    }

    /// One value; `depth` is how many more arrays / objects may open.
    fn value(&mut self, depth: usize) -> Result<Json<'a>, SyntaxError> {
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Json::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true", Json::Bool(true)),
            Some(b'f') => self.literal(b"false", Json::Bool(false)),
            Some(b'n') => self.literal(b"null", Json::Null),
            Some(_) => Err(self.error("expected value")),
            None => Err(self.error("EOF while parsing a value")),
        }
    }

    fn literal(&mut self, word: &[u8], value: Json<'a>) -> Result<Json<'a>, SyntaxError> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("expected value"))
        }
    }

    fn open(&mut self, depth: usize) -> Result<usize, SyntaxError> {
        // As serde_json counts: the level that reaches zero is refused.
        match depth.checked_sub(1) {
            Some(left) if left > 0 => {
                self.pos += 1;
                Ok(left)
            }
            _ => Err(self.error("recursion limit exceeded")),
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json<'a>, SyntaxError> {
        let depth = self.open(depth)?;
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(Vec::new()));
        }
        let start = self.values.len();
        loop {
            let value = self.value(depth)?;
            self.values.push(value);
            self.ws();
            match self.next() {
                Some(b',') => self.ws(),
                Some(b']') => break,
                Some(_) => return Err(self.error_before("expected `,` or `]`")),
                None => return Err(self.error("EOF while parsing a list")),
            }
        }
        let items: Vec<Json<'a>> = self.values.drain(start..).collect();
        self.heap += items.capacity() * std::mem::size_of::<Json<'_>>();
        Ok(Json::Array(items))
    }

    fn object(&mut self, depth: usize) -> Result<Json<'a>, SyntaxError> {
        let depth = self.open(depth)?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(Vec::new()));
        }
        let start = self.entries.len();
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.error(if self.peek().is_none() {
                    "EOF while parsing an object"
                } else {
                    "key must be a string"
                }));
            }
            let key = self.string()?;
            self.ws();
            if self.next() != Some(b':') {
                return Err(self.error_before("expected `:`"));
            }
            self.ws();
            let value = self.value(depth)?;
            self.entries.push((key, value));
            self.ws();
            match self.next() {
                Some(b',') => self.ws(),
                Some(b'}') => break,
                Some(_) => return Err(self.error_before("expected `,` or `}`")),
                None => return Err(self.error("EOF while parsing an object")),
            }
        }
        if !self.repeated && has_repeated_key(&self.entries[start..]) {
            self.repeated = true;
        }
        let entries: Vec<(Str<'a>, Json<'a>)> = self.entries.drain(start..).collect();
        self.heap += entries.capacity() * std::mem::size_of::<(Str<'_>, Json<'_>)>();
        Ok(Json::Object(entries))
    }

    /// A string at `"`: its raw text, escapes checked.
    fn string(&mut self) -> Result<Str<'a>, SyntaxError> {
        self.pos += 1;
        let start = self.pos;
        let mut escaped = false;
        loop {
            // The text is valid UTF-8 (a `&str`): only `"`, `\\` and control
            // characters need looking at; the rest is skipped in one run.
            let rest = &self.bytes[self.pos..];
            self.pos += rest.iter().take_while(|&&b| !SPECIAL[b as usize]).count();
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(self.error("EOF while parsing a string"));
            };
            match b {
                b'"' => {
                    let raw = &self.text[start..self.pos];
                    self.pos += 1;
                    return Ok(if escaped {
                        Str::Escaped(raw)
                    } else {
                        Str::Plain(raw)
                    });
                }
                b'\\' => {
                    escaped = true;
                    self.pos += 1;
                    self.escape()?;
                }
                0..=0x1f => return Err(self.error("control character in string")),
                _ => self.pos += 1,
            }
        }
    }

    /// The escape after a backslash.
    fn escape(&mut self) -> Result<(), SyntaxError> {
        match self.next() {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(()),
            Some(b'u') => {
                let code = self.hex4()?;
                match code {
                    0xD800..=0xDBFF => {
                        if self.bytes[self.pos..].starts_with(b"\\u") {
                            self.pos += 2;
                            let lo = self.hex4()?;
                            if (0xDC00..=0xDFFF).contains(&lo) {
                                return Ok(());
                            }
                        }
                        Err(self.error("lone leading surrogate in hex escape"))
                    }
                    0xDC00..=0xDFFF => Err(self.error("lone trailing surrogate in hex escape")),
                    _ => Ok(()),
                }
            }
            Some(_) => Err(self.error_before("invalid escape")),
            None => Err(self.error("EOF while parsing a string")),
        }
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let mut n = 0;
        for _ in 0..4 {
            let d = self
                .peek()
                .and_then(|b| (b as char).to_digit(16))
                .ok_or_else(|| self.error("invalid escape"))?;
            self.pos += 1;
            n = n * 16 + d;
        }
        Ok(n)
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<Json<'a>, SyntaxError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.next() {
            Some(b'0') => {}
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error_before("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        Ok(Json::Number(&self.text[start..self.pos]))
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }
}

impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_vec()))
    }
}

#[cfg(test)]
pub(crate) mod tests;
