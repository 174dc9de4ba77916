//! The typed per-request context that travels through every phase.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use super::connection::ConnState;
use super::fault::Fault;
use super::forwarding;
use super::https::ListenerPolicy;
use super::inspect::{self, Authority};
use crate::cache::{Cache, CacheStatus, Entry, Leader};
use crate::config::CacheKeyQuery;
use crate::routing::Live;
use crate::upstreams::{Outcome, Selection, Upstream};

/// Everything the gateway learns about one request, phase by phase.
#[derive(Debug)]
pub struct RequestCtx {
    /// When the request head arrived.
    pub started: Instant,
    /// The routing state in force when the request head arrived, used by this request from
    /// start to end even if a reload swaps in another meanwhile.
    pub live: Arc<Live>,
    /// The client's `X-Request-Id`, or a fresh one; echoed to client and backend.
    pub request_id: String,
    /// The validated `Host` (or absolute-form authority), when the request names one.
    pub authority: Option<Authority>,
    /// The matched route's label (`unmatched` when none matched).
    pub route: Arc<str>,
    /// The upstream group, once routed.
    pub upstream: Option<Arc<Upstream>>,
    /// What consistent hashing hashes on, computed once.
    pub hash_input: Option<Vec<u8>>,
    /// Backends already tried, so a retry goes elsewhere.
    pub tried: Vec<SocketAddr>,
    /// The attempt in progress; finished with its outcome exactly once.
    pub current: Option<Selection>,
    /// The last backend an attempt went to, for the access log.
    pub backend: Option<SocketAddr>,
    /// Why the next `upstream_peer` call is a retry.
    pub retry_reason: Option<&'static str>,
    /// Retries granted after a connection broke (at most one per request).
    pub broken_retries: u32,
    /// Retries on a fresh connection after a reused one had been closed (at most one).
    pub stale_retries: u32,
    /// The next attempt must dial instead of taking a pooled connection.
    pub fresh_connection: bool,
    /// The status the backend answered with, once its header arrived.
    pub upstream_status: Option<u16>,
    /// A status the proxy answered with itself.
    pub local_status: Option<u16>,
    /// Request body bytes seen so far.
    pub body_bytes: u64,
    /// A WebSocket upgrade or an event stream: no read timeouts once its backend has
    /// answered 101 or an event stream; until then the connection's read deadline stands
    /// in for the backend read timeout.
    pub streaming: bool,
    /// The HTTP/1 connection the request arrived on (none over HTTP/2).
    pub conn: Option<Arc<ConnState>>,
    /// A would-be stream got a plain answer: its body reads keep a deadline, renewed per
    /// chunk (see `streams`).
    pub plain_answer_to_stream: bool,
    /// A failure the gateway attributed itself (the client's, or a silent backend's).
    pub fault: Option<Fault>,
    /// The request carries a body, so it is never re-sent once a backend got it.
    pub has_body: bool,
    /// Its route or group hedges `GET` and `HEAD` ([`crate::routing::Resolution`]).
    pub hedge: bool,
    /// What the response cache knows and did for this request.
    pub cache: CacheCtx,
    /// What the listener the request arrived on adds: a redirect to HTTPS, HSTS. Found in
    /// `early_request_filter`; `None` when no listener adds anything.
    pub listener: Option<Arc<ListenerPolicy>>,
}

impl RequestCtx {
    /// A context for a request that starts now, under `live`.
    pub(super) fn new(live: Arc<Live>) -> Self {
        Self {
            started: Instant::now(),
            live,
            request_id: String::new(),
            authority: None,
            route: Arc::from("unmatched"),
            upstream: None,
            hash_input: None,
            tried: Vec::new(),
            current: None,
            backend: None,
            retry_reason: None,
            broken_retries: 0,
            stale_retries: 0,
            fresh_connection: false,
            upstream_status: None,
            local_status: None,
            body_bytes: 0,
            streaming: false,
            conn: None,
            plain_answer_to_stream: false,
            fault: None,
            has_body: false,
            hedge: false,
            cache: CacheCtx::default(),
            listener: None,
        }
    }

    /// Notes what the request head says before routing: its id (the client's, or a fresh
    /// one), whether it may become a stream, and whether it has a body.
    pub(super) fn note_head(&mut self, session: &Session) {
        let req = session.req_header();
        self.request_id = forwarding::request_id(req);
        self.streaming = session.is_upgrade_req() || inspect::wants_event_stream(req);
        self.has_body = inspect::has_body(req);
    }

