//! The one [`ProxyHttp`] implementation: routing, limits, backend choice, retries,
//! forwarding headers, metrics and the access log, each in the Pingora phase it belongs to.
//! Each phase here is a few calls into the module that owns the concern:
//! - `inspect`: what the request head says, and whether the proxy admits it;
//! - `caching`: the response cache's part of every phase, when it is on for the request;
//! - `attempts`: each attempt of Pingora's path (its backend and peer, its verdict), with
//!   the rules of `retry`;
//! - `hedge`: the raced path, below;
//! - `forwarding` and `respond`: the headers added both ways, and the responses the
//!   proxy makes itself;
//! - `https`: what the listener a request arrived on adds (redirect to HTTPS, HSTS);
//! - `streams`, `pool`, `fault`, `connection`: stream deadlines, pooled
//!   connections, whose fault a failure was, and the client connection;
//! - `access`: the request's metric and access-log line;
//! - `acme_challenge`: ACME HTTP-01 tokens, answered before routing and never forwarded.
//!
//! A `GET` or `HEAD` without a body on a group with hedging on does not take Pingora's
//! one-attempt path: `hedge` runs its attempts (hedges, re-dispatch) and streams the
//! winner through the same response phases.

mod access;
pub mod acme_challenge;
mod attempts;
mod caching;
mod connection;
mod ctx;
mod fault;
mod forwarding;
mod hedge;
mod https;
mod inspect;
mod pool;
mod refresh;
mod respond;
mod retry;
mod streams;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};

pub use connection::{ConnState, ConnectionTracker, Front};
pub use ctx::RequestCtx;
pub use fault::Fault;
pub use https::{ListenerPolicy, Listeners};
pub use inspect::Authority;

use crate::cache::Cache;
use crate::metrics::Metrics;
use crate::routing::{Resolution, SharedLive};
use crate::tls::acme::Challenges;
use respond::Refusal;

/// The proxy application Pingora drives.
pub struct Gateway {
    /// The routing state in force; each request takes the version current when its head
    /// arrived ([`ProxyHttp::new_ctx`]).
    live: SharedLive,
    metrics: Arc<Metrics>,
    /// Every open client connection, for the deadlines a request puts on its own.
    tracker: Arc<ConnectionTracker>,
    /// The response cache, when it is on; a route that uses it puts it in the request's
    /// context.
    cache: Option<Arc<Cache>>,
    /// Background cache refreshes and raced attempts ([`hedge`]) connect through this,
    /// outside Pingora's own upstream path, over HTTP/1.1; its pool is separate from
    /// Pingora's.
    connector: Arc<pingora::connectors::http::v1::Connector>,
    /// Each group's recent time to first byte, for the adaptive hedge delay.
    hedging: hedge::Hedging,
    /// Backends' advertised keep-alive timeouts, to pool connections for less.
    keep_alive: pool::KeepAliveHints,
    /// What each public listener adds (redirect, HSTS), fixed at start like the
    /// listeners themselves.
    listeners: Arc<Listeners>,
    /// ACME HTTP-01 tokens to answer, when `[tls.acme]` is configured.
    challenges: Option<Arc<Challenges>>,
}

impl Gateway {
    /// A gateway over the shared routing state, with the response cache if it is on, for
    /// the public listeners `listeners` describes.
    pub fn new(
        live: SharedLive,
        metrics: Arc<Metrics>,
        tracker: Arc<ConnectionTracker>,
        cache: Option<Arc<Cache>>,
        listeners: Arc<Listeners>,
        challenges: Option<Arc<Challenges>>,
    ) -> Self {
        Self {
            live,
            metrics,
            tracker,
            cache,
            connector: Arc::new(pingora::connectors::http::v1::Connector::new(None)),
            hedging: hedge::Hedging::default(),
            keep_alive: pool::KeepAliveHints::default(),
            listeners,
            challenges,
        }
    }

    /// `request_filter`'s routing: admits the head ([`inspect::admit`]), then resolves its
    /// route, upstream group and hash input, and decides once whether the cache is on for
    /// it. A deny route or no route is a 404.
    fn route(&self, session: &Session, ctx: &mut RequestCtx) -> Result<(), Refusal> {
        let req = session.req_header();
        ctx.authority = inspect::admit(req, &ctx.live.limits)?;
        let host = forwarding::client_host(req);
        match ctx.live.resolve(host, req.uri.path()) {
            Resolution::Forward {
                route,
                upstream,
                cache,
                key_query,
                hedge,
            } => {
                ctx.hash_input = upstream
                    .hash_key()
                    .and_then(|key| inspect::hash_input(session, &key));
                ctx.route = route;
                ctx.upstream = Some(upstream);
                ctx.cache.on = self.cache.clone().filter(|_| cache);
                ctx.cache.key_query = key_query;
                ctx.hedge = hedge;
                Ok(())
            }
            Resolution::Denied { route } => {
                ctx.route = route;
                Err(Refusal::of(404))
            }
            Resolution::NoRoute => Err(Refusal::of(404)),
        }
    }

