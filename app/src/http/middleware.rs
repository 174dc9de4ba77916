//! What happens around every request: a request id (kept from `X-Request-Id` when valid,
//! made otherwise) in the tracing span and the response, `X-Instance`, the request metrics
//! by route template, one access-log line, and while draining `Connection: close` so
//! clients move to other instances plus the draining header
//! ([`shared::shutdown::DRAINING_HEADER`]) so the proxy stops sending here at once.

use std::any::Any;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, header};
use tracing::Instrument;

use super::Error;
use crate::state::AppState;

/// The request id header, in and out.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The answering instance's name.
pub static X_INSTANCE: HeaderName = HeaderName::from_static("x-instance");

/// Set on every response while the instance drains; see [`shared::shutdown::DRAINING_HEADER`].
static X_DRAINING: HeaderName = HeaderName::from_static(shared::shutdown::DRAINING_HEADER);

/// The route label for requests that matched no route.
const UNMATCHED: &str = "unmatched";

/// Wraps every request; see the module docs.
pub async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(&X_REQUEST_ID)
        .filter(|value| is_valid_request_id(value.as_bytes()))
        .cloned()
        .unwrap_or_else(new_request_id);
    request
        .headers_mut()
        .insert(X_REQUEST_ID.clone(), request_id.clone());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let id_text = request_id.to_str().unwrap_or_default().to_owned();
    // The span carries the id into every log line of this request; the access line below
    // repeats it because JSON logs are written without span fields.
    let span = tracing::info_span!("request", request_id = %id_text);

    let mut response = next.run(request).instrument(span.clone()).await;

    let headers = response.headers_mut();
    headers.insert(X_REQUEST_ID.clone(), request_id);
    headers.insert(X_INSTANCE.clone(), state.instance.clone());
    if state.draining.is_cancelled() {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        headers.insert(X_DRAINING.clone(), HeaderValue::from_static("1"));
    }
    let status = response.status();
    let elapsed = started.elapsed();
    let metrics = &state.metrics;
    metrics
        .requests
        .with_label_values(&[method.as_str(), route.as_str(), status.as_str()])
        .inc();
    metrics
        .request_duration
        .with_label_values(&[method.as_str(), route.as_str()])
        .observe(elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(
            target: "app::access",
            %method,
            %route,
            %path,
            status = status.as_u16(),
            duration_ms = %format_args!("{:.3}", elapsed.as_secs_f64() * 1000.0),
            request_id = %id_text,
            instance = state.instance.to_str().unwrap_or_default(),
            "served"
        );
    });
    response
}

/// A panic in a handler becomes a logged 500 in the house format, not a dropped connection.
pub fn panic_response(cause: Box<dyn Any + Send + 'static>) -> Response {
    let detail = cause
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| cause.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    Error::Internal(anyhow::anyhow!("handler panicked: {detail}")).into_response()
}

/// 1 to 128 characters of `A-Z a-z 0-9 - _ . :`; anything else is replaced, so ids are
/// safe in logs and headers.
fn is_valid_request_id(bytes: &[u8]) -> bool {
    (1..=128).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn new_request_id() -> HeaderValue {
    let id = uuid::Uuid::new_v4().to_string();
    // A hyphenated UUID is always a valid header value.
    HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

#[cfg(test)]
mod tests {
    use super::is_valid_request_id;

    #[test]
    fn request_ids_are_short_and_plain() {
        assert!(is_valid_request_id(b"abc-123_x.y:z"));
        assert!(!is_valid_request_id(b""));
        assert!(!is_valid_request_id(b"has space"));
        assert!(!is_valid_request_id(&[b'a'; 129]));
    }
}
