//! `external_account` with an AWS credential source (workload identity
//! federation, e.g. from AWS Lambda), as Google documents it: a SigV4-signed
//! `GetCallerIdentity` request is the subject token of an STS token exchange at
//! the file's `token_url`; with `service_account_impersonation_url`, the STS
//! token then buys a service account's access token (`generateAccessToken`).
//! <https://google.aip.dev/auth/4117>

use super::error::{AuthError, SCOPE_CLOUD_PLATFORM};
use super::refresh::{form, send_json, send_text, Fetch, Fetched, OAuthToken};
use super::sigv4::{amz_date, authorization, AwsKeys};
use reqwest::Url;
use serde::Deserialize;
use std::time::{Duration, SystemTime};

pub(crate) const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub(crate) const REQUESTED_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
pub(crate) const AWS_SUBJECT_TOKEN_TYPE: &str = "urn:ietf:params:aws:token-type:aws4_request";
/// The lifetime asked of `generateAccessToken` when the file sets none.
const DEFAULT_LIFETIME_SECS: u64 = 3600;
/// How long an IMDSv2 session token is asked for.
const IMDS_TTL_SECS: &str = "300";
const METADATA_TIMEOUT: Duration = Duration::from_secs(3);

/// The file as written (only the fields Hermes reads).
#[derive(Deserialize)]
struct File {
    audience: Option<String>,
    subject_token_type: Option<String>,
    token_url: Option<String>,
    service_account_impersonation_url: Option<String>,
    #[serde(default)]
    service_account_impersonation: Impersonation,
    credential_source: Option<Source>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

#[derive(Deserialize, Default)]
struct Impersonation {
    token_lifetime_seconds: Option<u64>,
}

#[derive(Deserialize)]
struct Source {
    environment_id: Option<String>,
    region_url: Option<String>,
    url: Option<String>,
    regional_cred_verification_url: Option<String>,
    imdsv2_session_token_url: Option<String>,
    file: Option<String>,
    executable: Option<serde_json::Value>,
}

/// A checked `external_account` file with an AWS source.
pub(crate) struct ExternalAccount {
    audience: String,
    token_url: Url,
    impersonation: Option<(Url, u64)>,
    client: Option<(String, String)>,
    aws: Aws,
}

struct Aws {
    /// GETs the role name; `{url}/{role}` the credentials.
    credentials_url: Option<Url>,
    /// GETs the availability zone (`us-east-1b`).
    region_url: Option<Url>,
    /// PUT for an IMDSv2 session token, sent on the metadata GETs.
    imdsv2_url: Option<Url>,
    /// `https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15`.
    verification_url: String,
}

/// An absolute http(s) URL from the file.
fn url(field: &str, value: &str) -> Result<Url, String> {
    match Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => Ok(u),
        Ok(_) => Err(format!("{field} {value:?} is not an http(s) URL")),
        Err(e) => Err(format!("{field} {value:?} is not a URL: {e}")),
    }
}

fn env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), as Lambda sets them.
fn env_keys() -> Option<AwsKeys> {
    Some(AwsKeys {
        access_key_id: env("AWS_ACCESS_KEY_ID")?,
        secret_access_key: env("AWS_SECRET_ACCESS_KEY")?,
        session_token: env("AWS_SESSION_TOKEN"),
    })
}

fn env_region() -> Option<String> {
    env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION"))
}

