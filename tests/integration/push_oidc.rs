//! Pub/Sub push: envelope parsing and OIDC token verification against a local
//! JWKS server standing in for Google's cert endpoint.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hermes_push::{AuthFailure, OidcVerifier, PushAuth, PushError, PushFailure, PushMessage};
use hermes_testkit::emulator::free_port;
use hermes_testkit::oidc::{bearer, google_claims, jwks, now, sign, with, TestKey};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::sync::LazyLock;
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The status the push endpoint answers for a refused token: the push-job
/// kit's one status table, which answers before any job runs.
fn status_of(failure: &AuthFailure) -> u16 {
    PushFailure::<hermes_counters::CountersError>::Unauthorized(failure.clone())
        .status()
        .as_u16()
}

const AUDIENCE: &str = "https://counters.example.run.app/";
const SA: &str = "push-invoker@hermes-test.iam.gserviceaccount.com";

// ---------------------------------------------------------------------------
// Keys and tokens

/// Generating RSA keys takes a while: two for the whole file.
static KEY_A: LazyLock<TestKey> = LazyLock::new(TestKey::generate);
static KEY_B: LazyLock<TestKey> = LazyLock::new(TestKey::generate);

fn claims() -> Value {
    google_claims(AUDIENCE, SA)
}

async fn jwks_server(body: Value, expected_fetches: u64) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/oauth2/v3/certs"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(
                    "cache-control",
                    "public, max-age=19549, must-revalidate, no-transform",
                )
                .set_body_json(body),
        )
        .expect(expected_fetches)
        .mount(&server)
        .await;
    server
}

fn config(server: &MockServer) -> PushAuth {
    PushAuth::audience(AUDIENCE)
        .with_service_account(SA)
        .with_jwks_url(format!("{}/oauth2/v3/certs", server.uri()))
}

/// One verifier against a JWKS holding KEY_A as `k1`.
async fn setup() -> (MockServer, OidcVerifier) {
    let server = jwks_server(jwks(&[(&KEY_A, "k1")]), 1).await;
    let verifier = OidcVerifier::new(config(&server));
    (server, verifier)
}

async fn verify_claims(
    verifier: &OidcVerifier,
    claims: &Value,
) -> Result<hermes_push::Claims, AuthFailure> {
    verifier
        .verify(Some(&bearer(&sign(&KEY_A, "k1", claims))))
        .await
}

// ---------------------------------------------------------------------------
// OIDC

#[tokio::test]
async fn valid_token_passes() {
    let (server, verifier) = setup().await;
    let verified = verify_claims(&verifier, &claims())
        .await
        .expect("valid token");
    assert_eq!(verified.email.as_deref(), Some(SA));
    assert_eq!(verified.email_verified, Some(true));
    assert_eq!(verified.aud, vec![AUDIENCE.to_string()]);
    assert_eq!(verified.iss, "https://accounts.google.com");

    // The other issuer spelling, lower-case scheme, a skewed clock within leeway.
    let other_iss = with(claims(), "iss", json!("accounts.google.com"));
    verify_claims(&verifier, &other_iss)
        .await
        .expect("accounts.google.com");
    let just_expired = with(claims(), "exp", json!(now() - 30));
    verify_claims(&verifier, &just_expired)
        .await
        .expect("within leeway");
    let lower = format!("bearer {}", sign(&KEY_A, "k1", &claims()));
    verifier
        .verify(Some(&lower))
        .await
        .expect("scheme is case-insensitive");
    server.verify().await;
}

#[tokio::test]
async fn any_email_when_none_configured() {
    let server = jwks_server(jwks(&[(&KEY_A, "k1")]), 1).await;
    let verifier = OidcVerifier::new(PushAuth {
        service_account: None,
        ..config(&server)
    });
    let other = with(
        claims(),
        "email",
        json!("someone-else@example.iam.gserviceaccount.com"),
    );
    verify_claims(&verifier, &other)
        .await
        .expect("no email check");
}

