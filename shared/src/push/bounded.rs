//! Short previews of untrusted text, for error answers and log lines: whatever
//! a message holds, what Hermes writes about it stays small.

/// Characters kept of an identifier (message id, subscription) in a log line.
pub const ID_PREVIEW_CHARS: usize = 128;
/// Characters kept of an error text quoting input, in a log line or an answer.
pub const ERROR_PREVIEW_CHARS: usize = 512;

/// `text` cut to at most `max_chars` characters (on a character boundary),
/// ending in `…` when something was cut.
pub fn preview(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_string(),
        Some((cut, _)) => {
            let mut s = String::with_capacity(cut + 3);
            s.push_str(&text[..cut]);
            s.push('…');
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::preview;

    #[test]
    fn previews_are_bounded_on_character_boundaries() {
        assert_eq!(preview("abc", 3), "abc");
        assert_eq!(preview("abcd", 3), "abc…");
        assert_eq!(preview("ééé", 2), "éé…");
        assert_eq!(preview(&"x".repeat(1 << 20), 10).chars().count(), 11);
    }
}
