//! Per-destination transforms of personal data, applied to the event before
//! the Hermes encoding (README, "Personal data"): `drop`, `hash` (Google's
//! normalisation, then SHA-256), `hmac` (HMAC-SHA-256 with `HERMES_HASH_KEY`),
//! `redact` (e-mail addresses, card numbers, phone numbers in any string) and
//! `mask_ip` (`ip_override`).
//!
//! The configuration is parsed once at start-up into a [`Transform`]; applying
//! it cannot fail.

mod normalise;
mod paths;
mod redact;

pub use normalise::{is_sha256_hex, normalise, sha256_hex, FieldKind, HashKey, MIN_HASH_KEY_BYTES};
pub use paths::TransformPath;
pub use redact::Redact;

use crate::config::error::ConfigError;
use crate::json::{Json, Str};
use serde::Deserialize;
use std::net::IpAddr;

/// The environment variable holding the `hmac` key (raw bytes).
pub const ENV_HASH_KEY: &str = "HERMES_HASH_KEY";

/// The field `mask_ip` masks.
pub const IP_FIELD: &str = "ip_override";

/// `[destinations.transform]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTransform {
    drop: Option<Vec<String>>,
    hash: Option<Vec<String>>,
    hmac: Option<Vec<String>>,
    redact: Option<Vec<String>>,
    mask_ip: Option<bool>,
}

/// What a destination does to an event's personal data before encoding it.
#[derive(Debug, Clone, PartialEq)]
pub struct Transform {
    pub drop: Vec<TransformPath>,
    pub hash: Vec<(TransformPath, FieldKind)>,
    pub hmac: Vec<(TransformPath, FieldKind)>,
    pub redact: Redact,
    pub mask_ip: bool,
    /// Present when `hmac` is not empty, except in a `Config` of a function
    /// that never encodes (`Config::from_env_without_hash_key`).
    hash_key: Option<HashKey>,
}

impl Transform {
    /// Parses `[destinations.transform]`; `key` names it in errors
    /// (`destinations[2].transform`). `None` when it asks for nothing, so a
    /// destination without transforms costs nothing. `hash_key` is the raw
    /// `HERMES_HASH_KEY`, needed only when `hmac` lists paths and `need_key`
    /// (a function that encodes events).
    pub(crate) fn parse(
        raw: RawTransform,
        key: &str,
        hash_key: Option<&[u8]>,
        need_key: bool,
    ) -> Result<Option<Self>, ConfigError> {
        let drop = paths(raw.drop, &format!("{key}.drop"))?;
        let hash = digest_paths(raw.hash, &format!("{key}.hash"))?;
        let hmac = digest_paths(raw.hmac, &format!("{key}.hmac"))?;
        let mut redact = Redact::default();
        for (j, kind) in raw.redact.unwrap_or_default().iter().enumerate() {
            match kind.as_str() {
                "email" => redact.email = true,
                "credit_card" => redact.credit_card = true,
                "phone" => redact.phone = true,
                other => {
                    return Err(ConfigError::invalid(
                        format!("{key}.redact[{j}]"),
                        format!("\"{other}\" is not one of email, credit_card, phone"),
                    ))
                }
            }
        }
        let hash_key = if hmac.is_empty() || (!need_key && hash_key.is_none()) {
            None
        } else {
            let needs = format!("{key}.hmac needs a key of at least {MIN_HASH_KEY_BYTES} bytes");
            let bytes = hash_key.ok_or_else(|| {
                ConfigError::invalid(ENV_HASH_KEY, format!("is not set; {needs}"))
            })?;
            Some(HashKey::new(bytes).ok_or_else(|| {
                ConfigError::invalid(
                    ENV_HASH_KEY,
                    format!("is {} bytes long; {needs}", bytes.len()),
                )
            })?)
        };
        let transform = Self {
            drop,
            hash,
            hmac,
            redact,
            mask_ip: raw.mask_ip.unwrap_or(false),
            hash_key,
        };
        let nothing = transform.drop.is_empty()
            && transform.hash.is_empty()
            && transform.hmac.is_empty()
            && transform.redact.is_empty()
            && !transform.mask_ip;
        Ok((!nothing).then_some(transform))
    }

