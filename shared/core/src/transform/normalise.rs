//! Google's normalisation of user-provided data before hashing (Data Manager
//! API "Format user data", Enhanced Conversions, GA4 user-provided data), and
//! the two digests: SHA-256 (`hash`) and HMAC-SHA-256 (`hmac`), lowercase hex.

use crate::hex::hex;
use aws_lc_rs::{digest, hmac};
use unicode_normalization::UnicodeNormalization;

/// How a value is normalised, from the last field name of its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// `email_address` / `email`.
    Email,
    /// `phone_number` / `phone`.
    Phone,
    /// Anything else (first / last name, street, an id): trimmed, lowercase.
    Name,
    /// `city`, `region`, `postal_code`, `country`: Google takes them in plain
    /// text, so they are never hashed.
    Plain,
}

impl FieldKind {
    pub fn of(field: Option<&str>) -> Self {
        match field {
            Some("email_address" | "email") => Self::Email,
            Some("phone_number" | "phone") => Self::Phone,
            Some("city" | "region" | "postal_code" | "country") => Self::Plain,
            _ => Self::Name,
        }
    }
}

/// The text Google hashes for a value of this kind (NFC, then the kind's rules).
pub fn normalise(kind: FieldKind, value: &str) -> String {
    let text: String = value.nfc().collect();
    match kind {
        FieldKind::Email => email(&text),
        FieldKind::Phone => phone(&text),
        FieldKind::Name | FieldKind::Plain => text.trim().to_lowercase(),
    }
}

/// Trim, lowercase, no whitespace anywhere; for gmail.com / googlemail.com the
/// local part loses its dots and any `+suffix` (Gmail ignores both).
fn email(text: &str) -> String {
    let lower: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_lowercase();
    match lower.rsplit_once('@') {
        Some((local, domain @ ("gmail.com" | "googlemail.com"))) => {
            let local = local.split('+').next().unwrap_or("");
            let local: String = local.chars().filter(|c| *c != '.').collect();
            format!("{local}@{domain}")
        }
        _ => lower,
    }
}

/// E.164: `+` and the digits, whatever the written form (`+1 (800) 555-0100`,
/// `1-800-555-0100`); no digits at all gives the empty string.
fn phone(text: &str) -> String {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        String::new()
    } else {
        format!("+{digits}")
    }
}

/// Whether a value is already a SHA-256 in hex (64 hex digits).
pub fn is_sha256_hex(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Lowercase hex of SHA-256 of the UTF-8 text.
pub fn sha256_hex(text: &str) -> String {
    hex(digest::digest(&digest::SHA256, text.as_bytes()).as_ref())
}

/// The minimum length of `HERMES_HASH_KEY`: HMAC-SHA-256's output size, as
/// RFC 2104 recommends.
pub const MIN_HASH_KEY_BYTES: usize = 32;

/// The `hmac` key: the raw bytes of `HERMES_HASH_KEY`, at least
/// [`MIN_HASH_KEY_BYTES`]. Never printed.
#[derive(Clone)]
pub struct HashKey {
    key: hmac::Key,
    /// The tag of the empty message: compares keys without keeping their bytes.
    fingerprint: [u8; 32],
}

impl HashKey {
    /// `None` when the key is shorter than [`MIN_HASH_KEY_BYTES`].
    pub fn new(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < MIN_HASH_KEY_BYTES {
            return None;
        }
        let key = hmac::Key::new(hmac::HMAC_SHA256, bytes);
        let mut fingerprint = [0; 32];
        fingerprint.copy_from_slice(hmac::sign(&key, b"").as_ref());
        Some(Self { key, fingerprint })
    }

    /// Lowercase hex of HMAC-SHA-256 of the UTF-8 text.
    pub fn hmac_hex(&self, text: &str) -> String {
        hex(hmac::sign(&self.key, text.as_bytes()).as_ref())
    }
}

impl PartialEq for HashKey {
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint == other.fingerprint
    }
}

impl std::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashKey(***)")
    }
}

#[cfg(test)]
mod tests {
    //! Inputs and expected digests are Google's own, from the Data Manager API's
    //! Python client library, which Google's "Format user data" guide points to:
    //! https://github.com/googleads/data-manager-python/blob/main/tests/formatter_test.py
    //! (and its `format.py` for the gmail and phone rules). Where Google
    //! publishes the normalised text but no digest, the digest was computed
    //! independently with Python's `hashlib.sha256(text.encode()).hexdigest()`.
    use super::*;

    fn hash(kind: FieldKind, value: &str) -> String {
        sha256_hex(&normalise(kind, value))
    }

    const ALEXZ: &str = "509e933019bb285a134a9334b8bb679dff79d0ce023d529af4bd744d47b4fd8a";
    const PHONE_18005550100: &str =
        "fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30";

    #[test]
    fn emails_match_googles_digests() {
        for variant in [
            "alexz@example.com",
            "  alexz@example.com",
            "  ALEXZ@example.com   ",
            "  alexz@EXAMPLE.com   ",
        ] {
            assert_eq!(hash(FieldKind::Email, variant), ALEXZ, "{variant:?}");
        }
        // Intermediate whitespace goes too ("Trim leading, trailing and intermediate whitespace").
        assert_eq!(hash(FieldKind::Email, "alexz @ example.com"), ALEXZ);
    }

