//! Google's JSON error bodies and what each kind of error asks of a client.

/// What a failed call asks of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Worth another try (429, 5xx, `ABORTED`, `UNAVAILABLE`, timeouts, no connection).
    Transient,
    /// A precondition failed (`ALREADY_EXISTS`, `FAILED_PRECONDITION`): the
    /// request was understood and refused because of what is stored.
    Conflict,
    /// The same request will fail the same way (permissions, bad request).
    Permanent,
}

/// The `error` object of Google's JSON error bodies: `{ code, message, status }`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
pub struct ApiError {
    #[serde(default)]
    pub code: u16,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub status: String,
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// Parses a Google error body (also the list form some emulators send); falls back to the text.
    pub fn from_body(http_status: u16, body: &[u8]) -> Self {
        #[derive(serde::Deserialize)]
        struct Wrapper {
            error: ApiError,
        }
        // The list form first: serde would also read a one-element array as the struct.
        if let Ok(mut list) = serde_json::from_slice::<Vec<Wrapper>>(body) {
            if !list.is_empty() {
                return list.swap_remove(0).error;
            }
        }
        if let Ok(w) = serde_json::from_slice::<Wrapper>(body) {
            return w.error;
        }
        let text = String::from_utf8_lossy(body);
        Self {
            code: http_status,
            message: hermes_core::excerpt::preview(&text, 300),
            status: String::new(),
        }
    }

    /// Decided by Google's `status` string first, then the HTTP code: 409 is
    /// both `ALREADY_EXISTS` (a conflict) and `ABORTED` (contention, retry).
    /// See Google's API design guide, "Errors" / "Retrying errors".
    pub fn class(&self, http: u16) -> ErrorClass {
        if self.is_too_large() {
            return ErrorClass::Permanent;
        }
        match self.status.as_str() {
            "ALREADY_EXISTS" | "FAILED_PRECONDITION" => ErrorClass::Conflict,
            "ABORTED" | "UNAVAILABLE" | "DEADLINE_EXCEEDED" | "RESOURCE_EXHAUSTED" | "INTERNAL"
            | "CANCELLED" => ErrorClass::Transient,
            // A 409 without a status could be either: retrying is safe for
            // Hermes' writes (a repeated commit meets its marker), giving up is not.
            "" if http == 409 => ErrorClass::Transient,
            _ if matches!(http, 429 | 500 | 502 | 503 | 504) => ErrorClass::Transient,
            _ => ErrorClass::Permanent,
        }
    }

    /// A request or document over the service's size limits: the same content
    /// can never be written, however often it is sent. Google words it
    /// `INVALID_ARGUMENT` ("Request payload size exceeds the limit", "… exceeds
    /// the maximum allowed size"), its emulators `RESOURCE_EXHAUSTED` ("message
    /// exceeds maximum size"), which otherwise means a quota (retried).
    pub fn is_too_large(&self) -> bool {
        matches!(
            self.status.as_str(),
            "INVALID_ARGUMENT" | "RESOURCE_EXHAUSTED"
        ) && {
            let message = self.message.to_ascii_lowercase();
            message.contains("exceeds") && message.contains("size")
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.status.is_empty(), self.message.is_empty()) {
            (false, false) => write!(f, "{}: {}", self.status, self.message),
            (false, true) => f.write_str(&self.status),
            _ => f.write_str(&self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ApiError, ErrorClass};

    fn class(http: u16, status: &str) -> ErrorClass {
        ApiError {
            status: status.into(),
            ..ApiError::default()
        }
        .class(http)
    }

    #[test]
    fn classification_uses_the_status_string() {
        assert_eq!(class(409, "ALREADY_EXISTS"), ErrorClass::Conflict);
        assert_eq!(class(412, "FAILED_PRECONDITION"), ErrorClass::Conflict);
        assert_eq!(class(409, "ABORTED"), ErrorClass::Transient);
        assert_eq!(class(409, ""), ErrorClass::Transient);
        assert_eq!(class(503, ""), ErrorClass::Transient);
        assert_eq!(class(500, "UNKNOWN"), ErrorClass::Transient);
        assert_eq!(class(403, "PERMISSION_DENIED"), ErrorClass::Permanent);
        assert_eq!(class(400, "INVALID_ARGUMENT"), ErrorClass::Permanent);
        assert_eq!(class(429, "RESOURCE_EXHAUSTED"), ErrorClass::Transient);
    }

    #[test]
    fn error_bodies_in_both_forms() {
        let one = br#"{"error":{"code":403,"message":"no","status":"PERMISSION_DENIED"}}"#;
        let list = br#"[{"error":{"code":409,"message":"x","status":"ABORTED"}}]"#;
        assert_eq!(ApiError::from_body(403, one).status, "PERMISSION_DENIED");
        assert_eq!(ApiError::from_body(409, list).status, "ABORTED");
        assert_eq!(
            ApiError::from_body(502, b"bad gateway").to_string(),
            "bad gateway"
        );
    }
}
