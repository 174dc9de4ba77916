//! Requests that may become long-lived streams (a WebSocket upgrade, `Accept:
//! text/event-stream`). Their backend reads carry no per-read timeout, so that a quiet
//! stream is not cut; instead a deadline on the client connection's reads bounds the wait
//! for the response head. Only the backend's answer lifts it: a 101, or an event stream.
//! Any other answer (a client that merely claimed to want a stream) keeps the deadline,
//! renewed by each body chunk, as a plain request's read timeout would be.

use std::time::Duration;

use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use super::ctx::RequestCtx;
use super::inspect;

/// The per-read timeout of the request's backend reads: `response_header_ms`, or none for
/// a would-be stream, which may live as long as the client keeps it. Its response head is
/// still awaited only `response_header_ms`, by a deadline on the client connection's reads
/// armed here and lifted by [`on_response_head`].
pub(super) fn backend_read_timeout(ctx: &RequestCtx) -> Option<Duration> {
    let head = ctx.live.timeouts.response_header();
    if !ctx.streaming {
        return Some(head);
    }
    if let Some(conn) = &ctx.conn {
        conn.arm_read_deadline(head);
    }
    None
}

/// The backend's response head arrived for a would-be stream.
pub(super) fn on_response_head(
    session: &mut Session,
    response: &ResponseHeader,
    ctx: &mut RequestCtx,
) {
    let upgraded = response.status.as_u16() == 101;
    let event_stream = inspect::is_event_stream(response);
    if upgraded {
        // The client's frames may be minutes apart; Pingora's per-read timeout would cut
        // an idle WebSocket.
        session.set_read_timeout(None);
    }
    if upgraded || event_stream {
        if let Some(conn) = &ctx.conn {
            conn.disarm_read_deadline();
        }
    } else {
        ctx.streaming = false;
        ctx.plain_answer_to_stream = true;
        on_response_body(ctx);
    }
}

/// A body chunk arrived: a plain answer to a would-be stream gets a fresh deadline.
pub(super) fn on_response_body(ctx: &RequestCtx) {
    if !ctx.plain_answer_to_stream {
        return;
    }
    if let Some(conn) = &ctx.conn {
        conn.arm_read_deadline(ctx.live.timeouts.response_header());
    }
}
