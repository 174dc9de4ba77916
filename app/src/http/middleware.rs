//! What happens around every request: a request id (kept from `X-Request-Id` when it
//! follows the rule shared with the proxy, made otherwise) in the tracing span and the
//! response, `X-Instance`, the request metrics by method (known methods only) and route
//! template, one access-log line with the client's address, and while draining
//! `Connection: close` so clients move to other instances plus the draining header
//! ([`shared::shutdown::DRAINING_HEADER`]) so the proxy stops sending here at once.
//!
//! A response written before its request's body was read to the end (a refusal decided
//! from the head: 401, 413, 503) says `Connection: close`: the connection is closed after
//! it, and a proxy that pooled it would send its next request into a closing socket,
//! which for a `POST` cannot be retried.

use std::any::Any;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, header};
use tracing::Instrument;

use super::Error;
use crate::state::AppState;

/// The request id header, in and out.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static(shared::forwarding::X_REQUEST_ID);
/// The answering instance's name.
pub static X_INSTANCE: HeaderName = HeaderName::from_static("x-instance");

/// Set on every response while the instance drains; see [`shared::shutdown::DRAINING_HEADER`].
static X_DRAINING: HeaderName = HeaderName::from_static(shared::shutdown::DRAINING_HEADER);

/// The route label for requests that matched no route.
const UNMATCHED: &str = "unmatched";
/// Routes the proxy's health checks poll every second; their access lines are DEBUG, or
/// they would bury everything else an operator reads.
const HEALTH_ROUTES: [&str; 2] = ["/healthz", "/readyz"];

/// Wraps every request; see the module docs.
pub async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = HeaderValue::try_from(shared::forwarding::request_id(request.headers()))
        // An id that follows the shared rule is always a valid header value.
        .unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    request
        .headers_mut()
        .insert(X_REQUEST_ID.clone(), request_id.clone());
    let client = super::extract::client_ip(
        request.extensions(),
        request.headers(),
        &state.config.trusted_proxies,
    );
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let method = request.method().clone();
    let method_label = shared::metrics::method_label(method.as_str());
    let path = request.uri().path().to_owned();
    let id_text = request_id.to_str().unwrap_or_default().to_owned();
    // The span carries the id into every log line of this request; the access line below
    // repeats it because JSON logs are written without span fields.
    let span = tracing::info_span!("request", request_id = %id_text);
    let (request, body_read) = watch_body(request);

    let mut response = next.run(request).instrument(span.clone()).await;

    let headers = response.headers_mut();
    if body_read.is_some_and(|read| !read.load(Ordering::Acquire)) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
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
        .with_label_values(&[method_label, route.as_str(), status.as_str()])
        .inc();
    metrics
        .request_duration
        .with_label_values(&[method_label, route.as_str()])
        .observe(elapsed.as_secs_f64());
    span.in_scope(|| {
        macro_rules! access_line {
            ($level:expr) => {
                tracing::event!(
                    target: "app::access",
                    $level,
                    %method,
                    %route,
                    %path,
                    client = %client.map(|ip| ip.to_string()).unwrap_or_default(),
                    status = status.as_u16(),
                    duration_ms = %format_args!("{:.3}", elapsed.as_secs_f64() * 1000.0),
                    request_id = %id_text,
                    instance = state.instance.to_str().unwrap_or_default(),
                    "served"
                )
            };
        }
        if HEALTH_ROUTES.contains(&route.as_str()) {
            access_line!(tracing::Level::DEBUG);
        } else {
            access_line!(tracing::Level::INFO);
        }
    });
    response
}

/// Wraps a request that has a body so the caller can tell, once the handler has answered,
/// whether the body was read to its end; `None` for a request without one.
fn watch_body(request: Request) -> (Request, Option<Arc<AtomicBool>>) {
    let headers = request.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0");
    if !has_body {
        return (request, None);
    }
    let read = Arc::new(AtomicBool::new(false));
    let (parts, inner) = request.into_parts();
    let body = Body::new(Watched {
        inner,
        read: read.clone(),
    });
    (Request::from_parts(parts, body), Some(read))
}

/// A request body that notes when it has been read to its end.
struct Watched {
    inner: Body,
    read: Arc<AtomicBool>,
}

impl http_body::Body for Watched {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.read.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The policy for API responses: JSON is data, never a page, so nothing may load or frame.
const API_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// JSON responses are never sniffed into something else, and load and frame nothing even
/// if opened as a page. The frontend's own pages keep their own policy.
pub async fn json_security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if is_json {
        let headers = response.headers_mut();
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(API_CONTENT_SECURITY_POLICY),
        );
    }
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
