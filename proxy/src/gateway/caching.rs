//! The cache in the gateway's phases: look up in `request_filter`, decide and capture in
//! the upstream response filters (storing at the body's last byte), release coalesced
//! waiters of an abandoned fill in `logging`, and fall back to a stored copy in
//! `fail_to_proxy`. Revalidation and stale-if-error on a 5xx set [`Answer::Stored`] and end
//! the upstream attempt, so `fail_to_proxy` writes the stored response whole. Within
//! `stale-while-revalidate` the stale copy answers and [`Refresh`] runs in the background.
//!
//! Each step does nothing unless the cache is on for the request (`ctx.cache.on`, set once
//! in `request_filter`), so the phases call them without asking.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, StatusCode, header};
use pingora::connectors::http::v1::Connector;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};

use super::ctx::{Answer, Fill, RequestCtx};
use super::forwarding::Client;
use super::inspect::Authority;
use super::refresh::Refresh;
use crate::cache::range::{self, RangeAnswer};
use crate::cache::{Cache, CacheStatus, Coalescer, Entry, Turn, key, policy};

/// `request_filter`'s part: serve a usable stored copy (true), or prepare the miss.
pub(super) async fn lookup(
    connector: &Arc<Connector>,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> Result<bool> {
    let Some(cache) = ctx.cache.on.clone() else {
        return Ok(false);
    };
    ctx.cache.status = Some(CacheStatus::Bypass);
    let client = Client::of(session);
    let req = session.req_header();
    let path = req.uri.path_and_query().map_or("/", |p| p.as_str());
    let primary = key::primary(
        client.scheme(),
        ctx.authority.as_ref().map_or("", Authority::as_str),
        &key::keyed_query(path, &ctx.cache.key_query),
    );
    let method = req.method.clone();
    if policy::is_unsafe(&method) {
        ctx.cache.invalidate = true;
        ctx.cache.primary = Some(primary);
        return Ok(false);
    }
    if (method != Method::GET && method != Method::HEAD) || ctx.streaming {
        return Ok(false);
    }
    let asks = policy::Directives::parse(&req.headers);
    let authorised = req.headers.contains_key(header::AUTHORIZATION);
    let found = usable(cache.store.get(&primary, &req.headers), authorised);
    ctx.cache.primary = Some(primary.clone());
    if let Some(entry) = &found {
        if policy::acceptable(entry.age(), entry.lifetime, &asks) && !entry.directives.no_cache {
            serve(session, ctx, entry, CacheStatus::Hit).await?;
            return Ok(true);
        }
        let while_revalidate = !entry.is_fresh()
            && !entry.directives.no_cache
            && !asks.no_cache
            && asks.max_age != Some(0)
            && !entry.stale_while_revalidate.is_zero()
            && entry.staleness() <= entry.stale_while_revalidate;
        if let (true, Some(upstream)) = (while_revalidate, ctx.upstream.clone()) {
            let live = &ctx.live;
            Refresh {
                cache: cache.clone(),
                connector: connector.clone(),
                upstream,
                timeouts: live.timeouts.clone(),
                trusted_proxies: live.trusted_proxies.clone(),
                request: session.req_header().clone(),
                client,
                request_id: ctx.request_id.clone(),
                primary: primary.clone(),
                stale: entry.clone(),
            }
            .spawn();
            serve(session, ctx, entry, CacheStatus::Stale).await?;
            return Ok(true);
        }
    }
    if asks.only_if_cached {
        // Not stored (or not usable): a miss, though nothing goes upstream.
        ctx.cache.status = Some(CacheStatus::Miss);
        ctx.cache.fwd = Some("uri-miss");
        super::respond::respond(session, ctx, 504, "not in the cache (only-if-cached)").await?;
        return Ok(true);
    }
    ctx.cache.status = Some(CacheStatus::Miss);
    ctx.cache.fwd = Some(match &found {
        None => "uri-miss",
        Some(entry) if entry.is_fresh() => "request",
        Some(_) => "stale",
    });
    if let Some(entry) = found {
        ctx.cache.stale = Some(entry);
        return Ok(false);
    }
    if method != Method::GET || authorised {
        // Authorised responses may be per user: each goes upstream on its own.
        return Ok(false);
    }
    match cache.coalescer.join(&primary) {
        Turn::Lead(leader) => ctx.cache.leader = Some(leader),
        Turn::Follow(waiting) => {
            if Coalescer::wait(waiting, cache.lock_timeout).await {
                let req = session.req_header();
                if let Some(entry) = cache.store.get(&primary, &req.headers) {
                    if policy::acceptable(entry.age(), entry.lifetime, &asks) {
                        ctx.cache.collapsed = true;
                        serve(session, ctx, &entry, CacheStatus::Hit).await?;
                        return Ok(true);
                    }
                }
            }
        }
    }
    Ok(false)
}

/// A stored copy may answer an authorised request only if its response said so.
fn usable(entry: Option<Arc<Entry>>, authorised: bool) -> Option<Arc<Entry>> {
    entry.filter(|e| {
        !authorised
            || e.directives.public
            || e.directives.s_maxage.is_some()
            || e.directives.must_revalidate
    })
}

/// `upstream_request_filter`'s part: ask the origin whether the stale copy still holds
/// (there is one only while the cache is on).
pub(super) fn add_validators(ctx: &mut RequestCtx, upstream_request: &mut RequestHeader) {
    let Some(entry) = &ctx.cache.stale else {
        return;
    };
    if upstream_request.method != Method::GET {
        return;
    }
    let stored = &entry.header.headers;
    if !stored.contains_key(header::ETAG) && !stored.contains_key(header::LAST_MODIFIED) {
        return;
    }
    if insert_validators(stored, upstream_request).is_ok() {
        ctx.cache.revalidating = true;
    }
}

/// Makes `request` conditional on the stored copy's validators: the client's own
/// `If-None-Match` and `If-Modified-Since` give way to the copy's `ETag` and
/// `Last-Modified`, so a 304 is about the bytes the cache holds.
///
/// # Errors
///
/// When a validator cannot be set on the request.
pub(super) fn insert_validators(stored: &HeaderMap, request: &mut RequestHeader) -> Result<()> {
    request.remove_header(&header::IF_NONE_MATCH);
    request.remove_header(&header::IF_MODIFIED_SINCE);
    if let Some(etag) = stored.get(header::ETAG).cloned() {
        request.insert_header(header::IF_NONE_MATCH, etag)?;
    }
    if let Some(modified) = stored.get(header::LAST_MODIFIED).cloned() {
        request.insert_header(header::IF_MODIFIED_SINCE, modified)?;
    }
    Ok(())
}

/// `upstream_response_filter`'s part. It fails only after setting [`Answer::Stored`]: the
/// error stops Pingora forwarding the backend's response, and the phases after it go by
/// the answer in the context.
pub(super) async fn on_response(
    session: &Session,
    response: &ResponseHeader,
    ctx: &mut RequestCtx,
) -> Result<()> {
    let Some(cache) = ctx.cache.on.clone() else {
        return Ok(());
    };
    let status = response.status;
    ctx.cache.fwd_status = Some(status.as_u16());
    let req = session.req_header();
    if ctx.cache.invalidate {
        if status.is_success() || status.is_redirection() {
            invalidate(&cache, ctx, response).await;
        }
        return Ok(());
    }
    if let Some(stale) = ctx.cache.stale.clone() {
        if ctx.cache.revalidating && status == StatusCode::NOT_MODIFIED {
            let fresh = stale.refreshed(response, &cache.rules);
            let fresh = Arc::new(fresh);
            if let Some(primary) = &ctx.cache.primary {
                cache.store.insert_arc(primary, &req.headers, fresh.clone());
            }
            ctx.cache.status = Some(CacheStatus::Revalidated);
            ctx.cache.answer = Answer::Stored(fresh);
            return Err(stop_upstream("the origin confirmed the stored copy"));
        }
        if status.is_server_error() && stale.serves_on_error() {
            ctx.cache.status = Some(CacheStatus::Stale);
            ctx.cache.answer = Answer::Stored(stale);
            return Err(stop_upstream("stale-if-error"));
        }
    }
    let directives = policy::Directives::of_response(&response.headers, &cache.rules.target);
    let refused = policy::not_storable(
        &req.method,
        &req.headers,
        status,
        &response.headers,
        &directives,
    );
    let declared = super::inspect::content_length(&response.headers);
    let event_stream = response
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let too_big = declared.is_some_and(|len| len > cache.max_object_bytes);
    if refused.is_none() && !too_big && !event_stream && status != StatusCode::SWITCHING_PROTOCOLS {
        ctx.cache.fill = Some(Fill {
            header: response.clone(),
            body: BytesMut::new(),
        });
    } else {
        // Nothing will be stored: let any waiters go upstream now.
        ctx.cache.leader = None;
    }
    Ok(())
}

/// Ends the upstream attempt once the stored copy answers instead ([`Answer::Stored`]).
fn stop_upstream(why: &'static str) -> Box<Error> {
    Error::explain(ErrorType::InternalError, why)
}

/// `upstream_response_body_filter`'s part: capture, give up past the size limit, and
/// store at the last byte, before the client has it, so its next request finds it;
/// then release the waiters.
pub(super) fn on_body(session: &Session, ctx: &mut RequestCtx, body: Option<&Bytes>, eos: bool) {
    let (Some(cache), Some(fill)) = (ctx.cache.on.as_deref(), ctx.cache.fill.as_mut()) else {
        return;
    };
    if let Some(chunk) = body {
        if (fill.body.len() + chunk.len()) as u64 > cache.max_object_bytes {
            ctx.cache.fill = None;
            ctx.cache.leader = None;
            return;
        }
        fill.body.extend_from_slice(chunk);
    }
    if eos {
        if let (Some(fill), Some(primary)) = (ctx.cache.fill.take(), ctx.cache.primary.as_ref()) {
            let entry = cache.entry(fill.header, fill.body.freeze());
            cache
                .store
                .insert(primary, &session.req_header().headers, entry);
        }
        ctx.cache.leader = None;
    }
}

/// `logging`'s part: release the waiters of a fill that never completed; what the cache
/// did, for `proxy_cache_requests_total`.
pub(super) fn finish(ctx: &mut RequestCtx) -> Option<CacheStatus> {
    ctx.cache.fill = None;
    ctx.cache.leader = None;
    ctx.cache.status
}

/// `fail_to_proxy`'s part, while nothing was written: the stored answer, or a stale copy
/// when upstreams failed. The status written, if it was.
pub(super) async fn fallback(session: &mut Session, ctx: &mut RequestCtx) -> Option<u16> {
    if ctx.cache.on.is_none() || session.response_written().is_some() {
        return None;
    }
    let entry = match &ctx.cache.answer {
        Answer::Stored(entry) => entry.clone(),
        Answer::Backend => {
            let stale = ctx.cache.stale.clone()?;
            if !stale.serves_on_error() {
                return None;
            }
            ctx.cache.status = Some(CacheStatus::Stale);
            stale
        }
    };
    let status = ctx.cache.status.unwrap_or(CacheStatus::Stale);
    match serve(session, ctx, &entry, status).await {
        Ok(()) => session.response_written().map(|r| r.status.as_u16()),
        Err(error) => {
            tracing::debug!(%error, "could not send the cached response");
            None
        }
    }
}

/// Writes a stored response (or a 304 for a matching conditional request).
async fn serve(
    session: &mut Session,
    ctx: &mut RequestCtx,
    entry: &Entry,
    status: CacheStatus,
) -> Result<()> {
    ctx.cache.status = Some(status);
    let req = session.req_header();
    let head = req.method == Method::HEAD;
    let conditional = req.headers.contains_key(header::IF_NONE_MATCH)
        || req.headers.contains_key(header::IF_MODIFIED_SINCE);
    let mut header = entry.header.clone();
    let not_modified = conditional
        && entry.header.status == StatusCode::OK
        && policy::not_modified(&req.headers, &entry.header.headers);
    if not_modified {
        header.set_status(StatusCode::NOT_MODIFIED)?;
        header.remove_header(&header::CONTENT_LENGTH);
    }
    header.insert_header(header::AGE, entry.age().as_secs().to_string())?;
    ctx.cache.ttl = Some(status::seconds(entry.lifetime) - status::seconds(entry.age()));
    let mut body = entry.body.clone();
    let ranged =
        req.method == Method::GET && !not_modified && entry.header.status == StatusCode::OK;
    if ranged {
        let len = body.len() as u64;
        match range::answer(&req.headers, &entry.header.headers, len) {
            RangeAnswer::Full => {}
            RangeAnswer::Partial { first, last } => {
                header.set_status(StatusCode::PARTIAL_CONTENT)?;
                header
                    .insert_header(header::CONTENT_RANGE, format!("bytes {first}-{last}/{len}"))?;
                header.insert_header(header::CONTENT_LENGTH, (last - first + 1).to_string())?;
                body = body.slice(first as usize..=last as usize);
            }
            RangeAnswer::Unsatisfiable => {
                header.set_status(StatusCode::RANGE_NOT_SATISFIABLE)?;
                header.insert_header(header::CONTENT_RANGE, format!("bytes */{len}"))?;
                header.insert_header(header::CONTENT_LENGTH, "0")?;
                body = Bytes::new();
            }
        }
    }
    let bodiless = head || not_modified || body.is_empty();
    let body = (!bodiless).then_some(body);
    super::respond::send(session, ctx, header, body).await
}

/// Drops the URL, and same-origin `Location` / `Content-Location` targets.
async fn invalidate(cache: &Cache, ctx: &RequestCtx, response: &ResponseHeader) {
    let Some(primary) = &ctx.cache.primary else {
        return;
    };
    cache.store.invalidate(primary);
    let origin = key::primary_of(primary)
        .splitn(4, '/')
        .take(3)
        .collect::<Vec<_>>()
        .join("/");
    for name in [header::LOCATION, header::CONTENT_LOCATION] {
        if let Some(target) = same_origin(&origin, &response.headers, name) {
            cache.store.invalidate(&target);
        }
    }
}

/// The key for a header's URL if it points at `origin` (`scheme://host`).
fn same_origin(origin: &str, headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?;
    if value.starts_with('/') {
        return Some(format!("{origin}{value}"));
    }
    let lower = value.to_ascii_lowercase();
    lower
        .starts_with(&format!("{origin}/"))
        .then(|| format!("{origin}{}", &value[origin.len()..]))
}

#[path = "caching/status.rs"]
mod status;
pub(super) use status::client_headers;

#[cfg(test)]
#[path = "caching/tests.rs"]
mod tests;
