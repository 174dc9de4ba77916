//! The attempts of one raced request: started, hedged, re-dispatched and retried until the
//! first response head arrives; see the parent module.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header;
use pingora::connectors::http::v1::Connector;
use pingora::http::RequestHeader;
use pingora::protocols::http::client::HttpSession;
use pingora::proxy::{ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};

use super::super::{Gateway, RequestCtx, forwarding, pool, retry};
use super::{Hedge, Next, OnStopped, deliver};
use crate::config::Timeouts;
use crate::metrics::{Metrics, outcome_label};
use crate::upstreams::{Outcome, Selection, Upstream};

type AttemptFuture = Pin<Box<dyn Future<Output = Result<Box<Head>, Failure>> + Send>>;
type StopFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A response head that arrived, with the connection it came on.
pub(super) struct Head {
    /// The connection, positioned at the response body.
    pub(super) session: HttpSession,
    /// The peer the connection is pooled under when it is released.
    pub(super) peer: HttpPeer,
    /// From the attempt's start to its response head.
    pub(super) ttfb: Duration,
}

/// Why an attempt ended without a response head.
pub(super) struct Failure {
    outcome: Outcome,
    error: Box<Error>,
}

/// One attempt in flight: its backend, its exchange, and the backend's stop signal.
struct Racer {
    selection: Selection,
    /// Sent as a hedge, not as the first attempt or a retry.
    hedge: bool,
    attempt: AttemptFuture,
    /// Resolves when the backend stops serving; `None` once seen.
    stopped: Option<StopFuture>,
}

enum Event {
    Done(usize, Result<Box<Head>, Failure>),
    Stopped(usize),
    HedgeDue,
    ClientGone(Box<Error>),
}

/// What every attempt of the request shares.
struct Plan {
    upstream: Arc<Upstream>,
    metrics: Arc<Metrics>,
    connector: Arc<Connector>,
    /// Shared by the attempts, each of which writes its own copy.
    request: Arc<RequestHeader>,
    timeouts: Timeouts,
}