#[tokio::test]
async fn wrong_audience_is_rejected() {
    let (_server, verifier) = setup().await;
    let err = verify_claims(
        &verifier,
        &with(claims(), "aud", json!("https://elsewhere.example/")),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        AuthFailure::WrongAudience {
            found: "https://elsewhere.example/".into(),
            expected: AUDIENCE.into()
        }
    );
    assert_eq!(status_of(&err), 401);
    assert_eq!(err.code(), "wrong_audience");
}

#[tokio::test]
async fn expired_token_is_rejected() {
    let (_server, verifier) = setup().await;
    let expired = with(
        with(claims(), "exp", json!(now() - 3600)),
        "iat",
        json!(now() - 7200),
    );
    assert_eq!(
        verify_claims(&verifier, &expired).await,
        Err(AuthFailure::Expired)
    );
}

#[tokio::test]
async fn token_issued_in_the_future_is_rejected() {
    let (_server, verifier) = setup().await;
    let future = with(claims(), "iat", json!(now() + 600));
    assert_eq!(
        verify_claims(&verifier, &future).await,
        Err(AuthFailure::IssuedInFuture)
    );
}

#[tokio::test]
async fn wrong_signer_with_a_known_kid_is_rejected() {
    let (_server, verifier) = setup().await;
    // KEY_B is not in the JWKS, but claims to be k1.
    let token = sign(&KEY_B, "k1", &claims());
    assert_eq!(
        verifier.verify(Some(&bearer(&token))).await,
        Err(AuthFailure::BadSignature)
    );

    // A tampered payload under a genuine signature, too.
    let genuine = sign(&KEY_A, "k1", &claims());
    let parts: Vec<&str> = genuine.split('.').collect();
    let forged_claims = with(claims(), "email", json!("attacker@example.com"));
    let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged_claims).unwrap());
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(
        verifier.verify(Some(&bearer(&forged))).await,
        Err(AuthFailure::BadSignature)
    );
}

#[tokio::test]
async fn wrong_email_is_rejected() {
    let (_server, verifier) = setup().await;
    let other = with(
        claims(),
        "email",
        json!("intruder@other.iam.gserviceaccount.com"),
    );
    assert_eq!(
        verify_claims(&verifier, &other).await,
        Err(AuthFailure::WrongEmail {
            found: Some("intruder@other.iam.gserviceaccount.com".into()),
            expected: SA.into()
        })
    );
    let mut no_email = claims();
    no_email.as_object_mut().unwrap().remove("email");
    assert!(matches!(
        verify_claims(&verifier, &no_email).await,
        Err(AuthFailure::WrongEmail { found: None, .. })
    ));
    let unverified = with(claims(), "email_verified", json!(false));
    assert_eq!(
        verify_claims(&verifier, &unverified).await,
        Err(AuthFailure::EmailNotVerified)
    );
}

#[tokio::test]
async fn wrong_issuer_is_rejected() {
    let (_server, verifier) = setup().await;
    let other = with(claims(), "iss", json!("https://evil.example.com"));
    assert_eq!(
        verify_claims(&verifier, &other).await,
        Err(AuthFailure::WrongIssuer {
            found: "https://evil.example.com".into()
        })
    );
    let mut no_iss = claims();
    no_iss.as_object_mut().unwrap().remove("iss");
    assert_eq!(
        verify_claims(&verifier, &no_iss).await,
        Err(AuthFailure::MissingClaim("iss".into()))
    );
}

#[tokio::test]
async fn missing_or_foreign_header_is_rejected() {
    let server = jwks_server(jwks(&[(&KEY_A, "k1")]), 0).await; // never asked
    let verifier = OidcVerifier::new(config(&server));
    assert_eq!(verifier.verify(None).await, Err(AuthFailure::MissingHeader));
    assert_eq!(
        verifier.verify(Some("")).await,
        Err(AuthFailure::MissingHeader)
    );
    assert_eq!(
        verifier.verify(Some("Basic dXNlcjpwYXNz")).await,
        Err(AuthFailure::NotBearer)
    );
    assert!(matches!(
        verifier.verify(Some("Bearer not-a-jwt")).await,
        Err(AuthFailure::Malformed(_))
    ));
    assert!(matches!(
        verifier.verify(Some("Bearer ")).await,
        Err(AuthFailure::Malformed(_))
    ));
}

