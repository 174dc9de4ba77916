//! The one error type handlers return, and its one mapping to HTTP.
//!
//! The body is always `{"error":{"code","message"}}` (plus `fields` for validation and
//! `line` for a malformed CSV). Database and internal failures are logged with their cause
//! and answered with a generic message: causes never reach the client.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No credentials where they are required.
    #[error("authentication required")]
    Unauthorized,
    /// A token that is malformed, tampered with or expired.
    #[error("invalid or expired token")]
    InvalidToken,
    /// Wrong email or password.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Authenticated, but not allowed.
    #[error("you may not do that to this resource")]
    Forbidden,
    /// No such resource, or not one this caller may know about.
    #[error("not found")]
    NotFound,
    /// The resource already exists.
    #[error("{0}")]
    Conflict(&'static str),
    /// Input that fails validation, with a message per field.
    #[error("{message}")]
    Validation {
        /// What is wrong overall.
        message: String,
        /// Field name to message.
        fields: BTreeMap<&'static str, String>,
    },
    /// A CSV the analysis rejected; the message names the line.
    #[error("{message}")]
    InvalidCsv {
        /// The analysis's own explanation.
        message: String,
        /// The line at fault, when known.
        line: Option<u64>,
    },
    /// A body over the configured limit.
    #[error("upload exceeds the limit of {limit_bytes} bytes")]
    PayloadTooLarge {
        /// The configured `max_upload_bytes`.
        limit_bytes: u64,
    },
    /// A body of a type this endpoint does not take.
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    /// A request that cannot be parsed at all.
    #[error("{0}")]
    BadRequest(String),
    /// Too many failed logins for the account or the client address.
    #[error("too many failed logins; try again later")]
    TooManyAttempts {
        /// Seconds until a login may succeed again.
        retry_after_secs: u64,
    },
    /// Too many registrations from the client address; the limit holds across instances.
    #[error("too many registrations from this address; try again later")]
    TooManyRegistrations {
        /// Seconds until a registration may be accepted again.
        retry_after_secs: u64,
    },
    /// The upload's body paused longer than `body_idle_timeout_ms`; nothing was stored.
    #[error("the upload stalled for more than {idle_ms} ms; nothing was stored")]
    BodyTimeout {
        /// The configured `body_idle_timeout_ms`.
        idle_ms: u64,
    },
    /// Every hashing or analysis slot stayed taken for the queue wait; the work was not
    /// started, so the client may simply retry (here or on another instance).
    #[error("{0}; retry shortly")]
    Busy(#[from] crate::work::Busy),
    /// This instance is draining and takes no new live streams; another instance will.
    #[error("this instance is shutting down; reconnect")]
    Draining,
    /// The database is saturated or unreachable; another instance may do better.
    #[error("the service is temporarily unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// The database is known to be unreachable (the breaker is open), so nothing was tried:
    /// a 503 at once rather than a wait for a connection, retried after the next probe.
    #[error("the database is unavailable; retry shortly")]
    DatabaseDown {
        /// Seconds until the breaker's next probe, at least 1.
        retry_after_secs: u64,
    },
    /// A database failure.
    #[error("internal error")]
    Database(#[source] sqlx::Error),
    /// Anything else unexpected.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(error)
            }
            other => Self::Database(other),
        }
    }
}

impl From<crate::db::Error> for Error {
    fn from(error: crate::db::Error) -> Self {
        match error {
            crate::db::Error::Down(open) => {
                let millis = u64::try_from(open.retry_after.as_millis()).unwrap_or(u64::MAX);
                Self::DatabaseDown {
                    retry_after_secs: millis.div_ceil(1000).max(1),
                }
            }
            crate::db::Error::Query(error) => error.into(),
        }
    }
}

/// A token that cannot be issued is our fault; one that is refused is the caller's.
impl From<crate::auth::token::Error> for Error {
    fn from(error: crate::auth::token::Error) -> Self {
        match error {
            crate::auth::token::Error::Invalid(_) => Self::InvalidToken,
            signing @ crate::auth::token::Error::Signing(_) => Self::Internal(signing.into()),
        }
    }
}

/// A full hashing pool is a 503 the client may retry; anything else went wrong inside.
impl From<crate::auth::password::Error> for Error {
    fn from(error: crate::auth::password::Error) -> Self {
        match error {
            crate::auth::password::Error::Busy(busy) => Self::Busy(busy),
            other => Self::Internal(other.into()),
        }
    }
}