    /// Hands the request to [`hedge`] when it may be raced or re-dispatched; `Ok(false)`:
    /// Pingora's path.
    async fn maybe_race(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let shape = hedge::Shape {
            method: &session.req_header().method,
            has_body: ctx.has_body,
            streaming: ctx.streaming,
        };
        if ctx.upstream.is_some() && hedge::takes(shape) {
            hedge::forward(self, session, ctx).await
        } else {
            Ok(false)
        }
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        // Pingora calls this once the request head is read, just before the first phase.
        RequestCtx::new(self.live.load_full())
    }

    async fn early_request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.conn = connection::request_started(&self.tracker, session);
        if !self.listeners.is_inert() {
            let local = session.server_addr().and_then(|a| a.as_inet()).copied();
            ctx.listener = self.listeners.policy_for(local);
        }
        // Per read of the body: a body that stops arriving gets 408 (`fault`).
        session.set_read_timeout(Some(ctx.live.timeouts.client_body_idle()));
        ctx.note_head(session);
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        if let Some(challenges) = &self.challenges {
            if acme_challenge::is_challenge_path(session.req_header().uri.path()) {
                acme_challenge::answer(challenges, session, ctx).await?;
                return Ok(true);
            }
        }
        if ctx.live.is_health_path(session.req_header().uri.path()) {
            respond::health(session, ctx).await?;
            return Ok(true);
        }
        if https::redirect(session, ctx).await? {
            return Ok(true);
        }
        if let Err(refusal) = self.route(session, ctx) {
            respond::refuse(session, ctx, refusal).await?;
            return Ok(true);
        }
        if caching::lookup(&self.connector, session, ctx).await? {
            return Ok(true);
        }
        self.maybe_race(session, ctx).await
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        self.next_peer(ctx).map(Box::new)
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        let retry = self.after_connect_failure(&e, ctx);
        e.set_retry(retry);
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("Peer: {peer}"));
        // Always decided, never `ReusedOnly`, whose `retry()` panics.
        let retry = self.after_proxy_error(session, &e, ctx, client_reused);
        e.set_retry(retry);
        e
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(chunk) = body.as_ref() {
            ctx.body_bytes += chunk.len() as u64;
            if ctx.body_bytes > ctx.live.limits.max_request_body_bytes {
                return Err(Error::explain(
                    ErrorType::HTTPStatus(413),
                    "request body over the limit",
                ));
            }
        }
        Ok(())
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        forwarding::upstream_request(
            &ctx.live.trusted_proxies,
            forwarding::Client::of(session),
            upstream_request,
            &ctx.request_id,
        )?;
        caching::add_validators(ctx, upstream_request);
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.upstream_status = Some(upstream_response.status.as_u16());
        if ctx.streaming {
            streams::on_response_head(session, upstream_response, ctx);
        }
        self.observe_backend(upstream_response, ctx);
        caching::on_response(session, upstream_response, ctx).await
    }

    fn upstream_response_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<std::time::Duration>> {
        streams::on_response_body(ctx);
        caching::on_body(session, ctx, body.as_ref(), end_of_stream);
        Ok(None)
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        caching::client_headers(ctx, upstream_response)?;
        respond::stamp(upstream_response, ctx)
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        // The connection is not reused after a failed attempt (its request body may be
        // half read), so whatever is answered here tells the client with
        // `Connection: close` instead of leaving it to meet a reset on its next request.
        session.set_keepalive(None);
        let error_code = match caching::fallback(session, ctx).await {
            Some(status) => status,
            None => respond::failure(session, ctx, e).await,
        };
        FailToProxy {
            error_code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        if let Some(status) = caching::finish(ctx) {
            self.metrics.cache_request(status.label());
        }
        if let Some(conn) = &ctx.conn {
            conn.request_finished();
        }
        self.finish_last_attempt(e, ctx);
        access::record(&self.metrics, session, e, ctx);
    }

    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, _error: &Error) -> bool {
        // The access log already carries every failure with its request id.
        true
    }
}
