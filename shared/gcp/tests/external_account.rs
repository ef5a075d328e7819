//! `Auth::google()` with an AWS-sourced `external_account` file (workload
//! identity federation) against recording stand-ins of the AWS instance
//! metadata (IMDSv2), Google's STS and IAM Credentials, named by the file as in
//! production: the exchange has Google's documented shape with a SigV4-signed
//! `GetCallerIdentity` (checked by botocore), the impersonation carries the STS
//! token, and a publish at `HERMES_PUBSUB_ENDPOINT` carries the impersonated
//! token. Files that cannot work stop start-up naming the file and the reason.
//! Its own test binary: it sets `GOOGLE_APPLICATION_CREDENTIALS` and
//! `HERMES_PUBSUB_ENDPOINT` for the whole process (no other test here reads them).

use bytes::Bytes;
use hermes_core::destination::{Message, Publisher, TopicName};
use hermes_gcp::pubsub::PubSubRest;
use hermes_gcp::Auth;
use hermes_testkit::federation::{self, Federation};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A directory of this test's own, removed when it ends, even by a panic.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("hermes-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let file = self.0.join(name);
        std::fs::write(&file, text).expect("write file");
        file
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// No AWS credentials or region from the developer's environment.
fn clear_aws_env() {
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "PUBSUB_EMULATOR_HOST",
    ] {
        std::env::remove_var(var);
    }
}

#[tokio::test]
async fn an_aws_external_account_exchanges_a_signed_request_and_its_token_authorises_a_publish() {
    clear_aws_env();
    let fed = Federation::start().await;
    let dir = TempDir::new("external-account");
    let file = dir.write("aws.json", &fed.file(true).to_string());
    std::env::set_var("GOOGLE_APPLICATION_CREDENTIALS", &file);
    std::env::set_var("HERMES_PUBSUB_ENDPOINT", fed.pubsub.uri());

    // Start-up reads the file and asks nobody.
    let publisher = PubSubRest::from_env(Duration::from_secs(10))
        .await
        .expect("credentials from the external_account file");
    assert_eq!(publisher.base_url(), fed.pubsub.uri());
    for server in [&fed.aws, &fed.sts, &fed.iam] {
        let calls = server.received_requests().await.expect("recording");
        assert!(
            calls.is_empty(),
            "no call before a token is needed: {calls:?}"
        );
    }

    let topic = TopicName::parse("projects/hermes-test/topics/events", None).expect("topic");
    let message = Message {
        data: Bytes::from_static(br#"{"event_name":"purchase"}"#),
        attributes: vec![("event_name".into(), "purchase".into())],
    };
    let ids = publisher
        .publish(&topic, std::slice::from_ref(&message))
        .await
        .expect("publish");
    assert_eq!(ids, ["fed-0"]);

    // The AWS credentials came from the metadata, IMDSv2 first.
    let aws = fed.aws.received_requests().await.expect("recording");
    let asked: Vec<String> = aws
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert_eq!(asked[0], "PUT /latest/api/token", "{asked:?}");
    for wanted in [
        "GET /latest/meta-data/placement/availability-zone",
        "GET /latest/meta-data/iam/security-credentials",
        &format!(
            "GET /latest/meta-data/iam/security-credentials/{}",
            federation::ROLE
        ),
    ] {
        assert!(asked.iter().any(|a| a == wanted), "{wanted} in {asked:?}");
    }

    // The exchange and its signed subject token.
    let subject = fed.exchange().await;
    subject.verify(federation::SECRET_ACCESS_KEY, federation::SESSION_TOKEN);
    // The impersonation, with the STS token, for an hour.
    let body = fed.impersonation().await;
    assert_eq!(body["lifetime"], "3600s", "{body}");
    // The publish carries the impersonated token.
    assert_eq!(
        fed.publish_bearers().await,
        [format!("Bearer {}", federation::IAM_TOKEN)]
    );

    // The token is kept: a second publish asks neither STS nor IAM again.
    publisher
        .publish(&topic, std::slice::from_ref(&message))
        .await
        .expect("second publish");
    assert_eq!(
        fed.sts.received_requests().await.expect("recording").len(),
        1
    );
    assert_eq!(
        fed.iam.received_requests().await.expect("recording").len(),
        1
    );
    assert_eq!(fed.publish_bearers().await.len(), 2);
}

fn refusal(file: &Path) -> String {
    match Auth::from_file(file) {
        Ok(a) => panic!("{} was accepted: {a:?}", file.display()),
        Err(e) => hermes_core::error::report(&e),
    }
}

#[tokio::test]
async fn a_file_that_cannot_work_is_refused_naming_the_file_and_the_reason() {
    clear_aws_env();
    let fed = Federation::start().await;
    let dir = TempDir::new("external-account-broken");
    let good = fed.file(true);
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "no-source.json",
            {
                // Lambda's file without AWS_* variables: nowhere to get credentials.
                let mut f = fed.file(false);
                f["credential_source"]
                    .as_object_mut()
                    .expect("object")
                    .remove("region_url");
                f
            },
            "type \"external_account\": credential_source has neither a url (the instance metadata) \
             nor are AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set",
        ),
        (
            "file-source.json",
            {
                let mut f = good.clone();
                f["credential_source"] = json!({"file": "/var/run/token"});
                f
            },
            "credential_source has no environment_id \"aws1\" (it names a file)",
        ),
        (
            "aws2.json",
            {
                let mut f = good.clone();
                f["credential_source"]["environment_id"] = json!("aws2");
                f
            },
            "credential_source.environment_id is \"aws2\": only \"aws1\" is supported",
        ),
        (
            "no-token-url.json",
            {
                let mut f = good.clone();
                f.as_object_mut().expect("object").remove("token_url");
                f
            },
            "type \"external_account\": token_url is missing",
        ),
        (
            "bad-impersonation.json",
            {
                let mut f = good.clone();
                f["service_account_impersonation_url"] = json!("not a url");
                f
            },
            "service_account_impersonation_url \"not a url\" is not a URL",
        ),
        (
            "key-without-private-key.json",
            json!({"type": "service_account", "client_email": "a@b.iam.gserviceaccount.com"}),
            "type \"service_account\": ",
        ),
        (
            "user-without-refresh-token.json",
            json!({"type": "authorized_user", "client_id": "x", "client_secret": "y"}),
            "type \"authorized_user\": missing field `refresh_token`",
        ),
        (
            "unknown-type.json",
            json!({"type": "impersonated_service_account"}),
            "type \"impersonated_service_account\" is not supported",
        ),
    ];
    for (name, json, reason) in cases {
        let file = dir.write(name, &json.to_string());
        let text = refusal(&file);
        let prefix = format!("GOOGLE_APPLICATION_CREDENTIALS={}: ", file.display());
        assert!(text.starts_with(&prefix), "{name}: {text}");
        assert!(text.contains(reason), "{name}: {text}\nwanted: {reason}");
    }
    let missing = dir.0.join("missing.json");
    assert!(
        refusal(&missing).contains("missing.json: No such file"),
        "{}",
        refusal(&missing)
    );
    let not_json = dir.write("not-json.json", "type = external_account");
    assert!(refusal(&not_json).contains("not a JSON credentials file"));

    // And the good one is taken, without a call.
    let file = dir.write("good.json", &good.to_string());
    assert!(matches!(Auth::from_file(&file), Ok(Auth::Google(_))));
}