/// Runs the request's attempts and streams the winner to the client. `Ok(true)`: the
/// response was sent; an `Err` goes to `fail_to_proxy` like a failed Pingora attempt.
pub(in crate::gateway) async fn forward(
    gateway: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> Result<bool> {
    let Some(upstream) = ctx.upstream.clone() else {
        return Err(Error::explain(ErrorType::HTTPStatus(404), "no route"));
    };
    let mut request = origin_request(session)?;
    gateway
        .upstream_request_filter(session, &mut request, ctx)
        .await?;
    let ttfb = gateway.hedging.ttfb(upstream.name());
    // No hedge timer for a request that is not hedged: it is only re-dispatched.
    let wait = super::hedges(&request.method, ctx.hedge)
        .then(|| super::delay(&upstream.config().retry, ttfb.p95(Instant::now())));
    let plan = Plan {
        upstream,
        metrics: gateway.metrics.clone(),
        connector: gateway.connector.clone(),
        request: Arc::new(request),
        timeouts: ctx.live.timeouts.clone(),
    };
    let won = {
        let client_gone = session.as_downstream_mut().read_body_or_idle(true);
        race(gateway, &plan, ctx, wait, client_gone).await
    };
    let (selection, head) = won?;
    deliver::deliver(gateway, session, ctx, selection, head, &ttfb).await
}

/// The client's request as the backend gets it: HTTP/1.1 with a `Host`, hop-by-hop fields
/// gone; the gateway's `upstream_request_filter` adds the forwarding fields.
fn origin_request(session: &Session) -> Result<RequestHeader> {
    let mut request = session.req_header().clone();
    request.set_version(http::Version::HTTP_11);
    if !request.headers.contains_key(header::HOST) {
        if let Some(authority) = request.uri.authority().map(|a| a.as_str().to_owned()) {
            request.insert_header(header::HOST, authority)?;
        }
    }
    forwarding::strip_hop_by_hop(&mut request);
    Ok(request)
}

async fn race(
    gateway: &Gateway,
    plan: &Plan,
    ctx: &mut RequestCtx,
    wait: Option<Duration>,
    client_gone: impl Future<Output = Result<Option<Bytes>>>,
) -> Result<(Selection, Box<Head>)> {
    tokio::pin!(client_gone);
    let mut watching_client = true;
    let upstream = &plan.upstream;
    let name = upstream.name();
    let max_attempts = upstream.max_attempts();
    let first = ctx.select(upstream).ok_or_else(no_backend)?;
    let mut racers = vec![launch(plan, first, false)];
    // Pingora's timer wheel, not Tokio's: arming a Tokio timer wakes the runtime's driver
    // (an eventfd write and an extra epoll round per request) where this is a map insert.
    // It ticks every 10 ms, so a hedge goes out up to 10 ms after its delay.
    let mut timer = wait.map(|wait| Box::pin(pingora::time::sleep(wait)));
    let mut hedged = false;
    loop {
        let event = poll_fn(|cx| {
            for (index, racer) in racers.iter_mut().enumerate() {
                if let Poll::Ready(result) = racer.attempt.as_mut().poll(cx) {
                    return Poll::Ready(Event::Done(index, result));
                }
                if let Some(stopped) = racer.stopped.as_mut() {
                    if stopped.as_mut().poll(cx).is_ready() {
                        racer.stopped = None;
                        return Poll::Ready(Event::Stopped(index));
                    }
                }
            }
            if let Some(sleep) = timer.as_mut() {
                if sleep.as_mut().poll(cx).is_ready() {
                    timer = None;
                    return Poll::Ready(Event::HedgeDue);
                }
            }
            if watching_client {
                match client_gone.as_mut().poll(cx) {
                    Poll::Ready(Err(error)) => return Poll::Ready(Event::ClientGone(error)),
                    Poll::Ready(Ok(_)) => watching_client = false,
                    Poll::Pending => {}
                }
            }
            Poll::Pending
        })
        .await;
        match event {
            Event::Done(index, Ok(head)) => {
                let winner = racers.swap_remove(index);
                if hedged {
                    let result = if winner.hedge { "won" } else { "lost" };
                    gateway.metrics.hedge(name, result);
                }
                // The others are dropped here, and their connections closed with them.
                return Ok((winner.selection, head));
            }
            Event::Done(index, Err(failure)) => {
                let racer = racers.swap_remove(index);
                let addr = racer.selection.addr().to_string();
                gateway
                    .metrics
                    .attempt(name, &addr, outcome_label(failure.outcome));
                racer.selection.finish(failure.outcome);
                let next = super::after_failure(
                    failure.outcome,
                    racers.len(),
                    ctx.tried.len(),
                    max_attempts,
                    ctx.broken_retries,
                    || upstream.try_acquire_retry(),
                );
                match next {
                    Next::Wait => {}
                    Next::Retry(reason) => {
                        let Some(selection) = ctx.select(upstream) else {
                            // As on Pingora's path: nobody left to try is a 503.
                            return Err(no_backend());
                        };
                        if reason != retry::CONNECT {
                            ctx.broken_retries += 1;
                        }
                        gateway.metrics.retry(name, reason);
                        racers.push(launch(plan, selection, false));
                    }
                    Next::GiveUp => return Err(failure.error),
                }
            }
            Event::Stopped(index) => {
                let mut replacement = None;
                let decision =
                    super::on_stopped(racers.len() - 1, ctx.tried.len(), max_attempts, || {
                        replacement = ctx.select(upstream);
                        replacement.is_some()
                    });
                match (decision, replacement) {
                    (OnStopped::Cancel, _) => drop(racers.swap_remove(index)),
                    (OnStopped::Redispatch, Some(selection)) => {
                        drop(racers.swap_remove(index));
                        gateway.metrics.retry(name, "redispatch");
                        racers.push(launch(plan, selection, false));
                    }
                    _ => {}
                }
            }
            Event::HedgeDue => {
                let due = super::hedge_due(ctx.tried.len(), max_attempts, || {
                    upstream.try_acquire_retry()
                });
                match (due, racers.len()) {
                    (Hedge::Send, 1) => match ctx.select(upstream) {
                        Some(selection) => {
                            gateway.metrics.retry(name, "hedge");
                            racers.push(launch(plan, selection, true));
                            hedged = true;
                        }
                        None => gateway.metrics.hedge(name, "skipped"),
                    },
                    _ => gateway.metrics.hedge(name, "skipped"),
                }
            }
            // The selections are dropped without a verdict: the backends did nothing wrong.
            Event::ClientGone(error) => return Err(error.into_down()),
        }
    }
}

fn no_backend() -> Box<Error> {
    Error::explain(ErrorType::HTTPStatus(503), "no eligible backend")
}

fn launch(plan: &Plan, selection: Selection, hedge: bool) -> Racer {
    let mut peer = HttpPeer::new(selection.addr(), false, String::new());
    peer.options.connection_timeout = Some(plan.timeouts.connect());
    peer.options.total_connection_timeout = Some(plan.timeouts.connect());
    let stale = {
        let (metrics, upstream) = (plan.metrics.clone(), plan.upstream.clone());
        move || metrics.retry(upstream.name(), "stale_connection")
    };
    let attempt = attempt(
        plan.connector.clone(),
        stale,
        peer,
        plan.request.clone(),
        plan.timeouts.response_header(),
    );
    Racer {
        stopped: Some(Box::pin(selection.stopped_serving())),
        selection,
        hedge,
        attempt: Box::pin(attempt),
    }
}

/// One backend: connect (or reuse a pooled connection), send, read the response head. A
/// pooled connection the backend had closed is replaced by a fresh one, once.
async fn attempt(
    connector: Arc<Connector>,
    on_stale: impl Fn() + Send,
    peer: HttpPeer,
    request: Arc<RequestHeader>,
    read_timeout: Duration,
) -> Result<Box<Head>, Failure> {
    let started = Instant::now();
    let mut dial = peer.clone();
    loop {
        let (session, reused) = match connector.reused_http_session(&dial).await {
            Some(session) => (session, true),
            // Connecting is a future of about 9 KiB (TCP, TLS, timeouts): boxed, so that an
            // attempt stays small on the common path, a pooled connection. Every attempt is
            // moved as it is launched, and moving a future copies all of it.
            None => Box::pin(connector.get_http_session(&dial))
                .await
                .map_err(Failure::connect)?,
        };
        let mut session = HttpSession::H1(session);
        session.set_read_timeout(Some(read_timeout));
        session.set_write_timeout(Some(read_timeout));
        match exchange(&mut session, &request).await {
            Ok(()) => {
                return Ok(Box::new(Head {
                    session,
                    peer,
                    ttfb: started.elapsed(),
                }));
            }
            Err(error)
                if reused && dial.group_key == peer.group_key && pool::closed_under_us(&error) =>
            {
                on_stale();
                dial.group_key = pool::fresh_group_key();
            }
            Err(error) => return Err(Failure::exchange(error)),
        }
    }
}

async fn exchange(session: &mut HttpSession, request: &RequestHeader) -> Result<()> {
    session
        .write_request_header(Box::new(request.clone()))
        .await?;
    session.finish_request_body().await?;
    loop {
        session.read_response_header().await?;
        match session.response_header() {
            Some(head) if head.status.is_informational() && head.status != 101 => continue,
            Some(_) => return Ok(()),
            None => {
                return Err(Error::explain(
                    ErrorType::InvalidHTTPHeader,
                    "no response header",
                ));
            }
        }
    }
}

impl Failure {
    fn connect(error: Box<Error>) -> Self {
        Self {
            outcome: retry::connect_outcome(&error),
            error: error.into_up(),
        }
    }

    fn exchange(error: Box<Error>) -> Self {
        Self {
            outcome: retry::exchange_outcome(&error),
            error: error.into_up(),
        }
    }
}