impl ExternalAccount {
    /// Reads and checks the file's JSON; the reason is for the person who wrote it.
    pub(crate) fn parse(json: &str) -> Result<Self, String> {
        let file: File = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let need = |field: &str, v: Option<String>| {
            v.filter(|s| !s.trim().is_empty())
                .ok_or_else(|| format!("{field} is missing"))
        };
        let audience = need("audience", file.audience)?;
        let token_url = url("token_url", &need("token_url", file.token_url)?)?;
        let source = file
            .credential_source
            .ok_or("credential_source is missing")?;
        let Some(environment_id) = source.environment_id else {
            let kind = if source.file.is_some() {
                "a file"
            } else if source.url.is_some() {
                "a URL"
            } else if source.executable.is_some() {
                "an executable"
            } else {
                "nothing Hermes knows"
            };
            return Err(format!(
                "credential_source has no environment_id \"aws1\" (it names {kind}): \
                 Hermes supports AWS-sourced external accounts only"
            ));
        };
        if environment_id != "aws1" {
            return Err(format!(
                "credential_source.environment_id is {environment_id:?}: only \"aws1\" is supported"
            ));
        }
        let subject_token_type = file
            .subject_token_type
            .unwrap_or_else(|| AWS_SUBJECT_TOKEN_TYPE.into());
        if subject_token_type != AWS_SUBJECT_TOKEN_TYPE {
            return Err(format!(
                "subject_token_type is {subject_token_type:?}, not {AWS_SUBJECT_TOKEN_TYPE:?} of an AWS source"
            ));
        }
        let opt_url = |field: &str, v: Option<String>| {
            v.filter(|s| !s.trim().is_empty())
                .map(|v| url(field, &v))
                .transpose()
        };
        let credentials_url = opt_url("credential_source.url", source.url)?;
        let region_url = opt_url("credential_source.region_url", source.region_url)?;
        let imdsv2_url = opt_url(
            "credential_source.imdsv2_session_token_url",
            source.imdsv2_session_token_url,
        )?;
        let verification_url = need(
            "credential_source.regional_cred_verification_url",
            source.regional_cred_verification_url,
        )?;
        url(
            "credential_source.regional_cred_verification_url",
            &verification_url.replace("{region}", "us-east-1"),
        )?;
        if credentials_url.is_none() && env_keys().is_none() {
            return Err(
                "credential_source has neither a url (the instance metadata) \
                 nor are AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set"
                    .into(),
            );
        }
        if region_url.is_none() && env_region().is_none() {
            return Err("credential_source has neither a region_url \
                 nor is AWS_REGION or AWS_DEFAULT_REGION set"
                .into());
        }
        let impersonation = match file.service_account_impersonation_url {
            Some(u) if !u.trim().is_empty() => {
                let lifetime = file
                    .service_account_impersonation
                    .token_lifetime_seconds
                    .unwrap_or(DEFAULT_LIFETIME_SECS);
                if !(600..=43_200).contains(&lifetime) {
                    return Err(format!(
                        "service_account_impersonation.token_lifetime_seconds is {lifetime}: \
                         Google allows 600 to 43200"
                    ));
                }
                Some((url("service_account_impersonation_url", &u)?, lifetime))
            }
            _ => None,
        };
        let client = match (file.client_id, file.client_secret) {
            (Some(id), Some(secret)) => Some((id, secret)),
            _ => None,
        };
        Ok(Self {
            audience,
            token_url,
            impersonation,
            client,
            aws: Aws {
                credentials_url,
                region_url,
                imdsv2_url,
                verification_url,
            },
        })
    }
}

