//! The winning attempt's response, streamed to the client through the gateway's own
//! response phases, as Pingora would run them for a response it proxied itself.

use std::time::Instant;

use http::{Method, header};
use pingora::protocols::http::client::HttpSession;
use pingora::proxy::{ProxyHttp, Session};
use pingora::{Error, ErrorType, Result};

use super::super::ctx::Answer;
use super::super::{Gateway, RequestCtx};
use super::race::Head;
use super::ttfb::Ttfb;
use crate::upstreams::{Outcome, Selection};

/// Sends the response of `head` to the client and returns its connection to the pool.
pub(super) async fn deliver(
    gateway: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
    selection: Selection,
    head: Box<Head>,
    ttfb: &Ttfb,
) -> Result<bool> {
    ttfb.record(head.ttfb, Instant::now());
    let addr = selection.addr();
    ctx.backend = Some(addr);
    ctx.current = Some(selection);
    let Head {
        session: mut upstream,
        peer,
        ..
    } = *head;
    let mut response = Box::new(
        upstream
            .response_header()
            .cloned()
            .ok_or_else(|| Error::explain(ErrorType::InvalidHTTPHeader, "no response header"))?,
    );
    if let Err(error) = gateway
        .upstream_response_filter(session, &mut response, ctx)
        .await
    {
        if let Answer::Stored(_) = ctx.cache.answer {
            // The cache answers instead; the backend did nothing wrong.
            gateway.record_attempt(ctx, Outcome::Success);
        }
        return Err(error);
    }
    let no_body = session.req_header().method == Method::HEAD
        || matches!(response.status.as_u16(), 204 | 304);
    if !no_body
        && !response.headers.contains_key(header::TRANSFER_ENCODING)
        && !response.headers.contains_key(header::CONTENT_LENGTH)
    {
        // An HTTP/1.0-style body that ends at close: chunk it, so the client's connection
        // survives it (as Pingora does).
        response.set_version(http::Version::HTTP_11);
        response.insert_header(header::TRANSFER_ENCODING, "chunked")?;
    }
    gateway.response_filter(session, &mut response, ctx).await?;
    let mut done = no_body || upstream.response_done();
    session
        .write_response_header(response, done)
        .await
        .map_err(|e| e.into_down())?;
    if done {
        let mut nothing = None;
        gateway.upstream_response_body_filter(session, &mut nothing, true, ctx)?;
    }
    while !done {
        let chunk = upstream
            .read_response_body()
            .await
            .map_err(|e| e.into_up())?;
        done = chunk.is_none() || upstream.response_done();
        let mut body = chunk;
        gateway.upstream_response_body_filter(session, &mut body, done, ctx)?;
        session
            .write_response_body(body, done)
            .await
            .map_err(|e| e.into_down())?;
    }
    let idle = gateway
        .keep_alive
        .idle_for(addr, ctx.live.timeouts.upstream_idle());
    // The race only opens HTTP/1.1 sessions (see `race::attempt`).
    if let HttpSession::H1(upstream) = upstream {
        gateway
            .connector
            .release_http_session(upstream, &peer, Some(idle))
            .await;
    }
    Ok(true)
}
