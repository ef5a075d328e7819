//! The real `hermes-ingest` binary on "AWS Lambda" credentials: an
//! `external_account` file without a metadata URL, the AWS keys and region in
//! the environment as Lambda sets them, STS and IAM stand-ins named by the
//! file, and Pub/Sub at `HERMES_PUBSUB_ENDPOINT`. It starts, an event is
//! published with the impersonated token, and the exchange was signed with the
//! environment's keys. A file that cannot work stops it at start naming the
//! file and the reason.

use hermes_testkit::emulator::{binary, Function};
use hermes_testkit::federation::{self, Federation};
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LAMBDA_SECRET: &str = "lambda/Secret+Key=ForHermesTests0123456789";
const LAMBDA_SESSION: &str = "lambda-session/token+with=padding==";

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let file = std::env::temp_dir().join(format!("hermes-{}-{name}", std::process::id()));
    std::fs::write(&file, text).expect("write file");
    file
}

#[tokio::test(flavor = "multi_thread")]
async fn hermes_ingest_starts_and_publishes_with_lambda_federated_credentials() {
    let fed = Federation::start().await;
    let file = temp_file("lambda.json", &fed.file(false).to_string());
    let config = "[[destinations]]\nname = \"events\"\ntopic = \"events\"\n";
    let ingest = Function::start(
        "hermes-ingest",
        &[
            ("GOOGLE_CLOUD_PROJECT", "hermes-test"),
            ("HERMES_CONFIG_TOML", config),
            (
                "GOOGLE_APPLICATION_CREDENTIALS",
                file.to_str().expect("path"),
            ),
            ("HERMES_PUBSUB_ENDPOINT", &fed.pubsub.uri()),
            ("AWS_ACCESS_KEY_ID", federation::ACCESS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", LAMBDA_SECRET),
            ("AWS_SESSION_TOKEN", LAMBDA_SESSION),
            ("AWS_REGION", federation::REGION),
        ],
    )
    .await;
    let (status, body) = ingest
        .post(
            "/",
            &[],
            &json!([{"event_name": "login", "event_id": "fed-1"}]),
        )
        .await;
    let _ = std::fs::remove_file(&file);
    assert_eq!(status, 200, "{body}\n{}", ingest.log_text());

    let publishes = fed.pubsub.received_requests().await.expect("recording");
    assert_eq!(publishes.len(), 1, "one publish");
    assert_eq!(
        publishes[0].url.path(),
        "/v1/projects/hermes-test/topics/events:publish"
    );
    assert_eq!(
        fed.publish_bearers().await,
        [format!("Bearer {}", federation::IAM_TOKEN)],
        "the publish carries the impersonated token"
    );
    fed.impersonation().await;
    let subject = fed.exchange().await;
    subject.verify(LAMBDA_SECRET, LAMBDA_SESSION);
    let metadata = fed.aws.received_requests().await.expect("recording");
    assert!(
        metadata.is_empty(),
        "Lambda's environment, not the metadata: {metadata:?}"
    );
}

#[test]
fn hermes_ingest_stops_at_start_naming_a_file_that_cannot_work() {
    // Lambda's file, but no AWS keys in the environment.
    let file = temp_file(
        "no-keys.json",
        &json!({
            "type": "external_account",
            "audience": federation::AUDIENCE,
            "subject_token_type": federation::SUBJECT_TOKEN_TYPE,
            "token_url": "https://sts.googleapis.com/v1/token",
            "credential_source": {
                "environment_id": "aws1",
                "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
            },
        })
        .to_string(),
    );
    let mut cmd = Command::new(binary("hermes-ingest"));
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "PUBSUB_EMULATOR_HOST",
        "HERMES_PUBSUB_ENDPOINT",
        "HERMES_CONFIG",
    ] {
        cmd.env_remove(var);
    }
    let started = Instant::now();
    let mut child = cmd
        .env("GOOGLE_CLOUD_PROJECT", "hermes-test")
        .env("AWS_REGION", federation::REGION)
        .env("PORT", "0")
        .env(
            "HERMES_CONFIG_TOML",
            "[[destinations]]\nname = \"events\"\ntopic = \"events\"\n",
        )
        .env("GOOGLE_APPLICATION_CREDENTIALS", &file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hermes-ingest");
    // One that starts anyway would serve on: it gets 10 s, then is killed.
    while child.try_wait().expect("wait").is_none() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("hermes-ingest output");
    let _ = std::fs::remove_file(&file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it must not start: {stderr}");
    let wanted = format!(
        "hermes-ingest: GOOGLE_APPLICATION_CREDENTIALS={}: type \"external_account\": \
         credential_source has neither a url (the instance metadata) nor are \
         AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set",
        file.display()
    );
    assert!(stderr.contains(&wanted), "{stderr}\nwanted: {wanted}");
}
