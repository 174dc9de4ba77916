//! Hedged requests and re-dispatch: the gateway runs the attempts of an idempotent request
//! without a body itself, so more than one can be in flight, instead of handing Pingora one
//! backend at a time. Only `GET` and `HEAD` are hedged ([`hedges`]); every request taken is
//! re-dispatched when its backend goes down.
//!
//! Pingora's `ProxyHttp` drives exactly one upstream attempt per `upstream_peer` call and
//! waits for it, so a hedge cannot be expressed through its phases. For a request this
//! module takes ([`takes`]), `request_filter` calls [`race::forward`]: it builds the
//! upstream request once (through the gateway's own `upstream_request_filter`), sends it to
//! one backend over the gateway's connector, and then, while no response head has come:
//! - after the hedge delay ([`delay`]), sends it to a second backend too, if it is hedged
//!   and the group's `max_attempts` and retry budget allow ([`hedge_due`]);
//! - when the backend of an attempt stops serving (the active checks took it down, or it
//!   answered that it is draining), cancels that attempt and re-dispatches it elsewhere at
//!   once ([`on_stopped`]);
//! - when an attempt fails, retries it as the Pingora path would ([`after_failure`]).
//!
//! The first response head wins. Every other attempt is dropped with its connection (never
//! returned to the pool). The winner is streamed to the client by [`deliver`] through the
//! gateway's own response phases (`upstream_response_filter`, `response_filter`,
//! `upstream_response_body_filter`), so the cache, the forwarding headers, the draining
//! mark and the metrics behave exactly as on the Pingora path; `logging` then runs as usual.
//!
//! The adaptive delay is twice the group's recent p95 time to first response head
//! ([`ttfb::Ttfb`]), clamped to `[hedge_min_ms, hedge_max_ms]`, like Envoy's hedge policy
//! with a per-try timeout taken from observed latency rather than a fixed number.

mod deliver;
mod race;
mod ttfb;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::Method;

pub(super) use race::forward;

use super::retry;
use crate::config::upstream::RetryConfig;
use crate::upstreams::Outcome;

/// The gateway's hedging state: one time-to-first-byte window per upstream group.
#[derive(Debug, Default)]
pub(super) struct Hedging {
    groups: Mutex<HashMap<Arc<str>, Arc<ttfb::Ttfb>>>,
}

impl Hedging {
    /// The window of `upstream`, created on first use.
    fn ttfb(&self, upstream: &str) -> Arc<ttfb::Ttfb> {
        let mut groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(window) = groups.get(upstream) {
            return window.clone();
        }
        let window = Arc::new(ttfb::Ttfb::default());
        groups.insert(Arc::from(upstream), window.clone());
        window
    }
}

// === decisions ===

/// What the request looks like, as far as racing it is concerned.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape<'a> {
    pub(super) method: &'a Method,
    pub(super) has_body: bool,
    /// An event stream or an upgrade: lives as long as the client keeps it.
    pub(super) streaming: bool,
}

/// Whether this module runs the request's attempts: an idempotent request without a body
/// that is not a stream, so it can be re-dispatched when its backend goes down, hedging
/// on or off. Anything else takes the Pingora path, one attempt at a time. A body is never
/// re-sent, and a stream is never duplicated.
pub(super) fn takes(shape: Shape<'_>) -> bool {
    shape.method.is_idempotent() && !shape.has_body && !shape.streaming
}

/// Whether a request this module takes may also be hedged: a `GET` or `HEAD` on a route or
/// group with hedging on (`hedge_on`, resolved by the router).
pub(super) fn hedges(method: &Method, hedge_on: bool) -> bool {
    hedge_on && (method == Method::GET || method == Method::HEAD)
}

/// How long the first attempt may go without a response head before a hedge is sent:
/// `hedge_after_ms` when set; else twice the recent p95, clamped to
/// `[hedge_min_ms, hedge_max_ms]`; `hedge_max_ms` while there are too few samples.
pub(super) fn delay(retry: &RetryConfig, p95: Option<Duration>) -> Duration {
    if let Some(fixed) = retry.hedge_after_ms {
        return Duration::from_millis(fixed);
    }
    let min = Duration::from_millis(retry.hedge_min_ms);
    let max = Duration::from_millis(retry.hedge_max_ms);
    match p95 {
        Some(p95) => (p95 * 2).clamp(min, max.max(min)),
        None => max,
    }
}

/// What to do when the hedge delay has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hedge {
    /// Send the request to another backend as well.
    Send,
    /// Do not: `max_attempts` is reached, or the retry budget is spent.
    Skip,
}

/// The hedge decision: within `max_attempts` (hedges are attempts), then the retry budget
/// ([`retry::within_limits`], so a refused hedge never spends budget).
pub(super) fn hedge_due(
    attempts: usize,
    max_attempts: usize,
    budget: impl FnOnce() -> bool,
) -> Hedge {
    if retry::within_limits(attempts, max_attempts, budget) {
        Hedge::Send
    } else {
        Hedge::Skip
    }
}

/// What to do after an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Another attempt is still in flight: wait for it.
    Wait,
    /// Start another attempt; the reason is the `proxy_retries_total` label.
    Retry(&'static str),
    /// Fail the request with this attempt's error.
    GiveUp,
}

/// The retry rules of the Pingora path ([`retry`]), for requests that are all idempotent
/// and bodiless: a connect failure is retried; a broken or timed-out attempt once; all
/// within `max_attempts` and the retry budget (`budget`, asked last).
pub(super) fn after_failure(
    outcome: Outcome,
    in_flight: usize,
    attempts: usize,
    max_attempts: usize,
    broken_retries: u32,
    budget: impl FnOnce() -> bool,
) -> Next {
    if in_flight > 0 {
        return Next::Wait;
    }
    match retry::retryable(outcome, broken_retries) {
        Some(reason) if retry::within_limits(attempts, max_attempts, budget) => Next::Retry(reason),
        _ => Next::GiveUp,
    }
}

/// What to do when an attempt's backend stopped serving before its response head came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OnStopped {
    /// Cancel it; another attempt is in flight.
    Cancel,
    /// Cancel it and send the request elsewhere now.
    Redispatch,
    /// Keep waiting on it: no other attempt may be made.
    Keep,
}

/// Re-dispatch decision. It does not draw on the retry budget: it happens once per backend
/// that goes down, for the requests on it, which the budget exists to bound anyway.
pub(super) fn on_stopped(
    others_in_flight: usize,
    attempts: usize,
    max_attempts: usize,
    another_backend: impl FnOnce() -> bool,
) -> OnStopped {
    if others_in_flight > 0 {
        OnStopped::Cancel
    } else if attempts < max_attempts && another_backend() {
        OnStopped::Redispatch
    } else {
        OnStopped::Keep
    }
}

#[cfg(test)]
mod tests;
