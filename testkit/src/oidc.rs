//! Google-style OIDC tokens for tests: an RSA key the test makes, its JWKS, and
//! RS256-signed tokens (standing in for Google's signer and cert endpoint), with
//! the claims Google puts in a Pub/Sub push token.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{json, Value};

pub struct TestKey {
    pub signing: EncodingKey,
    /// The private key as PKCS#8 PEM, as a service-account key file holds it.
    pub pem: String,
    /// Modulus and exponent, base64url without padding, as in a JWKS.
    pub n: String,
    pub e: String,
}

impl TestKey {
    pub fn generate() -> Self {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("generate RSA key");
        let pkcs8 = pair.as_der().expect("PKCS#8 DER");
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD
                .encode(pkcs8.as_ref())
                .as_bytes()
                .chunks(64)
                .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let public = pair.public_key();
        Self {
            signing: EncodingKey::from_rsa_pem(pem.as_bytes()).expect("jsonwebtoken reads the key"),
            pem,
            n: URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            e: URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        }
    }

    /// The public key, for verifying what was signed with this key.
    pub fn decoding(&self) -> DecodingKey {
        DecodingKey::from_rsa_components(&self.n, &self.e).expect("the key's own n and e")
    }

    /// Whether `signature` (base64url, unpadded, as in a JWS) is this key's
    /// RS256 signature of `message`.
    pub fn verifies_rs256(&self, message: &[u8], signature: &str) -> bool {
        jsonwebtoken::crypto::verify(signature, message, &self.decoding(), Algorithm::RS256)
            .unwrap_or(false)
    }

    pub fn jwk(&self, kid: &str) -> Value {
        json!({ "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "n": self.n, "e": self.e })
    }
}

/// A JWKS listing these keys, plus a key of another type that verifiers must skip.
pub fn jwks(keys: &[(&TestKey, &str)]) -> Value {
    // Google's JWKS also lists keys we must skip without failing.
    let mut list: Vec<Value> = keys.iter().map(|(k, kid)| k.jwk(kid)).collect();
    list.push(json!({ "kty": "EC", "kid": "ec-key", "crv": "P-256", "x": "AA", "y": "AA" }));
    json!({ "keys": list })
}

pub fn sign(key: &TestKey, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &key.signing).expect("sign")
}

/// Now, in the seconds of `iat` / `exp`.
pub fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// The claims of a valid Google-signed push token for `audience`, as `email`,
/// issued now and valid for an hour.
pub fn google_claims(audience: &str, email: &str) -> Value {
    json!({
        "iss": "https://accounts.google.com",
        "aud": audience,
        "azp": "112233445566778899",
        "sub": "112233445566778899",
        "email": email,
        "email_verified": true,
        "iat": now(),
        "exp": now() + 3600,
    })
}

/// `claims` with `key` set to `value`.
pub fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

/// The `Authorization` header value carrying `token`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}
