//! `Auth::Google` with a service-account key (Application Default Credentials
//! through `gcp_auth`) against a local token endpoint: the signed JWT-bearer
//! grant it sends, the access token it puts on a real Pub/Sub publish, and the
//! token kept for the next call. Its own test binary, with one test, because it
//! sets `GOOGLE_APPLICATION_CREDENTIALS` for the whole process.

use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use bytes::Bytes;
use hermes_core::destination::{Message, Publisher, TopicName};
use hermes_gcp::pubsub::PubSubRest;
use hermes_gcp::{Auth, Endpoint};
use hermes_testkit::oidc::{now, TestKey};
use hermes_testkit::publishers::PublishIds;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CLIENT_EMAIL: &str = "hermes-test@hermes-test.iam.gserviceaccount.com";
const ACCESS_TOKEN: &str = "ya29.hermes-test-access-token";
/// Written out rather than taken from `hermes_gcp`, so a wrong constant there fails here.
const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

/// gcp_auth writes the JWT's base64url segments padded (RFC 7515 says
/// unpadded; Google accepts both), so read them either way.
const JWT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A directory of this process's own, removed when the test ends, even by a panic.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("hermes-google-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn segment(part: &str) -> Value {
    let bytes = JWT_BASE64.decode(part).expect("base64url JWT segment");
    serde_json::from_slice(&bytes).expect("JSON JWT segment")
}

#[tokio::test]
async fn a_service_account_key_signs_a_grant_and_its_token_authorises_a_publish() {
    let token_server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": ACCESS_TOKEN,
            "expires_in": 3600,
            "token_type": "Bearer",
        })))
        .mount(&token_server)
        .await;
    let token_uri = format!("{}/token", token_server.uri());

    // A key file as the Cloud console downloads it, naming the local endpoint.
    let key = TestKey::generate();
    let dir = TempDir::new();
    let key_file = dir.0.join("service-account.json");
    let key_json = json!({
        "type": "service_account",
        "project_id": "hermes-test",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": key.pem,
        "client_email": CLIENT_EMAIL,
        "client_id": "112233445566778899",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    });
    std::fs::write(&key_file, key_json.to_string()).expect("write key file");
    std::env::set_var("GOOGLE_APPLICATION_CREDENTIALS", &key_file);

    let before = now();
    let auth = Auth::google().await.expect("credentials from the key file");
    assert!(matches!(auth, Auth::Google(_)), "{auth:?}");
    let header = auth.header().await.expect("an access token");
    let after = now();
    assert_eq!(
        header.as_deref(),
        Some(format!("Bearer {ACCESS_TOKEN}").as_str())
    );

    // The grant: a form POST of a JWT signed with the key (RFC 7523, Google's
    // "Using OAuth 2.0 for Server to Server Applications").
    let grants = token_server.received_requests().await.expect("recording");
    assert_eq!(grants.len(), 1, "one token request");
    let grant = &grants[0];
    assert_eq!(
        grant
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-www-form-urlencoded")
    );
    let body = std::str::from_utf8(&grant.body).expect("UTF-8 form");
    // A form body is a query string; `Url` decodes it as one.
    let form: Vec<(String, String)> = reqwest::Url::parse(&format!("http://form/?{body}"))
        .expect("form")
        .query_pairs()
        .into_owned()
        .collect();
    let field = |name: &str| {
        let values: Vec<&str> = form
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(values.len(), 1, "one {name} in {body}");
        values[0].to_string()
    };
    assert_eq!(
        field("grant_type"),
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    let assertion = field("assertion");
    let parts: Vec<&str> = assertion.split('.').collect();
    assert_eq!(parts.len(), 3, "a signed JWT: {assertion}");
    let jwt_header = segment(parts[0]);
    assert_eq!(jwt_header["alg"], "RS256", "{jwt_header}");
    assert_eq!(jwt_header["typ"], "JWT", "{jwt_header}");
    // The signed input is the segments as sent; only the signature's padding goes.
    let signed = format!("{}.{}", parts[0], parts[1]);
    let signature = parts[2].trim_end_matches('=');
    assert!(
        key.verifies_rs256(signed.as_bytes(), signature),
        "the assertion verifies with the key file's public key"
    );
    assert!(
        !key.verifies_rs256(format!("{signed}x").as_bytes(), signature),
        "and the check can tell a wrong signature"
    );
    let claims = segment(parts[1]);
    assert_eq!(claims["iss"], CLIENT_EMAIL, "{claims}");
    assert_eq!(claims["aud"], token_uri.as_str(), "{claims}");
    assert_eq!(claims["scope"], CLOUD_PLATFORM, "{claims}");
    assert!(claims["sub"].is_null(), "no user impersonated: {claims}");
    let iat = claims["iat"].as_u64().expect("iat");
    let exp = claims["exp"].as_u64().expect("exp");
    assert!((before..=after).contains(&iat), "iat {iat} now: {claims}");
    assert!(exp > iat && exp - iat <= 3600, "at most an hour: {claims}");

    // A real publish through the shared transport carries the token.
    let pubsub = MockServer::start().await;
    let publish = "/v1/projects/hermes-test/topics/events:publish";
    Mock::given(method("POST"))
        .and(path(publish))
        .respond_with(PublishIds::new("id-", 0))
        .mount(&pubsub)
        .await;
    let publisher = PubSubRest::new(
        Endpoint {
            base: pubsub.uri(),
            auth: auth.clone(),
        },
        Duration::from_secs(10),
    );
    let topic = TopicName::parse("projects/hermes-test/topics/events", None).expect("topic");
    let message = Message {
        data: Bytes::from_static(br#"{"event_name":"purchase"}"#),
        attributes: vec![("event_name".into(), "purchase".into())],
    };
    let ids = publisher
        .publish(&topic, std::slice::from_ref(&message))
        .await
        .expect("publish");
    assert_eq!(ids, ["id-0"]);
    let calls = pubsub.received_requests().await.expect("recording");
    assert_eq!(calls.len(), 1, "one publish");
    assert_eq!(
        calls[0]
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some(format!("Bearer {ACCESS_TOKEN}").as_str())
    );

    // Within the hour the token is reused: the endpoint was asked only once.
    let again = auth.header().await.expect("the cached token");
    assert_eq!(again, header);
    let grants = token_server.received_requests().await.expect("recording");
    assert_eq!(grants.len(), 1, "the token is cached, not asked for again");
}
