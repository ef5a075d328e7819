//! AWS Signature Version 4 of one request, as Google's STS wants it for an
//! AWS-sourced external account: a `GetCallerIdentity` request signed with the
//! caller's AWS credentials, never sent to AWS by us (Google's STS sends it).
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html>

use aws_lc_rs::{digest, hmac};
use hermes_core::hex::hex;
use reqwest::Url;
use std::time::SystemTime;

/// AWS credentials: from Lambda's environment or the instance metadata.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AwsKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKeys")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// `YYYYMMDDTHHMMSSZ`, SigV4's `x-amz-date`.
pub(crate) fn amz_date(t: SystemTime) -> String {
    // `2026-01-02T03:04:05.123456Z` → `20260102T030405Z`.
    let rfc = hermes_core::time::format_timestamp(t);
    let mut out = String::with_capacity(16);
    out.extend(rfc[..19].chars().filter(|c| *c != '-' && *c != ':'));
    out.push('Z');
    out
}

/// RFC 3986 unreserved characters stay, every other byte is `%XX` (SigV4's `UriEncode`).
fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
        .as_ref()
        .to_vec()
}

/// The request's canonical form. `headers` are (lower-case name, value) and
/// must include `host` and `x-amz-date`; all of them are signed.
fn canonical_request(
    method: &str,
    url: &Url,
    headers: &[(String, String)],
    body: &[u8],
) -> (String, String) {
    let mut query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (uri_encode(&k), uri_encode(&v)))
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut sorted: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            let value = v.split_whitespace().collect::<Vec<_>>().join(" ");
            (k.to_ascii_lowercase(), value)
        })
        .collect();
    sorted.sort();
    let canonical_headers: String = sorted.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed = sorted
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let path = if url.path().is_empty() {
        "/"
    } else {
        url.path()
    };
    let canonical = format!(
        "{method}\n{path}\n{query}\n{canonical_headers}\n{signed}\n{}",
        sha256_hex(body)
    );
    (canonical, signed)
}

/// The `Authorization` header value of the request.
pub(crate) fn authorization(
    keys: &AwsKeys,
    region: &str,
    service: &str,
    method: &str,
    url: &Url,
    headers: &[(String, String)],
    body: &[u8],
) -> String {
    let amz_date = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-date"))
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let date = amz_date.get(..8).unwrap_or_default();
    let (canonical, signed) = canonical_request(method, url, headers, body);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let mut key = hmac_sha256(
        format!("AWS4{}", keys.secret_access_key).as_bytes(),
        date.as_bytes(),
    );
    for part in [region, service, "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    let signature = hex(&hmac_sha256(&key, to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
        keys.access_key_id
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's documented example (IAM `ListUsers`, "Examples of the complete
    /// Signature Version 4 signing process" in the AWS General Reference).
    #[test]
    fn the_documented_example_signs_as_documented() {
        let keys = AwsKeys {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        let url = Url::parse("https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08")
            .expect("url");
        let headers = vec![
            (
                "content-type".to_string(),
                "application/x-www-form-urlencoded; charset=utf-8".to_string(),
            ),
            ("host".to_string(), "iam.amazonaws.com".to_string()),
            ("x-amz-date".to_string(), "20150830T123600Z".to_string()),
        ];
        let (canonical, _) = canonical_request("GET", &url, &headers, b"");
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        assert_eq!(
            authorization(&keys, "us-east-1", "iam", "GET", &url, &headers, b""),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn amz_date_is_basic_iso8601() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160);
        assert_eq!(amz_date(t), "20150830T123600Z");
    }
}
