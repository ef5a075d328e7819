//! Workload identity federation from AWS without AWS or Google: recording
//! stand-ins for the AWS instance metadata (IMDSv2), Google's STS and IAM
//! Credentials, and Pub/Sub's publish, on loopback; the `external_account`
//! file that names them (as a real one names the real hosts); and the checks of
//! what was sent, the AWS signature recomputed by botocore (Python), an
//! implementation independent of Hermes'.

use crate::publishers::PublishIds;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const AUDIENCE: &str = "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/aws-pool/providers/aws-provider";
pub const SERVICE_ACCOUNT: &str = "hermes-ingest@hermes-test.iam.gserviceaccount.com";
/// What STS answers: the federated token, good only to impersonate.
pub const STS_TOKEN: &str = "sts.federated-token-from-the-exchange";
/// What IAM answers: the service account's access token, the one publishes carry.
pub const IAM_TOKEN: &str = "ya29.impersonated-service-account-token";
pub const REGION: &str = "eu-west-3";
pub const ACCESS_KEY_ID: &str = "ASIAHERMESTESTKEY";
/// `+`, `/` and `=` as in real keys, to be escaped on the way.
pub const SECRET_ACCESS_KEY: &str = "hermes/Test+Secret=Key0123456789abcdefghij";
pub const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjE+hermes/session=token//";
/// The metadata's IMDSv2 session token, and the role it names.
pub const IMDS_SESSION: &str = "imdsv2-session-token";
pub const ROLE: &str = "hermes-lambda-role";

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const REQUESTED_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const SUBJECT_TOKEN_TYPE: &str = "urn:ietf:params:aws:token-type:aws4_request";
pub const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

/// The four recording peers.
pub struct Federation {
    pub aws: MockServer,
    pub sts: MockServer,
    pub iam: MockServer,
    pub pubsub: MockServer,
}

pub fn impersonation_path() -> String {
    format!("/v1/projects/-/serviceAccounts/{SERVICE_ACCOUNT}:generateAccessToken")
}

