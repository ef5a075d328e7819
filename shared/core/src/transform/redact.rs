//! `redact`: e-mail addresses, Luhn-valid card numbers and phone numbers found
//! inside any string value, at any depth, are replaced with
//! `[redacted:email]`, `[redacted:credit_card]`, `[redacted:phone]`.
//! Hand-written scanners, one pass each, linear in the text: no pattern may
//! make a long string expensive.

use crate::json::{Json, Str};

pub const EMAIL: &str = "[redacted:email]";
pub const CREDIT_CARD: &str = "[redacted:credit_card]";
pub const PHONE: &str = "[redacted:phone]";

/// A scanner: the `(start, end)` byte spans of its matches, in order.
type Scanner = fn(&str) -> Vec<(usize, usize)>;

/// Which kinds of personal data `redact` looks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Redact {
    pub email: bool,
    pub credit_card: bool,
    pub phone: bool,
}

impl Redact {
    pub fn is_empty(&self) -> bool {
        !(self.email || self.credit_card || self.phone)
    }

    /// Redacts every string (and every integer that is a Luhn-valid card
    /// number) inside `value`; object keys are left as they are.
    pub fn value(&self, value: &mut Json<'_>) {
        match value {
            Json::String(s) => {
                if let Some(redacted) = self.text(&s.as_cow()) {
                    *s = Str::Owned(redacted.into());
                }
            }
            Json::Number(digits)
                if self.credit_card
                    && (13..=19).contains(&digits.len())
                    && digits.bytes().all(|b| b.is_ascii_digit())
                    && luhn(digits.bytes()) =>
            {
                *value = Json::String(Str::Owned(CREDIT_CARD.into()));
            }
            Json::Array(items) => items.iter_mut().for_each(|v| self.value(v)),
            Json::Object(map) => map.iter_mut().for_each(|(_, v)| self.value(v)),
            _ => {}
        }
    }

    /// The redacted text, or `None` when nothing matched.
    pub fn text(&self, text: &str) -> Option<String> {
        let mut out: Option<String> = None;
        let scanners: [(bool, Scanner, &str); 3] = [
            (self.email, emails, EMAIL),
            (self.credit_card, cards, CREDIT_CARD),
            (self.phone, phones, PHONE),
        ];
        for (on, scan, label) in scanners {
            if !on {
                continue;
            }
            let current = out.as_deref().unwrap_or(text);
            let spans = scan(current);
            if !spans.is_empty() {
                out = Some(replace(current, &spans, label));
            }
        }
        out
    }
}