    /// Applies every transform to `event`, in order: drop, hash, hmac,
    /// mask_ip, redact. (Redaction comes last: a digest is one run of letters
    /// and digits, which no scanner takes for personal data.) A key written
    /// twice in one object is first kept once, with its last value (as a JSON
    /// map reads it), so no copy of a value escapes a transform; the values no
    /// transform touches keep their text as written.
    pub fn apply(&self, event: &mut Json<'_>) {
        event.dedupe();
        for path in &self.drop {
            path.remove(event);
        }
        for (path, kind) in &self.hash {
            path.for_each_mut(event, &mut |v| digest(v, *kind, &Digest::Sha256));
        }
        match &self.hash_key {
            Some(key) => {
                for (path, kind) in &self.hmac {
                    path.for_each_mut(event, &mut |v| digest(v, *kind, &Digest::Hmac(key)));
                }
            }
            // Only a function that never encodes parses without the key: nothing
            // it could ever publish keeps these values.
            None => self.hmac.iter().for_each(|(path, _)| path.remove(event)),
        }
        if self.mask_ip {
            if let Some(ip) = event.get_mut(IP_FIELD) {
                match mask_ip(ip) {
                    Ok(masked) => *ip = masked,
                    // Not an address (a list, garbage): it cannot be masked, so it goes.
                    Err(()) => event.remove(IP_FIELD),
                }
            }
        }
        if !self.redact.is_empty() {
            self.redact.value(event);
        }
    }
}

fn paths(list: Option<Vec<String>>, key: &str) -> Result<Vec<TransformPath>, ConfigError> {
    list.unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(j, p)| {
            TransformPath::parse(p).ok_or_else(|| {
                ConfigError::invalid(
                    format!("{key}[{j}]"),
                    format!("\"{p}\" is not a dotted path"),
                )
            })
        })
        .collect()
}

fn digest_paths(
    list: Option<Vec<String>>,
    key: &str,
) -> Result<Vec<(TransformPath, FieldKind)>, ConfigError> {
    paths(list, key)?
        .into_iter()
        .enumerate()
        .map(|(j, path)| match FieldKind::of(path.last_field()) {
            FieldKind::Plain => Err(ConfigError::invalid(
                format!("{key}[{j}]"),
                format!(
                    "\"{}\" is never hashed: Google takes city, region, postal_code and \
                     country in plain text (drop it if it must not be sent)",
                    path.as_str()
                ),
            )),
            kind => Ok((path, kind)),
        })
        .collect()
}

enum Digest<'a> {
    Sha256,
    Hmac(&'a HashKey),
}

/// Replaces a value with its digest: strings and numbers (as written) after
/// Google's normalisation for `kind`; arrays element by element; objects key
/// by key, each with the kind of its own key (so an `address` object keeps its
/// `city` and `country` in plain text). Booleans and null stay.
fn digest(value: &mut Json<'_>, kind: FieldKind, how: &Digest<'_>) {
    let text = match value {
        // A plain string stays as it was written.
        Json::String(_) if kind == FieldKind::Plain => return,
        Json::String(s) => s.as_cow().into_owned(),
        Json::Number(n) => n.to_string(),
        Json::Array(items) => {
            items.iter_mut().for_each(|v| digest(v, kind, how));
            return;
        }
        Json::Object(map) => {
            for (k, v) in map.iter_mut() {
                digest(v, FieldKind::of(Some(&k.as_cow())), how);
            }
            return;
        }
        Json::Bool(_) | Json::Null => return,
    };
    if kind == FieldKind::Plain {
        *value = Json::String(Str::Owned(text.into()));
        return;
    }
    let out = match how {
        // Already hashed by the sender: kept, in the lowercase Google expects.
        Digest::Sha256 if is_sha256_hex(&text) => text.to_ascii_lowercase(),
        how => {
            let normalised = normalise(kind, &text);
            match how {
                _ if normalised.is_empty() => String::new(),
                Digest::Sha256 => sha256_hex(&normalised),
                Digest::Hmac(key) => key.hmac_hex(&normalised),
            }
        }
    };
    *value = Json::String(Str::Owned(out.into()));
}

