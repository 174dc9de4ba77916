//! The one [`ProxyHttp`] implementation: routing, limits, backend choice, retries,
//! forwarding headers, metrics and the access log, each in the Pingora phase it belongs to.
//! The retry rules are [`retry`]'s.
//!
//! A `GET` or `HEAD` without a body on a group with hedging on does not take Pingora's
//! one-attempt path: [`hedge`] runs its attempts (hedges, re-dispatch) and streams the
//! winner through the same response phases.

mod caching;
mod connection;
mod ctx;
mod fault;
mod forwarding;
mod hedge;
mod inspect;
mod pool;
mod refresh;
mod respond;
mod retry;
mod streams;

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType, Result};

pub use connection::{ConnState, ConnectionTracker, Front};
use ctx::Answer;
pub use ctx::RequestCtx;
pub use fault::Fault;
pub use inspect::Authority;

use crate::cache::Cache;
use crate::metrics::{Metrics, outcome_label};
use crate::routing::{Resolution, SharedLive};
use crate::upstreams::Outcome;

/// How long a backend that answered with the draining header gets no new requests, unless
/// the checks see it restart sooner: longer than the app's drain period.
const DRAIN_HOLD: std::time::Duration = std::time::Duration::from_secs(60);

/// The proxy application Pingora drives.
pub struct Gateway {
    live: SharedLive,
    metrics: Arc<Metrics>,
    tracker: Arc<ConnectionTracker>,
    cache: Option<Arc<Cache>>,
    /// Background cache refreshes and raced attempts ([`hedge`]) connect through this,
    /// outside Pingora's own upstream path; its pool is separate from Pingora's.
    connector: Arc<pingora::connectors::http::Connector>,
    /// Each group's recent time to first byte, for the adaptive hedge delay.
    hedging: hedge::Hedging,
    /// Backends' advertised keep-alive timeouts, to pool connections for less.
    keep_alive: pool::KeepAliveHints,
}

impl Gateway {
    /// A gateway over the shared routing state, with the response cache if it is on.
    pub fn new(
        live: SharedLive,
        metrics: Arc<Metrics>,
        tracker: Arc<ConnectionTracker>,
        cache: Option<Arc<Cache>>,
    ) -> Self {
        Self {
            live,
            metrics,
            tracker,
            cache,
            connector: Arc::new(pingora::connectors::http::Connector::new(None)),
            hedging: hedge::Hedging::default(),
            keep_alive: pool::KeepAliveHints::default(),
        }
    }

    /// Hands the request to [`hedge`] when it may be raced; `Ok(false)`: Pingora's path.
    async fn maybe_race(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let shape = hedge::Shape {
            method: &session.req_header().method,
            has_body: ctx.has_body,
            streaming: ctx.streaming,
        };
        let takes = ctx
            .upstream
            .as_ref()
            .is_some_and(|u| hedge::takes(shape, &u.config().retry));
        if takes {
            hedge::forward(self, session, ctx).await
        } else {
            Ok(false)
        }
    }

    fn record_attempt(&self, ctx: &mut RequestCtx, outcome: Outcome) {
        if let Some(addr) = ctx.finish_attempt(outcome) {
            self.metrics.attempt(
                ctx.upstream_name(),
                &addr.to_string(),
                outcome_label(outcome),
            );
        }
    }

    /// A failure on a reused pooled connection before any response byte, which
    /// [`retry::on_fresh_connection`] lets go again: sends the request again on a fresh
    /// connection (any backend, the same one included); see [`pool`]. Outside the budget,
    /// and without a verdict on the backend.
    fn retry_on_fresh_connection(&self, ctx: &mut RequestCtx) {
        ctx.abandon_attempt();
        ctx.stale_retries += 1;
        ctx.fresh_connection = true;
        if let Some(addr) = ctx.backend {
            ctx.tried.retain(|tried| *tried != addr);
        }
        ctx.retry_reason = Some("stale_connection");
    }