fn replace(text: &str, spans: &[(usize, usize)], label: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for &(start, end) in spans {
        out.push_str(&text[at..start]);
        out.push_str(label);
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// `local@domain.tld` spans: a non-empty local part, a domain of labels with a
/// final label of at least two letters.
fn emails(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut last_end = 0;
    for (at, _) in text.match_indices('@') {
        if at < last_end {
            continue;
        }
        let mut start = at;
        while start > last_end && is_local(bytes[start - 1]) {
            start -= 1;
        }
        while start < at && bytes[start] == b'.' {
            start += 1;
        }
        let mut end = at + 1;
        while end < bytes.len() && is_domain(bytes[end]) {
            end += 1;
        }
        while end > at + 1 && matches!(bytes[end - 1], b'.' | b'-') {
            end -= 1;
        }
        let domain = &text[at + 1..end];
        let valid_domain = domain.rsplit_once('.').is_some_and(|(head, tld)| {
            !head.is_empty()
                && !head.starts_with(['.', '-'])
                && !head.contains("..")
                && tld.len() >= 2
                && tld.bytes().all(|b| b.is_ascii_alphabetic())
        });
        if start < at && valid_domain {
            spans.push((start, end));
            last_end = end;
        }
    }
    spans
}

/// The Luhn checksum of a digit sequence (ASCII digits).
fn luhn(digits: impl DoubleEndedIterator<Item = u8>) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.rev().enumerate() {
        let mut d = u32::from(d - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// Runs of digit groups: `(start, end)` of each group, groups separated by
/// exactly one of `separators`; a run is bounded by anything but a letter or digit.
fn digit_runs(text: &str, separators: &[u8]) -> Vec<Vec<(usize, usize)>> {
    let bytes = text.as_bytes();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() || (i > 0 && bytes[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let mut groups = Vec::new();
        loop {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            groups.push((start, i));
            let continues = i + 1 < bytes.len()
                && separators.contains(&bytes[i])
                && bytes[i + 1].is_ascii_digit();
            if !continues {
                break;
            }
            i += 1;
        }
        // A run glued to a letter (`4111…x`) is an identifier, not a number.
        if !(i < bytes.len() && bytes[i].is_ascii_alphabetic()) {
            runs.push(groups);
        }
    }
    runs
}

/// Card numbers: 13 to 19 digits, optionally grouped with single spaces or
/// dashes, that pass the Luhn check. In a longer run of groups, the longest
/// valid stretch of whole groups is taken.
fn cards(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    for groups in digit_runs(text, b" -") {
        let mut i = 0;
        while i < groups.len() {
            let mut total = 0;
            let mut best = None;
            for (j, &(s, e)) in groups.iter().enumerate().skip(i) {
                total += e - s;
                if total > 19 {
                    break;
                }
                if total >= 13 {
                    let digits = groups[i..=j]
                        .iter()
                        .flat_map(|&(s, e)| bytes[s..e].iter().copied());
                    let digits: Vec<u8> = digits.collect();
                    if luhn(digits.into_iter()) {
                        best = Some(j);
                    }
                }
            }
            match best {
                Some(j) => {
                    spans.push((groups[i].0, groups[j].1));
                    i = j + 1;
                }
                None => i += 1,
            }
        }
    }
    spans
}

/// Phone numbers as people write them: `+` and a country code with 8 to 15
/// digits in any grouping (`+45 12 34 56 78`, `+1 (800) 555-0100`), or 10 to
/// 15 digits in groups ending with a group of at least 4 (`(800) 555-0100`,
/// `020 7946 0958`). Bare digit strings, dates, times, IPv4 addresses, prices
/// and version numbers are not phone numbers.
fn phones(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let is_sep = |b: u8| matches!(b, b' ' | b'-' | b'.' | b'(' | b')');
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let opens = b.is_ascii_digit()
            || (matches!(b, b'+' | b'(') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit));
        let before_ok = i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || matches!(bytes[i - 1], b'/' | b'.' | b'_' | b'@' | b'#' | b'-' | b'+'));
        if !opens || !before_ok {
            i += 1;
            continue;
        }
        let start = i;
        let plus = b == b'+';
        let paren = b == b'(';
        i += 1;
        let mut end = if b.is_ascii_digit() { i } else { start };
        let mut gap = 0;
        while i < bytes.len() {
            let c = bytes[i];
            if c.is_ascii_digit() {
                gap = 0;
                end = i + 1;
            } else if is_sep(c) && gap < 2 {
                gap += 1;
            } else {
                break;
            }
            i += 1;
        }
        let span = &text[start..end];
        let after_ok = !bytes.get(end).is_some_and(|c| c.is_ascii_alphanumeric());
        if after_ok && is_phone(span, plus, paren) {
            spans.push((start, end));
        }
        i = end.max(start + 1);
    }
    spans
}

fn is_phone(span: &str, plus: bool, paren: bool) -> bool {
    let groups: Vec<&str> = span
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .collect();
    let digits: usize = groups.iter().map(|g| g.len()).sum();
    if plus {
        return (8..=15).contains(&digits);
    }
    if !(10..=15).contains(&digits) || groups.len() < 2 {
        return false;
    }
    let dotted = !span.contains([' ', '-', '(', ')']);
    if dotted && (groups.len() == 4 && groups.iter().all(|g| g.len() <= 3)) {
        return false; // an IPv4 address
    }
    if dotted && groups.iter().any(|g| !(2..=4).contains(&g.len())) {
        return false; // a version number
    }
    paren || groups.last().is_some_and(|g| g.len() >= 4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALL: Redact = Redact {
        email: true,
        credit_card: true,
        phone: true,
    };

    fn r(text: &str) -> String {
        ALL.text(text).unwrap_or_else(|| text.to_string())
    }

    #[test]
    fn emails_in_free_text() {
        assert_eq!(
            r("Contact jane.doe+news@example.co.uk, or ops@ex-ample.com."),
            "Contact [redacted:email], or [redacted:email]."
        );
        assert_eq!(r("<a@b.io>"), "<[redacted:email]>");
        for kept in [
            "@home",
            "a@b",
            "x@localhost",
            "user@.com",
            "50 @ 2.5",
            "a@b.c1",
        ] {
            assert_eq!(r(kept), kept);
        }
    }

    #[test]
    fn only_luhn_valid_cards() {
        // Test numbers the card networks publish (all Luhn-valid).
        for card in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "5555555555554444",
            "378282246310005",
            "3782 822463 10005",
            "6011111111111117",
            "4222222222222",
        ] {
            assert_eq!(
                r(&format!("paid with {card} today")),
                "paid with [redacted:credit_card] today",
                "{card}"
            );
        }
        for not_a_card in [
            "4111111111111112",
            "4111 1111 1111 1112",
            "order 1234567890123",
            "ref 41111111111111111111", // 20 digits
            "id4111111111111111",
            "4111111111111111x",
        ] {
            assert_eq!(r(not_a_card), not_a_card);
        }
        // The valid stretch inside a longer run of groups.
        assert_eq!(
            r("qty 12 4111 1111 1111 1111"),
            "qty 12 [redacted:credit_card]"
        );
    }

    #[test]
    fn phones_in_free_text() {
        for phone in [
            "+45 12 34 56 78",
            "+1 (800) 555-0100",
            "+18005550100",
            "(800) 555-0100",
            "800-555-0100",
            "800.555.0100",
            "020 7946 0958",
        ] {
            assert_eq!(
                r(&format!("call {phone} now")),
                "call [redacted:phone] now",
                "{phone}"
            );
        }
        assert_eq!(r("tel:+4512345678"), "tel:[redacted:phone]");
        for kept in [
            "2026-12-01 10:00:00",
            "2026-12-01T10:00:00Z",
            "192.168.100.200",
            "price 1 499 000 000",
            "Mozilla/5.0 (Windows NT 10.0.19045.3693; Win64; x64) Chrome/120.0.0.0",
            "1733050000000",
            "order 4155550100",
            "v1.2.3",
            "+1",
            "3 + 4 = 7",
        ] {
            assert_eq!(r(kept), kept);
        }
    }

    #[test]
    fn nested_values_and_nothing_else() {
        let mut v = crate::json::tests::leaked(&json!({
            "a": ["x", {"b": "mail me: x@y.org", "n": 4111111111111111u64, "m": 4111111111111112u64}],
            "c": {"d": [["+1 800 555 0100"]]},
            "keep": "no personal data 42",
            "x@y.org": true,
            "f": 1.5,
            "t": null
        }));
        ALL.value(&mut v);
        assert_eq!(
            v.to_value(),
            json!({
                "a": ["x", {"b": "mail me: [redacted:email]", "n": "[redacted:credit_card]", "m": 4111111111111112u64}],
                "c": {"d": [["[redacted:phone]"]]},
                "keep": "no personal data 42",
                "x@y.org": true,
                "f": 1.5,
                "t": null
            })
        );
    }

    #[test]
    fn only_the_kinds_asked_for() {
        let email_only = Redact {
            email: true,
            ..Redact::default()
        };
        let text = "a@b.io 4111111111111111 +4512345678";
        assert_eq!(
            email_only.text(text).as_deref(),
            Some("[redacted:email] 4111111111111111 +4512345678")
        );
        assert!(Redact::default().is_empty());
        assert_eq!(Redact::default().text(text), None);
    }

    #[test]
    fn long_text_is_linear_enough() {
        // A megabyte of digits and separators must not blow up (no backtracking).
        let text = "1 ".repeat(500_000);
        assert_eq!(r(&text), text);
    }
}