impl Fetch for ExternalAccount {
    /// The STS exchange, then the impersonation if the file asks for it.
    async fn fetch(&self, http: &reqwest::Client) -> Result<Fetched, AuthError> {
        let subject_token = self.aws.subject_token(http, &self.audience).await?;
        let body = form(&[
            ("grant_type", GRANT_TYPE),
            ("audience", &self.audience),
            ("scope", SCOPE_CLOUD_PLATFORM),
            ("requested_token_type", REQUESTED_TOKEN_TYPE),
            ("subject_token_type", AWS_SUBJECT_TOKEN_TYPE),
            ("subject_token", &subject_token),
        ]);
        let mut req = http
            .post(self.token_url.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some((id, secret)) = &self.client {
            req = req.basic_auth(id, Some(secret));
        }
        let sts: Fetched =
            send_json::<OAuthToken>("STS token exchange", self.token_url.as_str(), req)
                .await?
                .into();
        let Some((url, lifetime)) = &self.impersonation else {
            return Ok(sts);
        };
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Generated {
            access_token: String,
            expire_time: String,
        }
        let answer: Generated = send_json(
            "service account impersonation",
            url.as_str(),
            http.post(url.clone())
                .bearer_auth(&sts.token)
                .json(&serde_json::json!({
                    "scope": [SCOPE_CLOUD_PLATFORM],
                    "lifetime": format!("{lifetime}s"),
                })),
        )
        .await?;
        let expires_in = hermes_core::time::parse_timestamp(&answer.expire_time)
            .and_then(|t| t.duration_since(SystemTime::now()).ok())
            .ok_or_else(|| {
                AuthError::fetch(
                    "service account impersonation",
                    url.as_str(),
                    format!(
                        "expireTime {:?} is not a future RFC 3339 time",
                        answer.expire_time
                    ),
                )
            })?;
        Ok(Fetched {
            token: answer.access_token,
            expires_in,
        })
    }
}

impl Aws {
    /// The URL-encoded JSON of a signed `GetCallerIdentity` request (Google's
    /// serialisation: url, method, headers as sorted key/value pairs).
    async fn subject_token(
        &self,
        http: &reqwest::Client,
        audience: &str,
    ) -> Result<String, AuthError> {
        let (env_keys, env_region) = (env_keys(), env_region());
        // IMDSv2 only when the metadata is asked at all.
        let session = match &self.imdsv2_url {
            Some(u) if env_keys.is_none() || env_region.is_none() => Some(
                send_text(
                    "AWS IMDSv2 session token",
                    u.as_str(),
                    http.put(u.clone())
                        .timeout(METADATA_TIMEOUT)
                        .header("x-aws-ec2-metadata-token-ttl-seconds", IMDS_TTL_SECS),
                )
                .await?,
            ),
            _ => None,
        };
        let get = |step: &'static str, u: Url| {
            let mut req = http.get(u.clone()).timeout(METADATA_TIMEOUT);
            if let Some(s) = &session {
                req = req.header("x-aws-ec2-metadata-token", s.trim());
            }
            async move { send_text(step, u.as_str(), req).await }
        };
        let region = match env_region {
            Some(r) => r,
            None => {
                let Some(u) = self.region_url.clone() else {
                    return Err(AuthError::fetch(
                        "AWS region",
                        "",
                        "no AWS_REGION and no region_url".into(),
                    ));
                };
                let zone = get("AWS region", u).await?;
                // An availability zone is the region and one letter.
                let zone = zone.trim();
                zone[..zone.len().saturating_sub(1)].to_string()
            }
        };
        let keys = match env_keys {
            Some(k) => k,
            None => {
                let Some(base) = self.credentials_url.clone() else {
                    return Err(AuthError::fetch(
                        "AWS credentials",
                        "",
                        "no AWS_ACCESS_KEY_ID and no credential_source.url".into(),
                    ));
                };
                let role = get("AWS role name", base.clone()).await?;
                let role = role.trim();
                let with_role = format!("{}/{role}", base.as_str().trim_end_matches('/'));
                let creds_url = Url::parse(&with_role)
                    .map_err(|e| AuthError::fetch("AWS credentials", &with_role, e.to_string()))?;
                #[derive(Deserialize)]
                #[serde(rename_all = "PascalCase")]
                struct Creds {
                    access_key_id: String,
                    secret_access_key: String,
                    token: Option<String>,
                }
                let text = get("AWS credentials", creds_url).await?;
                let c: Creds = serde_json::from_str(&text)
                    .map_err(|e| AuthError::fetch("AWS credentials", &with_role, e.to_string()))?;
                AwsKeys {
                    access_key_id: c.access_key_id,
                    secret_access_key: c.secret_access_key,
                    session_token: c.token,
                }
            }
        };
        let verification = self.verification_url.replace("{region}", &region);
        let url = Url::parse(&verification)
            .map_err(|e| AuthError::fetch("AWS request", &verification, e.to_string()))?;
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let mut headers = vec![
            ("host".to_string(), host),
            ("x-amz-date".to_string(), amz_date(SystemTime::now())),
            (
                "x-goog-cloud-target-resource".to_string(),
                audience.to_string(),
            ),
        ];
        if let Some(t) = &keys.session_token {
            headers.push(("x-amz-security-token".to_string(), t.clone()));
        }
        let auth = authorization(&keys, &region, "sts", "POST", &url, &headers, b"");
        headers.push(("Authorization".to_string(), auth));
        headers.sort();
        let request = serde_json::json!({
            "url": verification,
            "method": "POST",
            "headers": headers
                .iter()
                .map(|(k, v)| serde_json::json!({"key": k, "value": v}))
                .collect::<Vec<_>>(),
        });
        Ok(form_urlencoded::byte_serialize(request.to_string().as_bytes()).collect())
    }
}
