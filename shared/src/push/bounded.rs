//! Short previews of untrusted text, for error answers and log lines: whatever
//! a message holds, what Hermes writes about it stays small.

/// Characters kept of an identifier (message id, subscription) in a log line.
pub const ID_PREVIEW_CHARS: usize = 128;
/// Characters kept of an error text quoting input, in a log line or an answer.
pub const ERROR_PREVIEW_CHARS: usize = 512;

pub use crate::excerpt::preview;

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