#[tokio::test]
async fn only_rs256_is_accepted() {
    // No JWKS fetch at all: the algorithm is refused before any key is looked up.
    let server = jwks_server(jwks(&[(&KEY_A, "k1")]), 0).await;
    let verifier = OidcVerifier::new(config(&server));

    // alg: none, no signature.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"k1","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims()).unwrap());
    let none = format!("{header}.{payload}.");
    assert_eq!(
        verifier.verify(Some(&bearer(&none))).await,
        Err(AuthFailure::WrongAlgorithm("none".into()))
    );

    // HS256 keyed with the public modulus: the classic algorithm-confusion attack.
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("k1".into());
    let hs_token = jsonwebtoken::encode(
        &hs,
        &claims(),
        &EncodingKey::from_secret(KEY_A.n.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        verifier.verify(Some(&bearer(&hs_token))).await,
        Err(AuthFailure::WrongAlgorithm("HS256".into()))
    );

    // Another RSA algorithm with the right key.
    let mut rs512 = Header::new(Algorithm::RS512);
    rs512.kid = Some("k1".into());
    let rs512_token = jsonwebtoken::encode(&rs512, &claims(), &KEY_A.signing).unwrap();
    assert_eq!(
        verifier.verify(Some(&bearer(&rs512_token))).await,
        Err(AuthFailure::WrongAlgorithm("RS512".into()))
    );

    // RS256 without a kid.
    let no_kid =
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims(), &KEY_A.signing).unwrap();
    assert_eq!(
        verifier.verify(Some(&bearer(&no_kid))).await,
        Err(AuthFailure::MissingKeyId)
    );
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jwks_is_fetched_once_for_many_verifications() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/oauth2/v3/certs"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(jwks(&[(&KEY_A, "k1")]))
                // Slow enough that the concurrent requests all wait on the first fetch.
                .set_delay(Duration::from_millis(300)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let verifier = OidcVerifier::new(config(&server));
    let token = bearer(&sign(&KEY_A, "k1", &claims()));

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let verifier = verifier.clone();
        let token = token.clone();
        tasks.spawn(async move { verifier.verify(Some(&token)).await });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().expect("valid token");
    }
    for _ in 0..50 {
        verifier.verify(Some(&token)).await.expect("valid token");
    }
    server.verify().await;
}

#[tokio::test]
async fn unknown_kid_triggers_a_refetch_for_key_rotation() {
    let server = MockServer::start().await;
    // Before rotation: only k1. After: k1 and the new k2.
    Mock::given(method("GET"))
        .and(path("/oauth2/v3/certs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&[(&KEY_A, "k1")])))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/oauth2/v3/certs"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(jwks(&[(&KEY_A, "k1"), (&KEY_B, "k2")])),
        )
        .expect(1)
        .mount(&server)
        .await;
    let verifier =
        OidcVerifier::new(config(&server)).with_min_refetch_interval(Duration::from_millis(100));

    verify_claims(&verifier, &claims()).await.expect("k1");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let rotated = bearer(&sign(&KEY_B, "k2", &claims()));
    let verified = verifier
        .verify(Some(&rotated))
        .await
        .expect("k2 after refetch");
    assert_eq!(verified.email.as_deref(), Some(SA));
    // Both keys now cached: no more fetches.
    verify_claims(&verifier, &claims()).await.expect("k1");
    verifier.verify(Some(&rotated)).await.expect("k2");
    server.verify().await;
}

#[tokio::test]
async fn unknown_kids_do_not_hammer_the_jwks_endpoint() {
    let (server, verifier) = setup().await; // default 30 s between refetches
    verify_claims(&verifier, &claims()).await.expect("k1");
    for i in 0..10 {
        let kid = format!("made-up-{i}");
        let token = bearer(&sign(&KEY_A, &kid, &claims()));
        assert_eq!(
            verifier.verify(Some(&token)).await,
            Err(AuthFailure::UnknownKey(kid))
        );
    }
    server.verify().await; // still one fetch
}

#[tokio::test]
async fn cache_control_max_age_is_honoured() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/oauth2/v3/certs"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("cache-control", "public, max-age=1")
                .set_body_json(jwks(&[(&KEY_A, "k1")])),
        )
        .expect(2)
        .mount(&server)
        .await;
    let verifier = OidcVerifier::new(config(&server)).with_min_refetch_interval(Duration::ZERO);
    verify_claims(&verifier, &claims())
        .await
        .expect("first fetch");
    verify_claims(&verifier, &claims()).await.expect("cached");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    verify_claims(&verifier, &claims())
        .await
        .expect("refetched after max-age");
    server.verify().await;
}

