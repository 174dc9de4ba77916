//! The attempts of Pingora's one-attempt path: the backend and peer each one goes to
//! (`upstream_peer`), what a response head tells about its backend, each attempt's verdict
//! for passive health, and the retries the rules in [`retry`] grant.

use std::time::Duration;

use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType, Result};

use super::ctx::Answer;
use super::fault::{self, Fault};
use super::{Gateway, RequestCtx, pool, retry, streams};
use crate::metrics::outcome_label;
use crate::upstreams::Outcome;

/// How long a backend that answered with the draining header gets no new requests, unless
/// the checks see it restart sooner: longer than the app's drain period.
const DRAIN_HOLD: Duration = Duration::from_secs(60);

impl Gateway {
    /// `upstream_peer`'s part: a backend this request has not tried, as the peer Pingora
    /// connects to, with the connect, idle and read timeouts; 503 when none is eligible.
    pub(super) fn next_peer(&self, ctx: &mut RequestCtx) -> Result<HttpPeer> {
        let Some(upstream) = ctx.upstream.clone() else {
            return Err(Error::explain(ErrorType::HTTPStatus(404), "no route"));
        };
        if let Some(reason) = ctx.retry_reason.take() {
            self.metrics.retry(upstream.name(), reason);
        }
        // A leftover attempt was already recorded; dropping it only releases it.
        ctx.current = None;
        let selection = ctx
            .select(&upstream)
            .ok_or_else(|| Error::explain(ErrorType::HTTPStatus(503), "no eligible backend"))?;
        let addr = selection.addr();
        ctx.current = Some(selection);

        let mut peer = HttpPeer::new(addr, false, String::new());
        if std::mem::take(&mut ctx.fresh_connection) {
            peer.group_key = pool::fresh_group_key();
        }
        let timeouts = &ctx.live.timeouts;
        peer.options.connection_timeout = Some(timeouts.connect());
        peer.options.total_connection_timeout = Some(timeouts.connect());
        peer.options.idle_timeout = Some(self.keep_alive.idle_for(addr, timeouts.upstream_idle()));
        peer.options.read_timeout = streams::backend_read_timeout(ctx);
        Ok(peer)
    }

    /// `upstream_response_filter`'s part: what the head says about its backend, its
    /// keep-alive timeout and whether it is draining (the header goes no further).
    pub(super) fn observe_backend(&self, response: &mut ResponseHeader, ctx: &RequestCtx) {
        if let Some(addr) = ctx.backend {
            self.keep_alive.observe(addr, response);
        }
        let draining = response
            .remove_header(shared::shutdown::DRAINING_HEADER)
            .is_some();
        if let Some(selection) = ctx.current.as_ref().filter(|_| draining) {
            selection.mark_draining(DRAIN_HOLD);
        }
    }

    /// `fail_to_connect`'s part: the attempt's verdict, then whether it goes elsewhere.
    /// Nothing reached the backend, so any method may.
    pub(super) fn after_connect_failure(&self, error: &Error, ctx: &mut RequestCtx) -> bool {
        self.record_attempt(ctx, retry::connect_outcome(error));
        self.allow_retry(ctx, retry::CONNECT)
    }

    /// `error_while_proxy`'s part: whose fault the failure was, the attempt's verdict, and
    /// whether the request goes again (on a fresh connection, or elsewhere).
    pub(super) fn after_proxy_error(
        &self,
        session: &mut Session,
        error: &Error,
        ctx: &mut RequestCtx,
        client_reused: bool,
    ) -> bool {
        if let Some(fault) = fault::classify(session, error, ctx) {
            ctx.fault = Some(fault);
            match fault {
                Fault::ClientBody => {
                    ctx.abandon_attempt();
                    self.metrics.client_fault("body_idle");
                }
                Fault::BackendSilent => self.record_attempt(ctx, Outcome::Timeout),
            }
            return false;
        }
        if let Answer::Stored(_) = ctx.cache.answer {
            // The cache answers instead; the backend did nothing wrong.
            self.record_attempt(ctx, Outcome::Success);
            return false;
        }
        let failed = retry::Failed {
            by_backend: error.esource() == &ErrorSource::Upstream,
            responded: ctx.upstream_status.is_some() || session.response_written().is_some(),
            replayable: retry::replayable(&session.req_header().method, ctx.has_body),
            body_truncated: session.as_ref().retry_buffer_truncated(),
            reused: client_reused,
        };
        if retry::on_fresh_connection(failed, error, ctx.stale_retries) {
            ctx.retry_on_fresh_connection();
            return true;
        }
        let outcome = retry::exchange_outcome(error);
        if failed.by_backend && ctx.upstream_status.is_none() {
            self.record_attempt(ctx, outcome);
        }
        let retry = retry::after_exchange(failed, outcome, ctx.broken_retries)
            .is_some_and(|reason| self.allow_retry(ctx, reason));
        if retry {
            ctx.broken_retries += 1;
        }
        retry
    }

    /// `logging`'s part: the verdict on the last attempt, unless the client left first.
    pub(super) fn finish_last_attempt(&self, error: Option<&Error>, ctx: &mut RequestCtx) {
        let answered_by_cache = matches!(ctx.cache.answer, Answer::Stored(_));
        let backend_failed = !answered_by_cache
            && ctx.fault.is_none()
            && error.is_some_and(|e| e.esource() == &ErrorSource::Upstream);
        match retry::final_outcome(ctx.upstream_status, backend_failed) {
            Some(outcome) => self.record_attempt(ctx, outcome),
            None => ctx.abandon_attempt(),
        }
    }

    /// Ends the attempt in progress with `outcome`, for passive health and
    /// `proxy_upstream_requests_total`.
    pub(super) fn record_attempt(&self, ctx: &mut RequestCtx, outcome: Outcome) {
        if let Some(addr) = ctx.finish_attempt(outcome) {
            self.metrics.attempt(
                ctx.upstream_name(),
                &addr.to_string(),
                outcome_label(outcome),
            );
        }
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