/// IPv4: the last octet zeroed; IPv6: the last 80 bits zeroed (an IPv4-mapped
/// address is masked as IPv4). `Err` when the value is no address.
fn mask_ip(value: &Json<'_>) -> Result<Json<'static>, ()> {
    let ip: IpAddr = value
        .as_str()
        .and_then(|s| s.trim().parse().ok())
        .ok_or(())?;
    let masked = match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => {
            IpAddr::V4(v6.to_ipv4_mapped().ok_or(())?)
        }
        ip => ip,
    };
    let masked = match masked {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 80) - 1)).into()),
    };
    Ok(Json::String(Str::Owned(masked.to_string().into())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// Applies `t` to an event written as a `Value`.
    fn apply(t: &Transform, event: &mut Value) {
        let mut tree = crate::json::tests::leaked(event);
        t.apply(&mut tree);
        *event = tree.to_value();
    }

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn transform(toml: &str) -> Transform {
        let raw: RawTransform = toml::from_str(toml).unwrap();
        Transform::parse(raw, "t", Some(KEY), true)
            .unwrap()
            .unwrap()
    }

    fn parse_err(toml: &str, key: Option<&[u8]>) -> String {
        let raw: RawTransform = toml::from_str(toml).unwrap();
        Transform::parse(raw, "destinations[0].transform", key, true)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn masks_ip_addresses() {
        let t = transform("mask_ip = true");
        for (ip, masked) in [
            ("203.0.113.77", json!("203.0.113.0")),
            (" 203.0.113.77 ", json!("203.0.113.0")),
            ("2001:db8:abcd:12:1:2:3:4", json!("2001:db8:abcd::")),
            ("::ffff:198.51.100.7", json!("198.51.100.0")),
        ] {
            let mut e = json!({"ip_override": ip, "x": 1});
            apply(&t, &mut e);
            assert_eq!(e, json!({"ip_override": masked, "x": 1}), "{ip}");
        }
        let mut e = json!({"ip_override": "1.2.3.4, 5.6.7.8", "x": 1});
        apply(&t, &mut e);
        assert_eq!(e, json!({"x": 1}));
    }

    #[test]
    fn hashes_user_data_by_field() {
        let t = transform(
            r#"hash = ["user_data.email_address", "user_data.phone_number", "user_data.address"]"#,
        );
        let mut e = json!({"user_data": {
            "email_address": [" AlexZ@example.com", "509E933019BB285A134A9334B8BB679DFF79D0CE023D529AF4BD744D47B4FD8A"],
            "phone_number": "+1 (800) 555-0100",
            "address": {"first_name": "  GivenName  ", "city": "Aarhus", "country": "DK"},
            "street": "Main St 1"
        }});
        apply(&t, &mut e);
        let alexz = "509e933019bb285a134a9334b8bb679dff79d0ce023d529af4bd744d47b4fd8a";
        assert_eq!(
            e,
            json!({"user_data": {
                "email_address": [alexz, alexz],
                "phone_number": "fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30",
                "address": {"first_name": "128a07bfe2df877c52076e60d7774cf5baaa046c5a6c48daf30ff43ecca2f814", "city": "Aarhus", "country": "DK"},
                "street": "Main St 1"
            }})
        );
    }

    #[test]
    fn hmac_is_stable_per_key_and_differs_across_keys() {
        let event = json!({"user_id": "U-42", "n": 7});
        let run = |key: &[u8]| {
            let raw: RawTransform = toml::from_str(r#"hmac = ["user_id", "n"]"#).unwrap();
            let t = Transform::parse(raw, "t", Some(key), true)
                .unwrap()
                .unwrap();
            let mut e = event.clone();
            apply(&t, &mut e);
            e
        };
        let a = run(KEY);
        assert_eq!(a, run(KEY));
        assert_ne!(a, run(b"another key, also thirty-two bytes"));
        // Same normalisation as `hash` (lowercase), then the key:
        // python3 -c 'import hmac,hashlib; print(hmac.new(b"0123456789abcdef0123456789abcdef", b"u-42", hashlib.sha256).hexdigest())'
        assert_eq!(
            a["user_id"],
            "ffc304dc8ccbca862ed8e4dfcf2aee7fb2825ca76fc7abc6e3f26a813ec5dc63"
        );
        assert!(is_sha256_hex(a["n"].as_str().unwrap()));
    }

    #[test]
    fn configuration_errors_name_the_key() {
        assert!(parse_err(r#"hash = ["a..b"]"#, None).contains("destinations[0].transform.hash[0]"));
        assert!(parse_err(r#"hash = ["user_data.country"]"#, None)
            .contains("destinations[0].transform.hash[0]"));
        assert!(
            parse_err(r#"redact = ["ssn"]"#, None).contains("destinations[0].transform.redact[0]")
        );
        let missing = parse_err(r#"hmac = ["user_id"]"#, None);
        assert!(
            missing.contains("HERMES_HASH_KEY") && missing.contains("not set"),
            "{missing}"
        );
        let short = parse_err(r#"hmac = ["user_id"]"#, Some(b"short"));
        assert!(
            short.contains("HERMES_HASH_KEY") && short.contains("5 bytes"),
            "{short}"
        );
        assert!(!short.contains("short\""), "the key itself is never shown");
        let raw: RawTransform = toml::from_str("drop = []\nmask_ip = false").unwrap();
        assert_eq!(Transform::parse(raw, "t", None, true).unwrap(), None);
        assert!(toml::from_str::<RawTransform>("hsah = []").is_err());
    }
}