#[tokio::test]
async fn jwks_server_down_means_could_not_check() {
    // A port nothing listens on.
    let port = free_port();
    let verifier = OidcVerifier::new(
        PushAuth::audience(AUDIENCE)
            .with_service_account(SA)
            .with_jwks_url(format!("http://127.0.0.1:{port}/oauth2/v3/certs")),
    );
    let token = bearer(&sign(&KEY_A, "k1", &claims()));
    let err = verifier.verify(Some(&token)).await.unwrap_err();
    assert!(matches!(err, AuthFailure::JwksUnavailable(_)), "{err:?}");
    assert!(err.is_unavailable());
    assert_eq!(status_of(&err), 503);
    assert!(!err
        .to_string()
        .contains(token.trim_start_matches("Bearer ")));

    // Google answering 500, or something that is not a JWKS, is the same.
    for response in [
        ResponseTemplate::new(500).set_body_string("backend error"),
        ResponseTemplate::new(200).set_body_string("<html>captive portal</html>"),
        ResponseTemplate::new(200).set_body_json(json!({ "keys": [] })),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(response)
            .mount(&server)
            .await;
        let verifier = OidcVerifier::new(config(&server));
        let err = verifier.verify(Some(&token)).await.unwrap_err();
        assert!(matches!(err, AuthFailure::JwksUnavailable(_)), "{err:?}");
    }
}

#[tokio::test]
async fn a_failed_fetch_is_retried_and_recovers() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&[(&KEY_A, "k1")])))
        .expect(1)
        .mount(&server)
        .await;
    let verifier = OidcVerifier::new(config(&server)).with_min_refetch_interval(Duration::ZERO);
    assert!(matches!(
        verify_claims(&verifier, &claims()).await,
        Err(AuthFailure::JwksUnavailable(_))
    ));
    verify_claims(&verifier, &claims())
        .await
        .expect("recovered");
    server.verify().await;
}

#[tokio::test]
async fn expired_keys_are_used_while_google_is_down() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("cache-control", "max-age=0")
                .set_body_json(jwks(&[(&KEY_A, "k1")])),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .expect(1..)
        .mount(&server)
        .await;
    let verifier = OidcVerifier::new(config(&server)).with_min_refetch_interval(Duration::ZERO);
    verify_claims(&verifier, &claims())
        .await
        .expect("fresh keys");
    verify_claims(&verifier, &claims())
        .await
        .expect("stale keys while the refresh fails");
    // A kid we never saw cannot be checked.
    let unknown = bearer(&sign(&KEY_B, "k2", &claims()));
    assert!(matches!(
        verifier.verify(Some(&unknown)).await,
        Err(AuthFailure::JwksUnavailable(_))
    ));
    server.verify().await;
}

