//! `authorized_user` credentials: an OAuth client and a user's refresh token
//! (`gcloud auth application-default login`), traded at the token endpoint.

use super::error::AuthError;
use super::refresh::{form, send_json, Fetch, Fetched, OAuthToken};
use serde::Deserialize;

/// Google's token endpoint for refresh tokens, when the file names none.
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// `authorized_user`: an OAuth client and a user's refresh token (`gcloud auth
/// application-default login`).
#[derive(Deserialize)]
pub(crate) struct AuthorizedUser {
    client_id: String,
    client_secret: String,
    refresh_token: String,
    #[serde(default)]
    token_uri: Option<String>,
}

impl Fetch for AuthorizedUser {
    async fn fetch(&self, http: &reqwest::Client) -> Result<Fetched, AuthError> {
        let url = self.token_uri.as_deref().unwrap_or(DEFAULT_TOKEN_URI);
        let body = form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
            ("refresh_token", &self.refresh_token),
        ]);
        let answer: OAuthToken = send_json(
            "refresh token",
            url,
            http.post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await?;
        Ok(answer.into())
    }
}