/// `authorized_user` (gcloud's application-default login) through
/// `GOOGLE_APPLICATION_CREDENTIALS`: the refresh-token grant at its token_uri.
#[tokio::test]
async fn an_authorized_user_file_refreshes_its_token() {
    let token = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/token"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "ya29.user-token",
            "expires_in": 3599,
            "token_type": "Bearer",
        })))
        .mount(&token)
        .await;
    let dir = TempDir::new("authorized-user");
    let file = dir.write(
        "user.json",
        &json!({
            "type": "authorized_user",
            "client_id": "123.apps.googleusercontent.com",
            "client_secret": "s3cret",
            "refresh_token": "1//refresh",
            "token_uri": format!("{}/token", token.uri()),
        })
        .to_string(),
    );
    let auth = Auth::from_file(&file).expect("authorized_user");
    assert_eq!(
        auth.header().await.expect("token").as_deref(),
        Some("Bearer ya29.user-token")
    );
    let calls = token.received_requests().await.expect("recording");
    assert_eq!(calls.len(), 1);
    let mut form = federation::form(&calls[0]);
    form.sort();
    assert_eq!(
        form,
        [
            ("client_id".into(), "123.apps.googleusercontent.com".into()),
            ("client_secret".into(), "s3cret".into()),
            ("grant_type".into(), "refresh_token".into()),
            ("refresh_token".into(), "1//refresh".into()),
        ] as [(String, String); 4]
    );
    auth.header().await.expect("cached");
    assert_eq!(token.received_requests().await.expect("recording").len(), 1);
}
