//! RFC 9457 problem documents: every error the service answers is one, with a `type` that
//! names the kind of problem, the HTTP `status`, a short `title` and a `detail` that says what
//! exactly was wrong with this request.
//!
//! This module must never put a secret or a server-side path into a problem's text; it maps a
//! coordinator error to a status by its [`Severity`] and kind, never by parsing its message.

use airlock_coordinator::CoordinatorError;
use airlock_core::{Classify, Severity};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One problem: an HTTP status, a stable kind and what was wrong.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    /// Stable and machine-readable: the last part of the `type` URI.
    pub kind: &'static str,
    pub title: &'static str,
    pub detail: String,
    /// Seconds a client should wait before retrying (sent as `Retry-After`).
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            status,
            kind,
            title,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "The request is malformed",
            detail,
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn unsupported_media(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported content type",
            detail,
        )
    }

    pub fn internal(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "The service failed",
            detail,
        )
    }

    /// The document's JSON.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "type": format!("urn:airlock:problem:{}", self.kind),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        })
    }
}

impl From<CoordinatorError> for Problem {
    fn from(e: CoordinatorError) -> Problem {
        let detail = e.to_string();
        match (&e, e.severity()) {
            (_, Severity::Busy) => Problem {
                retry_after: Some(1),
                ..Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "The database is busy",
                    detail,
                )
            },
            (CoordinatorError::NotFound(_), _) => Problem::not_found(detail),
            (CoordinatorError::Forbidden(_), _) => Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "The member may not do this",
                detail,
            ),
            (CoordinatorError::SplitView(_), _) => Problem::new(
                StatusCode::CONFLICT,
                "split-view",
                "A device reports a log state this log never had",
                detail,
            ),
            (CoordinatorError::LogInvalid(_), _) => {
                tracing::error!(error = %detail, "the stored log fails its own verification");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "log-invalid",
                    "The stored log fails its own verification",
                    detail,
                )
            }
            (_, Severity::Alarm) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "alarm",
                "Refused: the artifact contradicts what it claims",
                detail,
            ),
            (_, Severity::Refused) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "refused",
                "Refused by the coordinator's rules",
                detail,
            ),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.to_json()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