#[tokio::test]
async fn errors_never_echo_the_token() {
    let (_server, verifier) = setup().await;
    let cases = [
        sign(&KEY_B, "k1", &claims()),
        sign(&KEY_A, "k1", &with(claims(), "aud", json!("x"))),
        sign(&KEY_A, "k1", &with(claims(), "exp", json!(1))),
        sign(&KEY_A, &"k".repeat(5000), &claims()),
    ];
    for token in cases {
        let err = verifier.verify(Some(&bearer(&token))).await.unwrap_err();
        let text = err.to_string();
        assert!(!text.contains(&token), "{text}");
        for part in token.split('.') {
            assert!(!text.contains(part), "{text}");
        }
        assert!(text.len() < 300, "{text}");
    }
}

// ---------------------------------------------------------------------------
// Envelope

fn envelope(message: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "message": message,
        "subscription": "projects/hermes-test/subscriptions/counters-push",
    }))
    .unwrap()
}

#[test]
fn envelope_as_google_sends_it() {
    // Google sends both spellings of messageId and publishTime.
    let body = serde_json::to_vec(&json!({
        "message": {
            "attributes": { "hermes_schema": "v1", "preview": "false" },
            "data": STANDARD.encode(br#"{"items":[{"item_id":"sku-1"}]}"#),
            "messageId": "2070443601311540",
            "message_id": "2070443601311540",
            "publishTime": "2021-02-26T19:13:55.749Z",
            "publish_time": "2021-02-26T19:13:55.749Z",
            "orderingKey": "",
        },
        "subscription": "projects/hermes-test/subscriptions/counters-push",
        "deliveryAttempt": 3,
    }))
    .unwrap();
    let m = PushMessage::parse(&body).unwrap();
    assert_eq!(m.message_id, "2070443601311540");
    assert_eq!(m.data, br#"{"items":[{"item_id":"sku-1"}]}"#);
    assert_eq!(
        m.attributes.get("hermes_schema").map(String::as_str),
        Some("v1")
    );
    assert_eq!(m.publish_time.as_deref(), Some("2021-02-26T19:13:55.749Z"));
    assert_eq!(
        m.subscription,
        "projects/hermes-test/subscriptions/counters-push"
    );
    assert_eq!(m.delivery_attempt, Some(3));
}

#[test]
fn envelope_minimal_and_snake_case() {
    let m = PushMessage::parse(&envelope(json!({ "message_id": "42" }))).unwrap();
    assert_eq!(m.message_id, "42");
    assert!(m.data.is_empty());
    assert!(m.attributes.is_empty());
    assert_eq!(m.publish_time, None);
    assert_eq!(m.delivery_attempt, None);

    let m = PushMessage::parse(&envelope(
        json!({ "messageId": "43", "data": "", "attributes": null }),
    ))
    .unwrap();
    assert!(m.data.is_empty());
    let m = PushMessage::parse(br#"{"message":{"messageId":"44"}}"#).unwrap();
    assert_eq!(m.subscription, "");
}

#[test]
fn envelope_base64_is_lenient() {
    let bytes: Vec<u8> = vec![0xfb, 0xff, 0xbf, 0x3e, 0x00];
    let standard = STANDARD.encode(&bytes); // "+/+/PgA="
    assert!(standard.contains('+') && standard.contains('/') && standard.ends_with('='));
    for data in [
        standard.clone(),
        standard.trim_end_matches('=').to_string(),
        standard.replace('+', "-").replace('/', "_"),
        standard
            .replace('+', "-")
            .replace('/', "_")
            .trim_end_matches('=')
            .to_string(),
        format!("{}\n{}", &standard[..4], &standard[4..]),
    ] {
        let m = PushMessage::parse(&envelope(json!({ "messageId": "1", "data": data }))).unwrap();
        assert_eq!(m.data, bytes, "{data}");
    }
}

#[test]
fn envelope_errors() {
    assert!(matches!(
        PushMessage::parse(b"not json"),
        Err(PushError::NotJson(_))
    ));
    assert!(matches!(
        PushMessage::parse(b""),
        Err(PushError::NotJson(_))
    ));
    assert!(matches!(
        PushMessage::parse(b"{\"message\":"),
        Err(PushError::NotJson(_))
    ));
    assert_eq!(PushMessage::parse(b"{}"), Err(PushError::NoMessage));
    assert_eq!(
        PushMessage::parse(br#"{"message":null}"#),
        Err(PushError::NoMessage)
    );
    assert_eq!(
        PushMessage::parse(&envelope(json!({ "data": "e30=" }))),
        Err(PushError::NoMessageId)
    );
    assert_eq!(
        PushMessage::parse(&envelope(json!({ "messageId": "", "data": "e30=" }))),
        Err(PushError::NoMessageId)
    );
    assert!(matches!(
        PushMessage::parse(b"[1,2]"),
        Err(PushError::BadEnvelope(_))
    ));
    assert!(matches!(
        PushMessage::parse(&envelope(json!({ "messageId": "1", "data": 12 }))),
        Err(PushError::BadEnvelope(_))
    ));

    let err = PushMessage::parse(&envelope(
        json!({ "messageId": "7", "data": "not*base64!" }),
    ))
    .unwrap_err();
    assert!(matches!(&err, PushError::BadBase64 { message_id, .. } if message_id == "7"));
    assert_eq!(err.code(), "bad_base64");
    let line = err.to_string();
    assert!(
        line.starts_with("push message 7: data is not base64"),
        "{line}"
    );
    assert!(!line.contains('\n'));
}

// ---------------------------------------------------------------------------
// What a refused caller is told

/// A 401 names the class of the problem, never what would have been accepted:
/// neither the audience, nor the push identity, nor the issuer.
#[tokio::test]
async fn a_401_never_tells_the_expected_audience_or_account() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;
    let server = jwks_server(jwks(&[(&KEY_A, "k1")]), 1).await;
    let settings = hermes_counters::settings::Settings {
        push: config(&server),
        ..Default::default()
    };
    // Never reached: the token is refused first.
    let store =
        hermes_testkit::stores::firestore_at(&server.uri(), "p", Duration::from_millis(200));
    let app = hermes_counters::router(std::sync::Arc::new(hermes_counters::Counters::new(
        settings,
        std::sync::Arc::new(store),
    )));
    let envelope = hermes_testkit::samples::push_envelope("m-1", &json!({"items": []}), json!({}));
    let tokens = [
        (
            sign(
                &KEY_A,
                "k1",
                &with(claims(), "aud", json!("https://elsewhere.example/")),
            ),
            "wrong_audience",
        ),
        (
            sign(
                &KEY_A,
                "k1",
                &with(claims(), "email", json!("evil@example.com")),
            ),
            "wrong_email",
        ),
        (
            sign(
                &KEY_A,
                "k1",
                &with(claims(), "iss", json!("https://evil.example")),
            ),
            "wrong_issuer",
        ),
        ("not-a-token".to_string(), "malformed"),
    ];
    for (token, code) in tokens {
        let response = app
            .clone()
            .oneshot(
                Request::post("/")
                    .header("authorization", bearer(&token))
                    .header("content-type", "application/json")
                    .body(Body::from(envelope.to_string()))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&body);
        for secret in [AUDIENCE, SA, "accounts.google.com"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        // One word, as the README says: nothing of the token is quoted back
        // (the claims of a token a caller made up are the caller's words).
        let answer: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(
            answer["error"],
            format!("unauthorized push: {code}"),
            "{text}"
        );
    }
}

/// The failure's own text (what the log gets) holds no expected value either.
#[test]
fn auth_failures_never_quote_the_expected_values() {
    let audience = AuthFailure::WrongAudience {
        found: "a".into(),
        expected: AUDIENCE.into(),
    };
    let email = AuthFailure::WrongEmail {
        found: Some("b".into()),
        expected: SA.into(),
    };
    assert!(!audience.to_string().contains(AUDIENCE), "{audience}");
    assert!(!email.to_string().contains(SA), "{email}");
}