impl Federation {
    pub async fn start() -> Self {
        let aws = MockServer::start().await;
        Mock::given(method("PUT"))
            .and(path("/latest/api/token"))
            .and(header("x-aws-ec2-metadata-token-ttl-seconds", "300"))
            .respond_with(ResponseTemplate::new(200).set_body_string(IMDS_SESSION))
            .mount(&aws)
            .await;
        let creds = "/latest/meta-data/iam/security-credentials";
        Mock::given(method("GET"))
            .and(path(creds))
            .and(header("x-aws-ec2-metadata-token", IMDS_SESSION))
            .respond_with(ResponseTemplate::new(200).set_body_string(ROLE))
            .mount(&aws)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("{creds}/{ROLE}")))
            .and(header("x-aws-ec2-metadata-token", IMDS_SESSION))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "Code": "Success",
                "Type": "AWS-HMAC",
                "AccessKeyId": ACCESS_KEY_ID,
                "SecretAccessKey": SECRET_ACCESS_KEY,
                "Token": SESSION_TOKEN,
                "Expiration": "2099-01-01T00:00:00Z",
            })))
            .mount(&aws)
            .await;
        Mock::given(method("GET"))
            .and(path("/latest/meta-data/placement/availability-zone"))
            .and(header("x-aws-ec2-metadata-token", IMDS_SESSION))
            .respond_with(ResponseTemplate::new(200).set_body_string(format!("{REGION}b")))
            .mount(&aws)
            .await;

        let sts = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": STS_TOKEN,
                "issued_token_type": REQUESTED_TOKEN_TYPE,
                "token_type": "Bearer",
                "expires_in": 3600,
            })))
            .mount(&sts)
            .await;

        let iam = MockServer::start().await;
        let expire = hermes_core::time::format_timestamp(
            std::time::SystemTime::now() + std::time::Duration::from_secs(3600),
        );
        Mock::given(method("POST"))
            .and(path(impersonation_path()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "accessToken": IAM_TOKEN,
                "expireTime": expire,
            })))
            .mount(&iam)
            .await;

        let pubsub = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(PublishIds::new("fed-", 0))
            .mount(&pubsub)
            .await;
        Self {
            aws,
            sts,
            iam,
            pubsub,
        }
    }

    /// An `external_account` file as `gcloud iam workload-identity-pools
    /// create-cred-config --aws` writes it, the hosts replaced by the stand-ins.
    /// Without `metadata`, it has no `url` / `region_url` (credentials and
    /// region from Lambda's environment).
    pub fn file(&self, metadata: bool) -> Value {
        let aws = self.aws.uri();
        let mut source = json!({
            "environment_id": "aws1",
            "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
        });
        if metadata {
            source["region_url"] = json!(format!(
                "{aws}/latest/meta-data/placement/availability-zone"
            ));
            source["url"] = json!(format!("{aws}/latest/meta-data/iam/security-credentials"));
            source["imdsv2_session_token_url"] = json!(format!("{aws}/latest/api/token"));
        }
        json!({
            "universe_domain": "googleapis.com",
            "type": "external_account",
            "audience": AUDIENCE,
            "subject_token_type": SUBJECT_TOKEN_TYPE,
            "service_account_impersonation_url": format!("{}{}", self.iam.uri(), impersonation_path()),
            "token_url": format!("{}/v1/token", self.sts.uri()),
            "credential_source": source,
        })
    }

    /// Checks the one token exchange STS received has Google's documented
    /// shape, and returns its decoded subject token.
    pub async fn exchange(&self) -> SubjectToken {
        let calls = self.sts.received_requests().await.expect("recording");
        assert_eq!(calls.len(), 1, "one token exchange");
        let call = &calls[0];
        assert_eq!(call.url.path(), "/v1/token");
        assert_eq!(
            call.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/x-www-form-urlencoded")
        );
        let form = form(call);
        let field = |name: &str| {
            let v: Vec<&String> = form
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v)
                .collect();
            assert_eq!(v.len(), 1, "one {name} in {form:?}");
            v[0].clone()
        };
        assert_eq!(field("grant_type"), GRANT_TYPE);
        assert_eq!(field("requested_token_type"), REQUESTED_TOKEN_TYPE);
        assert_eq!(field("subject_token_type"), SUBJECT_TOKEN_TYPE);
        assert_eq!(field("audience"), AUDIENCE);
        assert_eq!(field("scope"), CLOUD_PLATFORM);
        // The subject token is itself URL-encoded JSON (inside the form's own encoding).
        let encoded = field("subject_token");
        let json = decode_component(&encoded);
        let value: Value = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("subject token is not JSON ({e}): {json}"));
        SubjectToken::from_json(&value)
    }

    /// Checks the one impersonation call IAM received carried the STS token.
    pub async fn impersonation(&self) -> Value {
        let calls = self.iam.received_requests().await.expect("recording");
        assert_eq!(calls.len(), 1, "one generateAccessToken");
        let call = &calls[0];
        assert_eq!(call.url.path(), impersonation_path());
        assert_eq!(
            call.headers
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
            Some(format!("Bearer {STS_TOKEN}").as_str()),
            "the STS token authorises the impersonation"
        );
        let body: Value = serde_json::from_slice(&call.body).expect("JSON body");
        assert_eq!(body["scope"], json!([CLOUD_PLATFORM]), "{body}");
        body
    }

    /// The `Authorization` headers of the publishes Pub/Sub received.
    pub async fn publish_bearers(&self) -> Vec<String> {
        self.pubsub
            .received_requests()
            .await
            .expect("recording")
            .iter()
            .map(|r| {
                r.headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    }
}

/// A form body as (name, value) pairs, decoded.
pub fn form(request: &Request) -> Vec<(String, String)> {
    let body = std::str::from_utf8(&request.body).expect("UTF-8 form");
    reqwest::Url::parse(&format!("http://form/?{body}"))
        .expect("form")
        .query_pairs()
        .into_owned()
        .collect()
}

/// Percent-decoding of one URL component (`+` is a space, as in a query).
fn decode_component(s: &str) -> String {
    reqwest::Url::parse(&format!("http://x/?v={s}"))
        .expect("url")
        .query_pairs()
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The signed `GetCallerIdentity` request of a subject token.
#[derive(Debug)]
pub struct SubjectToken {
    pub url: String,
    pub method: String,
    /// As sent, in order.
    pub headers: Vec<(String, String)>,
}

impl SubjectToken {
    fn from_json(v: &Value) -> Self {
        let headers = v["headers"]
            .as_array()
            .unwrap_or_else(|| panic!("headers is a list: {v}"))
            .iter()
            .map(|h| {
                (
                    h["key"].as_str().expect("key").to_string(),
                    h["value"].as_str().expect("value").to_string(),
                )
            })
            .collect();
        Self {
            url: v["url"].as_str().expect("url").to_string(),
            method: v["method"].as_str().expect("method").to_string(),
            headers,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Checks the request is the signed `GetCallerIdentity` Google documents:
    /// POST to the regional AWS STS URL, the audience as
    /// `x-goog-cloud-target-resource`, the session token, and an
    /// `Authorization` whose signature botocore computes the same from the
    /// secret key. Returns false (after a visible skip) when botocore is missing.
    pub fn verify(&self, secret_access_key: &str, session_token: &str) -> bool {
        assert_eq!(self.method, "POST");
        assert_eq!(
            self.url,
            format!(
                "https://sts.{REGION}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
            )
        );
        assert_eq!(
            self.header("host"),
            Some(format!("sts.{REGION}.amazonaws.com").as_str())
        );
        assert_eq!(self.header("x-goog-cloud-target-resource"), Some(AUDIENCE));
        assert_eq!(self.header("x-amz-security-token"), Some(session_token));
        let date = self.header("x-amz-date").expect("x-amz-date");
        let auth = self
            .header("authorization")
            .expect("Authorization")
            .to_string();
        let expected_prefix = format!(
            "AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/{}/{REGION}/sts/aws4_request, ",
            &date[..8]
        );
        assert!(auth.starts_with(&expected_prefix), "{auth}");
        let Some((signed, signature)) = botocore_signature(self, secret_access_key, session_token)
        else {
            return false;
        };
        assert_eq!(
            auth,
            format!("{expected_prefix}SignedHeaders={signed}, Signature={signature}"),
            "botocore signs the same request with the same key alike"
        );
        true
    }
}

/// botocore's SigV4 of the request (its own canonical request, string to sign
/// and key derivation), at the request's own `x-amz-date`: (signed headers, signature).
fn botocore_signature(
    token: &SubjectToken,
    secret: &str,
    session_token: &str,
) -> Option<(String, String)> {
    const SCRIPT: &str = r#"
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
d = json.load(sys.stdin)
headers = {k: v for k, v in d["headers"] if k.lower() != "authorization"}
req = AWSRequest(method=d["method"], url=d["url"], headers=headers, data=b"")
auth = SigV4Auth(Credentials(d["key"], d["secret"], d["token"]), "sts", d["region"])
req.context["timestamp"] = headers["x-amz-date"]
canonical = auth.canonical_request(req)
to_sign = auth.string_to_sign(req, canonical)
print(auth.signed_headers(auth.headers_to_sign(req)))
print(auth.signature(to_sign, req))
"#;
    let input = json!({
        "method": token.method,
        "url": token.url,
        "headers": token.headers,
        "key": ACCESS_KEY_ID,
        "secret": secret,
        "token": session_token,
        "region": REGION,
    });
    // The tools venv's Python, where scripts/install-test-tools puts botocore.
    let python = crate::emulator::tool("venv/bin/python3")?;
    let child = Command::new(python)
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        crate::ci::skip("the tools venv's python3 would not start: the AWS signature is not checked by botocore");
        return None;
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write to python3");
    let out = child.wait_with_output().expect("python3");
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No module named 'botocore'") {
            crate::ci::skip("botocore is not installed: the AWS signature is not checked by it");
            return None;
        }
        panic!("botocore failed: {err}");
    }
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let mut lines = text.lines();
    Some((
        lines.next().expect("signed headers").to_string(),
        lines.next().expect("signature").to_string(),
    ))
}
