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
    if !tracing::enabled!(target: "proxy::access", tracing::Level::INFO) {
        return;
    }
    shared::telemetry::line::info("proxy::access", |line| {
        line.str("method", method)
            .str("path", req.uri.path())
            .u64("status", u64::from(status))
            .str("route", &ctx.route)
            .str("upstream", ctx.upstream_name());
        if let Some(backend) = &ctx.backend {
            line.display("backend", backend);
        }
        line.u64("attempts", ctx.tried.len() as u64)
            .millis("duration_ms", elapsed)
            .str("request_id", &ctx.request_id)
            .str(
                "cache",
                ctx.cache.status.map(|s| s.as_str()).unwrap_or_default(),
            );
        if let Some(error) = error.filter(|_| !answered_by_cache) {
            line.display("error", error);
        }
    });
}
