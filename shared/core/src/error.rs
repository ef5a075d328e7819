//! Rendering an error with its causes. Errors keep their sources
//! (`#[source]`) and show only their own message; where an error becomes text
//! for a person — a log line, a response body — [`Report`] adds the causes, the
//! way `anyhow` prints `{:#}`. A leaf module: it imports nothing of this crate.

use std::error::Error;
use std::fmt;

/// `outer: cause: root cause`.
pub struct Report<'a>(pub &'a (dyn Error + 'a));

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

/// [`Report`] as a `String`.
pub fn report(e: &dyn Error) -> String {
    Report(e).to_string()
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn causes_follow_the_message() {
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(super::report(&e), "outer: inner");
    }
}