impl Error {
    /// A validation error about one field.
    pub fn field(name: &'static str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::Validation {
            message: format!("{name}: {message}"),
            fields: BTreeMap::from([(name, message)]),
        }
    }

    /// A validation error about several fields at once, so a form shows every problem in
    /// one answer; `Ok` when there are none.
    pub fn fields(fields: BTreeMap<&'static str, String>) -> Result<(), Self> {
        if fields.is_empty() {
            return Ok(());
        }
        let message = fields
            .iter()
            .map(|(field, reason)| format!("{field}: {reason}"))
            .collect::<Vec<_>>()
            .join("; ");
        Err(Self::Validation { message, fields })
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized | Self::InvalidToken | Self::InvalidCredentials => {
                StatusCode::UNAUTHORIZED
            }
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Validation { .. } | Self::InvalidCsv { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::TooManyAttempts { .. } | Self::TooManyRegistrations { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::Busy(_) | Self::Draining | Self::Unavailable(_) | Self::DatabaseDown { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code in the body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::InvalidToken => "invalid_token",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Validation { .. } => "validation",
            Self::InvalidCsv { .. } => "invalid_csv",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::BadRequest(_) => "bad_request",
            Self::TooManyAttempts { .. } => "too_many_attempts",
            Self::TooManyRegistrations { .. } => "too_many_registrations",
            Self::BodyTimeout { .. } => "body_timeout",
            Self::Busy(_) => "busy",
            Self::Draining => "draining",
            Self::Unavailable(_) => "unavailable",
            Self::DatabaseDown { .. } => "database_unavailable",
            Self::Database(_) | Self::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match &self {
            Self::Database(cause) => tracing::error!(error = %cause, "database failure"),
            Self::Internal(cause) => tracing::error!(error = ?cause, "internal failure"),
            Self::Unavailable(cause) => tracing::warn!(error = %cause, "database unavailable"),
            _ => {}
        }
        let mut error = json!({ "code": self.code(), "message": self.to_string() });
        match &self {
            Self::Validation { fields, .. } if !fields.is_empty() => {
                error["fields"] = json!(fields);
            }
            Self::InvalidCsv {
                line: Some(line), ..
            } => error["line"] = json!(line),
            _ => {}
        }
        let mut response = (self.status(), Json(json!({ "error": error }))).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Unauthorized | Self::InvalidCredentials => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::InvalidToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                );
            }
            Self::TooManyAttempts { retry_after_secs }
            | Self::TooManyRegistrations { retry_after_secs }
            | Self::DatabaseDown { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Self::Busy(_) | Self::Draining | Self::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::BodyTimeout { .. } => {
                // The rest of the body is never read, so the connection cannot be reused.
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

impl From<JsonRejection> for Error {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => {
                Self::UnsupportedMediaType("expected Content-Type: application/json")
            }
            JsonRejection::JsonDataError(error) => Self::Validation {
                message: error.body_text(),
                fields: BTreeMap::new(),
            },
            other => Self::BadRequest(other.body_text()),
        }
    }
}

impl From<QueryRejection> for Error {
    fn from(rejection: QueryRejection) -> Self {
        Self::Validation {
            message: rejection.body_text(),
            fields: BTreeMap::new(),
        }
    }
}

impl From<PathRejection> for Error {
    fn from(_: PathRejection) -> Self {
        Self::NotFound
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::auth::{password, token};
    use crate::work::{Busy, JobFailed};

    fn answer(error: impl Into<Error>) -> (StatusCode, &'static str, Option<HeaderValue>) {
        let error = error.into();
        let code = error.code();
        let response = error.into_response();
        let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
        (response.status(), code, retry_after)
    }

    #[test]
    fn auth_errors_answer_as_the_api_promises() {
        let what = "password hashing";
        assert_eq!(
            answer(password::Error::Busy(Busy { what })),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                Some(HeaderValue::from_static("1"))
            ),
            "a full pool is retryable",
        );
        assert_eq!(
            answer(password::Error::Failed(JobFailed { what })),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
        );
        let refused = token::Tokens::new(b"secret", Duration::from_secs(60))
            .verify("not.a.token")
            .expect_err("not a token");
        assert_eq!(
            answer(refused),
            (StatusCode::UNAUTHORIZED, "invalid_token", None)
        );
    }
}
