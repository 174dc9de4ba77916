//! What a finished request leaves behind: its sample in `proxy_requests_total` and
//! `proxy_request_duration_seconds` (or, for a stream, `proxy_stream_duration_seconds`),
//! and its access-log line (target `proxy::access`), which
//! carries every failure with its request id in place of Pingora's own error log.

use pingora::Error;
use pingora::proxy::Session;

use super::ctx::{Answer, RequestCtx};
use crate::metrics::Metrics;

/// Records the request once it has ended, however it ended. `error` is what Pingora ended
/// it with; a stored copy that answered instead is not an error.
pub(super) fn record(
    metrics: &Metrics,
    session: &Session,
    error: Option<&Error>,
    ctx: &RequestCtx,
) {
    let answered_by_cache = matches!(ctx.cache.answer, Answer::Stored(_));
    let status = session
        .response_written()
        .map(|r| r.status.as_u16())
        .or(ctx.local_status)
        .unwrap_or(0);
    let elapsed = ctx.started.elapsed();
    let req = session.req_header();
    let method = req.method.as_str();
    // `streaming` stays set once the backend answered a 101 or an event stream; a plain
    // answer to a would-be stream clears it.
    let stream = ctx.streaming && ctx.upstream_status.is_some();
    metrics.request(
        &ctx.route,
        ctx.upstream_name(),
        method,
        status,
        elapsed.as_secs_f64(),
        stream,
    );
    tracing::info!(
        target: "proxy::access",
        method,
        path = req.uri.path(),
        status,
        route = &*ctx.route,
        upstream = ctx.upstream_name(),
        backend = ctx.backend.map(tracing::field::display),
        attempts = ctx.tried.len(),
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        request_id = ctx.request_id.as_str(),
        cache = ctx.cache.status.map(|s| s.as_str()).unwrap_or_default(),
        error = error
            .filter(|_| !answered_by_cache)
            .map(tracing::field::display),
    );
}