    /// The upstream group's name, or `none`.
    pub fn upstream_name(&self) -> &str {
        self.upstream.as_ref().map_or("none", |u| u.name())
    }

    /// Releases the attempt in progress without a verdict: the client went away, which says
    /// nothing about the backend.
    pub(super) fn abandon_attempt(&mut self) {
        self.current.take();
    }

    /// Picks a backend of `upstream` this request has not tried yet, for its next attempt.
    pub(super) fn select(&mut self, upstream: &Upstream) -> Option<Selection> {
        let selection = upstream.select(self.hash_input.as_deref(), &self.tried)?;
        self.tried.push(selection.addr());
        self.backend = Some(selection.addr());
        Some(selection)
    }

    /// Sends the request again on a fresh connection after a reused one turned out to have
    /// been closed under it (see `pool` and `retry::on_fresh_connection`): to any backend,
    /// the same one included, outside the budget and without a verdict on the backend.
    pub(super) fn retry_on_fresh_connection(&mut self) {
        self.abandon_attempt();
        self.stale_retries += 1;
        self.fresh_connection = true;
        if let Some(addr) = self.backend {
            self.tried.retain(|tried| *tried != addr);
        }
        self.retry_reason = Some("stale_connection");
    }

    /// Ends the attempt in progress with `outcome`, once; returns the backend it went to.
    pub(super) fn finish_attempt(&mut self, outcome: Outcome) -> Option<SocketAddr> {
        self.current.take().map(|selection| {
            let addr = selection.addr();
            selection.finish(outcome);
            addr
        })
    }
}

/// The cache's part of the per-request context.
#[derive(Default)]
pub struct CacheCtx {
    /// The response cache, when the proxy has one and the request's route uses it. Decided
    /// once, in `request_filter`; every later cache step asks this and nothing else, and
    /// does nothing when it is `None`.
    pub on: Option<Arc<Cache>>,
    /// What the cache did; set only while it is [`on`](Self::on), so every response that
    /// has one gets `X-Cache`.
    pub status: Option<CacheStatus>,
    /// The URL key.
    pub primary: Option<String>,
    /// The stored copy found stale: for revalidation and stale-if-error.
    pub stale: Option<Arc<Entry>>,
    /// Validators from `stale` went upstream.
    pub revalidating: bool,
    /// The leader's lock for this key; dropped once the fill is stored or abandoned.
    pub leader: Option<Leader>,
    /// The response being captured for the store.
    pub fill: Option<Fill>,
    /// Whether the backend's response or a stored copy answers the client.
    pub answer: Answer,
    /// A successful unsafe request invalidates this URL.
    pub invalidate: bool,
    /// Why the request went to the origin, as `Cache-Status` says it (`fwd=`): the URL was
    /// not stored (`uri-miss`), the copy was stale, the request asked past a fresh copy, or
    /// the cache was not consulted (`bypass`, the default).
    pub fwd: Option<&'static str>,
    /// The origin's status when the request went there (`fwd-status=`).
    pub fwd_status: Option<u16>,
    /// Seconds of freshness left in the stored copy served (`ttl=`, negative when stale).
    pub ttl: Option<i64>,
    /// Served from another request's fill after waiting for it (`collapsed`).
    pub collapsed: bool,
    /// How much of the query string the route's keys hold (`cache_key_query`).
    pub key_query: Arc<CacheKeyQuery>,
}

impl std::fmt::Debug for CacheCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheCtx")
            .field("on", &self.on.is_some())
            .field("status", &self.status)
            .field("answer", &self.answer)
            .field("primary", &self.primary)
            .finish_non_exhaustive()
    }
}

/// Who answers the client once a backend's response head has arrived, as the cache decided.
#[derive(Debug, Default)]
pub enum Answer {
    /// The backend: its response goes to the client as it comes (captured for the store
    /// when it may be stored).
    #[default]
    Backend,
    /// This stored copy, in place of the backend's response: the origin confirmed it (a
    /// 304 to a revalidation, `X-Cache: REVALIDATED`) or failed within its
    /// `stale-if-error` (`STALE`). The upstream attempt ends at its head, a success as far
    /// as the backend's health goes, is never retried, and `fail_to_proxy` writes the copy.
    Stored(Arc<Entry>),
}

/// A response being captured for the store, from its head to its last body byte.
pub struct Fill {
    /// The backend's response head, as it arrived.
    pub(super) header: ResponseHeader,
    /// The body so far; the fill is dropped once it outgrows `max_object_bytes`.
    pub(super) body: BytesMut,
}
