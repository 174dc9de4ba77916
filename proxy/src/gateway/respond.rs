//! The house headers every response to the client carries, and the responses the proxy
//! writes itself: denials, limits, failures it could not route around, and stored copies
//! from the cache. Error bodies use the app's error shape, `{"error": {"code", "message"}}`.

use bytes::Bytes;
use http::HeaderValue;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::{Error, ErrorSource, ErrorType, Result};

use super::ctx::RequestCtx;
use super::fault::Fault;
use super::forwarding::{self, X_CACHE};
use super::https::ListenerPolicy;
use crate::cache::CacheStatus;

/// Seconds a client is told to wait when no backend can take its request.
const RETRY_AFTER_SECS: &str = "1";

/// Stamps the house headers on a response for the client: [`stamp_with`] with the
/// request's id, cache status and listener. Once per response: in `response_filter` for
/// one a backend sent, in [`send`] for one the proxy makes.
pub(super) fn stamp(header: &mut ResponseHeader, ctx: &RequestCtx) -> Result<()> {
    stamp_with(
        header,
        &ctx.request_id,
        ctx.cache.status,
        ctx.listener.as_deref().and_then(ListenerPolicy::hsts),
    )
}

/// `X-Request-Id`, `Via` (and the backend's hop-by-hop leftovers removed,
/// [`forwarding::downstream_response`]), `X-Cache` when the cache has a say (`cache`), and
/// `Strict-Transport-Security` when the listener sends it (`hsts`, in place of any the
/// backend sent).
pub(super) fn stamp_with(
    header: &mut ResponseHeader,
    request_id: &str,
    cache: Option<CacheStatus>,
    hsts: Option<&HeaderValue>,
) -> Result<()> {
    if let Some(cache) = cache {
        header.insert_header(X_CACHE, cache.as_str())?;
    }
    if let Some(hsts) = hsts {
        header.insert_header(http::header::STRICT_TRANSPORT_SECURITY, hsts.clone())?;
    }
    forwarding::downstream_response(header, request_id)
}

/// Writes a response the proxy makes itself, with the house headers: `header`, then `body`
/// whole, or nothing after the head when `body` is `None` (a `HEAD`, a 304). Every local
/// response goes through here, so its status reaches the access log.
pub(super) async fn send(
    session: &mut Session,
    ctx: &mut RequestCtx,
    mut header: ResponseHeader,
    body: Option<Bytes>,
) -> Result<()> {
    stamp(&mut header, ctx)?;
    super::caching::client_headers(ctx, &mut header)?;
    ctx.local_status = Some(header.status.as_u16());
    session
        .write_response_header(Box::new(header), body.is_none())
        .await?;
    if let Some(body) = body {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(())
}

/// A request the proxy answers itself instead of forwarding it: a refused head, a denied
/// path, no route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Refusal {
    /// The status the client gets.
    pub(super) status: u16,
    /// What the error body tells the client.
    pub(super) message: &'static str,
}

impl Refusal {
    /// A refusal with the usual message for `status` ([`message_for`]).
    pub(super) fn of(status: u16) -> Self {
        Self {
            status,
            message: message_for(status),
        }
    }
}

/// Answers a refused request.
pub(super) async fn refuse(
    session: &mut Session,
    ctx: &mut RequestCtx,
    refusal: Refusal,
) -> Result<()> {
    respond(session, ctx, refusal.status, refusal.message).await
}

/// `fail_to_proxy`'s error response, when the cache had nothing to answer with: the status
/// the failure maps to (the gateway's own verdict in `ctx.fault` first), written unless
/// something was already or the client is gone (status 0).
pub(super) async fn failure(session: &mut Session, ctx: &mut RequestCtx, error: &Error) -> u16 {
    let status = ctx.fault.map_or_else(|| status_for(error), Fault::status);
    if status > 0 && session.response_written().is_none() {
        if let Err(write_error) = respond(session, ctx, status, message_for(status)).await {
            tracing::debug!(%write_error, "could not send the error response");
        }
    }
    status
}

/// Writes an error response with `status` and `message`.
pub(super) async fn respond(
    session: &mut Session,
    ctx: &mut RequestCtx,
    status: u16,
    message: &str,
) -> Result<()> {
    let body = serde_json::json!({
        "error": { "code": code_name(status), "message": message }
    })
    .to_string();
    let mut header = ResponseHeader::build(status, Some(6))?;
    header.insert_header(http::header::CONTENT_TYPE, "application/json")?;
    header.insert_header(http::header::CONTENT_LENGTH, body.len().to_string())?;
    if status == 503 {
        header.insert_header(http::header::RETRY_AFTER, RETRY_AFTER_SECS)?;
    }
    if matches!(status, 408 | 413 | 431 | 400) {
        // The rest of the request may still be on the wire; do not read it as a new one.
        session.set_keepalive(None);
    }
    send(session, ctx, header, Some(Bytes::from(body))).await
}

/// The proxy's own health endpoint: `200 ok` to `GET` and `HEAD` while it runs, whatever
/// the backends' state (a platform that restarts an unhealthy proxy must not restart it
/// for an app outage), never stored by anyone; `405` to any other method.
pub(super) async fn health(session: &mut Session, ctx: &mut RequestCtx) -> Result<()> {
    let method = &session.req_header().method;
    if method != http::Method::GET && method != http::Method::HEAD {
        let mut header = ResponseHeader::build(405, Some(3))?;
        header.insert_header(http::header::ALLOW, "GET, HEAD")?;
        header.insert_header(http::header::CONTENT_LENGTH, "0")?;
        return send(session, ctx, header, None).await;
    }
    let head = method == http::Method::HEAD;
    let mut header = ResponseHeader::build(200, Some(4))?;
    header.insert_header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")?;
    header.insert_header(http::header::CACHE_CONTROL, "no-store")?;
    header.insert_header(http::header::CONTENT_LENGTH, "3")?;
    let body = (!head).then(|| Bytes::from_static(b"ok\n"));
    send(session, ctx, header, body).await
}

/// The status a proxying error becomes; 0 when the client is already gone.
pub(super) fn status_for(error: &Error) -> u16 {
    match error.etype() {
        ErrorType::HTTPStatus(code) => *code,
        ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout
            if error.esource() == &ErrorSource::Upstream =>
        {
            504
        }
        _ => match error.esource() {
            ErrorSource::Upstream => 502,
            ErrorSource::Downstream => match error.etype() {
                ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                _ => 400,
            },
            ErrorSource::Internal | ErrorSource::Unset => 500,
        },
    }
}

/// The message a client gets for a status the proxy produced.
pub(super) fn message_for(status: u16) -> &'static str {
    match status {
        400 => "the request could not be read",
        404 => "no route for this path",
        408 => "the request body stopped arriving",
        413 => "the request body is larger than this proxy accepts",
        431 => "the request headers are larger than this proxy accepts",
        502 => "the backend failed to answer",
        503 => "no healthy backend is available; retry shortly",
        504 => "the backend did not answer in time",
        _ => "the proxy could not complete the request",
    }
}

fn code_name(status: u16) -> &'static str {
    match status {
        400 => "bad_request",
        404 => "not_found",
        408 => "request_timeout",
        413 => "payload_too_large",
        431 => "request_header_fields_too_large",
        502 => "bad_gateway",
        503 => "service_unavailable",
        504 => "gateway_timeout",
        _ => "proxy_error",
    }
}

#[cfg(test)]
mod tests;