    #[test]
    fn gmail_dots_and_plus_suffix() {
        // Google's test cases for the text before hashing.
        assert_eq!(
            normalise(FieldKind::Email, "Jefferson.Loves.hiking@gmail.com"),
            "jeffersonloveshiking@gmail.com"
        );
        assert_eq!(
            normalise(FieldKind::Email, "Jefferson.LOVES.Hiking@googlemail.com"),
            "jeffersonloveshiking@googlemail.com"
        );
        assert_eq!(
            normalise(FieldKind::Email, "QuinnY@EXAMPLE.com"),
            "quinny@example.com"
        );
        // format.py: "Removes plus sign (+) and all characters that follow it", gmail only.
        assert_eq!(
            normalise(FieldKind::Email, "Jefferson.Loves.hiking+NYC@gmail.com"),
            "jeffersonloveshiking@gmail.com"
        );
        assert_eq!(
            normalise(FieldKind::Email, "user.name+NYC@Example.com"),
            "user.name+nyc@example.com"
        );
        // hashlib.sha256(b"jeffersonloveshiking@gmail.com").hexdigest()
        assert_eq!(
            hash(FieldKind::Email, " Jefferson.Loves.Hiking+x@GMAIL.com "),
            "515d2f967f73864e76937ab2b897210a86fd286016903b1b08c3da07c75f513e"
        );
    }

    #[test]
    fn phones_written_several_ways() {
        for variant in [
            "+18005550100",
            "   +1-800-555-0100",
            "1-800-555-0100   ",
            "1 800 555 0100",
            "+1 (800)555-0100",
        ] {
            assert_eq!(
                hash(FieldKind::Phone, variant),
                PHONE_18005550100,
                "{variant:?}"
            );
        }
        for (input, e164) in [
            ("441134960987", "+441134960987"),
            ("+44-113-496-0987", "+441134960987"),
            (" +A BCD EFG ", ""),
        ] {
            assert_eq!(normalise(FieldKind::Phone, input), e164);
        }
    }

    #[test]
    fn names_match_googles_digests() {
        // "Hex-encoded hash of \"givenname\"" / "familyname".
        let given = "128a07bfe2df877c52076e60d7774cf5baaa046c5a6c48daf30ff43ecca2f814";
        let family = "77762c287e61ce065bee5c15464012c6fbe088398b8057627d5577249430d574";
        assert_eq!(hash(FieldKind::Name, "Givenname"), given);
        assert_eq!(hash(FieldKind::Name, "  GivenName  "), given);
        assert_eq!(hash(FieldKind::Name, "Familyname"), family);
        assert_eq!(hash(FieldKind::Name, "  FamilyName "), family);
    }

    #[test]
    fn nfc_before_hashing() {
        // "é" as e + combining acute (U+0065 U+0301) hashes as the precomposed U+00E9:
        // hashlib.sha256("josé".encode()).hexdigest()
        let composed = "d994e1d001886fe5b45b1267bd1fa2b752ac50742579bd3dad7b2a2aa0ed6866";
        assert_eq!(hash(FieldKind::Name, "Jose\u{301}"), composed);
        assert_eq!(hash(FieldKind::Name, "Jos\u{e9}"), composed);
        assert_ne!(
            sha256_hex("jose\u{301}"),
            sha256_hex("jos\u{e9}"),
            "the two spellings differ as bytes"
        );
    }

    #[test]
    fn field_kinds_follow_the_last_segment() {
        assert_eq!(FieldKind::of(Some("email")), FieldKind::Email);
        assert_eq!(FieldKind::of(Some("email_address")), FieldKind::Email);
        assert_eq!(FieldKind::of(Some("phone")), FieldKind::Phone);
        assert_eq!(FieldKind::of(Some("phone_number")), FieldKind::Phone);
        assert_eq!(FieldKind::of(Some("postal_code")), FieldKind::Plain);
        assert_eq!(FieldKind::of(Some("first_name")), FieldKind::Name);
        assert_eq!(FieldKind::of(None), FieldKind::Name);
    }

    #[test]
    fn hmac_is_keyed() {
        let a = HashKey::new(&[b'a'; 32]).unwrap();
        let b = HashKey::new(&[b'b'; 32]).unwrap();
        assert_eq!(
            a.hmac_hex("x"),
            HashKey::new(&[b'a'; 32]).unwrap().hmac_hex("x")
        );
        assert_ne!(a.hmac_hex("x"), b.hmac_hex("x"));
        assert_ne!(a, b);
        assert!(HashKey::new(&[0; 31]).is_none());
        assert_eq!(format!("{a:?}"), "HashKey(***)");
        // Computed independently: hmac.new(b"a" * 32, b"x", hashlib.sha256).hexdigest()
        assert_eq!(
            a.hmac_hex("x"),
            "50fcb5c9e3608d6f8c570651b0e8f1b55f2aeb3d16b037a796f809a04b5499d9"
        );
    }
}