    /// Grants a retry if the group allows another attempt and its budget has room.
    fn allow_retry(&self, ctx: &mut RequestCtx, reason: &'static str) -> bool {
        let Some(upstream) = ctx.upstream.clone() else {
            return false;
        };
        let granted = retry::within_limits(ctx.tried.len(), upstream.max_attempts(), || {
            upstream.try_acquire_retry()
        });
        if granted {
            ctx.retry_reason = Some(reason);
        }
        granted
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
        let conn = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .and_then(|client| self.tracker.connection(*client));
        if let Some(conn) = &conn {
            conn.request_started();
        }
        // An HTTP/2 connection carries other requests: no deadline on its reads.
        ctx.conn = conn.filter(|_| !session.is_http2());
        // Per read of the body: a body that stops arriving gets 408 (`fault`).
        session.set_read_timeout(Some(ctx.live.timeouts.client_body_idle()));
        ctx.request_id = forwarding::request_id(session.req_header());
        let req = session.req_header();
        ctx.streaming = session.is_upgrade_req() || inspect::wants_event_stream(req);
        ctx.has_body = inspect::has_body(req);
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let live = ctx.live.clone();
        let req = session.req_header();
        let Ok(authority) = inspect::authority(req) else {
            respond::respond(session, ctx, 400, "the Host is not a valid authority").await?;
            return Ok(true);
        };
        ctx.authority = authority;
        if inspect::header_bytes(req) > live.limits.max_request_header_bytes {
            respond::respond(session, ctx, 431, respond::message_for(431)).await?;
            return Ok(true);
        }
        let declared = inspect::content_length(&req.headers);
        if declared.is_some_and(|len| len > live.limits.max_request_body_bytes) {
            respond::respond(session, ctx, 413, respond::message_for(413)).await?;
            return Ok(true);
        }
        let host = forwarding::client_host(req).map(str::to_owned);
        match live.resolve(host.as_deref(), req.uri.path()) {
            Resolution::Forward {
                route,
                upstream,
                cache,
            } => {
                ctx.hash_input = upstream
                    .hash_key()
                    .and_then(|key| inspect::hash_input(session, &key));
                ctx.route = route;
                ctx.upstream = Some(upstream);
                ctx.cache.on = self.cache.clone().filter(|_| cache);
                if caching::lookup(&self.connector, session, ctx).await? {
                    return Ok(true);
                }
                self.maybe_race(session, ctx).await
            }
            Resolution::Denied { route } => {
                ctx.route = route;
                respond::respond(session, ctx, 404, respond::message_for(404)).await?;
                Ok(true)
            }
            Resolution::NoRoute => {
                respond::respond(session, ctx, 404, respond::message_for(404)).await?;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let Some(upstream) = ctx.upstream.clone() else {
            return Err(Error::explain(ErrorType::HTTPStatus(404), "no route"));
        };
        let live = ctx.live.clone();
        if let Some(reason) = ctx.retry_reason.take() {
            self.metrics.retry(upstream.name(), reason);
        }
        // A leftover attempt was already recorded; dropping it only releases it.
        ctx.current = None;
        let selection = upstream
            .select(ctx.hash_input.as_deref(), &ctx.tried)
            .ok_or_else(|| Error::explain(ErrorType::HTTPStatus(503), "no eligible backend"))?;
        let addr: SocketAddr = selection.addr();
        ctx.tried.push(addr);
        ctx.backend = Some(addr);
        ctx.current = Some(selection);

        let mut peer = HttpPeer::new(addr, false, String::new());
        if std::mem::take(&mut ctx.fresh_connection) {
            peer.group_key = pool::fresh_group_key();
        }
        let timeouts = &live.timeouts;
        peer.options.connection_timeout = Some(timeouts.connect());
        peer.options.total_connection_timeout = Some(timeouts.connect());
        peer.options.idle_timeout = Some(self.keep_alive.idle_for(addr, timeouts.upstream_idle()));
        // Per read. An event stream or WebSocket lives as long as the client keeps it, so
        // its backend reads have no timeout; the response head is still awaited only
        // `response_header_ms`, by a deadline on the client connection's reads (lifted in
        // `upstream_response_filter`).
        peer.options.read_timeout = (!ctx.streaming).then(|| timeouts.response_header());
        if let Some(conn) = ctx.conn.as_ref().filter(|_| ctx.streaming) {
            conn.arm_read_deadline(timeouts.response_header());
        }
        Ok(Box::new(peer))
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        self.record_attempt(ctx, retry::connect_outcome(&e));
        // Nothing reached the backend, so any method may go elsewhere.
        let retry = self.allow_retry(ctx, retry::CONNECT);
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
        if let Some(fault) = fault::classify(session, &e, ctx) {
            ctx.fault = Some(fault);
            match fault {
                fault::Fault::ClientBody => {
                    ctx.abandon_attempt();
                    self.metrics.client_fault("body_idle");
                }
                fault::Fault::BackendSilent => self.record_attempt(ctx, Outcome::Timeout),
            }
            e.set_retry(false);
            return e;
        }
        if let Answer::Stored(_) = ctx.cache.answer {
            // The cache answers instead; the backend did nothing wrong.
            self.record_attempt(ctx, Outcome::Success);
            e.set_retry(false);
            return e;
        }
        let failed = retry::Failed {
            by_backend: e.esource() == &ErrorSource::Upstream,
            responded: ctx.upstream_status.is_some() || session.response_written().is_some(),
            replayable: retry::replayable(&session.req_header().method, ctx.has_body),
            body_truncated: session.as_ref().retry_buffer_truncated(),
            reused: client_reused,
        };
        if retry::on_fresh_connection(failed, &e, ctx.stale_retries) {
            self.retry_on_fresh_connection(ctx);
            e.set_retry(true);
            return e;
        }
        let outcome = retry::exchange_outcome(&e);
        if failed.by_backend && ctx.upstream_status.is_none() {
            self.record_attempt(ctx, outcome);
        }
        // Always decided, never `ReusedOnly`, whose `retry()` panics.
        let retry = retry::after_exchange(failed, outcome, ctx.broken_retries)
            .is_some_and(|reason| self.allow_retry(ctx, reason));
        if retry {
            ctx.broken_retries += 1;
        }
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
        if let Some(addr) = ctx.backend {
            self.keep_alive.observe(addr, upstream_response);
        }
        if upstream_response
            .remove_header(shared::shutdown::DRAINING_HEADER)
            .is_some()
        {
            if let Some(selection) = ctx.current.as_ref() {
                selection.mark_draining(DRAIN_HOLD);
            }
        }
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
        respond::stamp(upstream_response, &ctx.request_id, ctx.cache.status)
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
        if let Some(status) = caching::fallback(session, ctx).await {
            return FailToProxy {
                error_code: status,
                can_reuse_downstream: false,
            };
        }
        let status = ctx
            .fault
            .map_or_else(|| respond::status_for(e), fault::Fault::status);
        if status > 0 && session.response_written().is_none() {
            if let Err(write_error) =
                respond::respond(session, ctx, status, respond::message_for(status)).await
            {
                tracing::debug!(%write_error, "could not send the error response");
            }
        }
        FailToProxy {
            error_code: status,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        let answered_by_cache = matches!(ctx.cache.answer, Answer::Stored(_));
        if let Some(status) = caching::finish(ctx) {
            self.metrics.cache_request(status.label());
        }
        if let Some(conn) = &ctx.conn {
            conn.request_finished();
        }
        let backend_failed = !answered_by_cache
            && ctx.fault.is_none()
            && e.is_some_and(|e| e.esource() == &ErrorSource::Upstream);
        match retry::final_outcome(ctx.upstream_status, backend_failed) {
            Some(outcome) => self.record_attempt(ctx, outcome),
            None => ctx.abandon_attempt(),
        }

        let status = session
            .response_written()
            .map(|r| r.status.as_u16())
            .or(ctx.local_status)
            .unwrap_or(0);
        let elapsed = ctx.started.elapsed();
        let req = session.req_header();
        let method = req.method.as_str();
        self.metrics.request(
            &ctx.route,
            ctx.upstream_name(),
            method,
            status,
            elapsed.as_secs_f64(),
        );
        tracing::info!(
            target: "proxy::access",
            method,
            path = req.uri.path(),
            status,
            route = &*ctx.route,
            upstream = ctx.upstream_name(),
            backend = ctx.backend.map(|b| b.to_string()).unwrap_or_default(),
            attempts = ctx.tried.len(),
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            request_id = ctx.request_id.as_str(),
            cache = ctx.cache.status.map(|s| s.as_str()).unwrap_or_default(),
            error = e
                .filter(|_| !answered_by_cache)
                .map(|e| e.to_string())
                .unwrap_or_default(),
        );
    }

    fn suppress_error_log(&self, _session: &Session, _ctx: &RequestCtx, _error: &Error) -> bool {
        // The access log already carries every failure with its request id.
        true
    }
}
