//! Short previews of client-supplied text for error messages and log lines:
//! a bounded number of characters, cut on a character boundary, marked when cut.
//! A leaf module: it imports nothing of this crate.

/// The characters of input an error text quotes at most.
pub const PREVIEW_CHARS: usize = 40;

/// `text` cut to at most `max` characters (never inside a UTF-8 sequence),
/// with `…` appended when something was cut.
pub fn preview(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => {
            let mut out = String::with_capacity(end + 3);
            out.push_str(&text[..end]);
            out.push('…');
            out
        }
    }
}

/// [`preview`] with [`PREVIEW_CHARS`].
pub fn short(text: &str) -> String {
    preview(text, PREVIEW_CHARS)
}

/// Cuts `text` in place to at most `max` characters, as [`preview`] does.
pub fn truncate_in_place(text: &mut String, max: usize) {
    if let Some((end, _)) = text.char_indices().nth(max) {
        text.truncate(end);
        text.push('…');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_on_char_boundaries() {
        assert_eq!(preview("abc", 3), "abc");
        assert_eq!(preview("abcd", 3), "abc…");
        assert_eq!(preview("ææææ", 2), "ææ…");
        assert_eq!(preview("🦀🦀🦀", 1), "🦀…");
        assert_eq!(preview("", 0), "");
        let mut s = "ø".repeat(10_000);
        truncate_in_place(&mut s, 5);
        assert_eq!(s, "øøøøø…");
    }
}
