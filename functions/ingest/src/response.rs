//! The response body of the Server-to-Server contract (README, "The ingest function")
//! and the status it implies.

use crate::error::IngestError;
use crate::process::{FailedTag, MessageIds, Report};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hermes_core::schema::SchemaError;
use hermes_runtime::EventCount;
use serde::Serialize;

/// The JSON body every answer of ingest carries.
#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ResponseBody {
    pub status: u16,
    pub error: String,
    pub invalid_schema_events: Vec<usize>,
    pub fully_failed_tag_events: Vec<usize>,
    pub partial_failed_tag_events: Vec<usize>,
    pub failed_tags: Vec<FailedTag>,
    pub errors: Vec<SchemaError>,
    /// How many failing values `errors` leaves out (`[limits] max_errors`).
    pub errors_omitted: usize,
    pub message_ids: Vec<MessageIds>,
}

fn prefixed(container_id: &str, message: &str) -> String {
    format!("[{container_id}][Server-to-Server Client][Error] - {message}")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Status and error message for a processed request (the template's rules).
pub fn from_report(container_id: &str, report: Report) -> (StatusCode, ResponseBody) {
    let (status, message) = if report.tags_failed == 0 && report.schema_failures() == 0 {
        (StatusCode::OK, None)
    } else if report.schema_successes() == 0 {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Events: No events in the request body fit the schema. Verify your request matches the common event data schema https://developers.google.com/tag-manager/serverside/common-event-data or the type checking schema you defined in the configuration.".to_string()),
        )
    } else if report.tags_succeeded() == 0 && report.tags_total > 0 {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Some(format!(
                "Tags: {} triggered. 0 tags succeeded. See failedTags for why they failed.",
                plural(report.tags_total, "tag was", "tags were")
            )),
        )
    } else {
        (
            StatusCode::PARTIAL_CONTENT,
            Some(format!(
                "Partial Success: At least one event had the correct schema and at least one tag executed successfully. However, some failed: {} matched the schema, {} did not; {} triggered, {} succeeded, {} failed.",
                plural(report.schema_successes(), "event", "events"),
                report.schema_failures(),
                plural(report.tags_total, "tag", "tags"),
                report.tags_succeeded(),
                report.tags_failed,
            )),
        )
    };
    let body = ResponseBody {
        status: status.as_u16(),
        error: message
            .map(|m| prefixed(container_id, &m))
            .unwrap_or_default(),
        invalid_schema_events: report.invalid_schema_events,
        fully_failed_tag_events: report.fully_failed_tag_events,
        partial_failed_tag_events: report.partial_failed_tag_events,
        failed_tags: report.failed_tags,
        errors: report.errors,
        errors_omitted: report.errors_omitted,
        message_ids: report.message_ids,
    };
    (status, body)
}

/// The answer to a request refused before its events were processed.
pub fn from_error(container_id: &str, error: &IngestError) -> (StatusCode, ResponseBody) {
    let status = error.status();
    let errors = match error {
        IngestError::NotArray(actual) => vec![SchemaError::not_array(actual)],
        _ => Vec::new(),
    };
    let body = ResponseBody {
        status: status.as_u16(),
        error: prefixed(container_id, &error.to_string()),
        errors,
        ..ResponseBody::default()
    };
    (status, body)
}

/// A request refused before its events were processed, as the client sees it:
/// the status from [`IngestError::status`] and the template's body.
pub struct Refused<'a> {
    pub container_id: &'a str,
    pub error: &'a IngestError,
}

impl IntoResponse for Refused<'_> {
    fn into_response(self) -> Response {
        let (status, body) = from_error(self.container_id, self.error);
        respond(status, &body, 0)
    }
}

/// Serialises a body as the HTTP response; `events` feeds the request log line.
pub fn respond(status: StatusCode, body: &ResponseBody, events: usize) -> Response {
    let json = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = (status, json).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response.extensions_mut().insert(EventCount(events));
    response
}
