//! The retry policy, as pure functions over what the gateway knows about a failed attempt:
//! what the failure says about the backend, whether the request may go again, and within
//! which limits. Pingora's one-attempt path (`fail_to_connect`, `error_while_proxy`) and
//! the raced path ([`super::hedge`]) decide with these; the phases only gather the facts.
//!
//! The rules (the README's "How it fails" promises):
//! - a connect failure is retried on another backend for any method, since nothing was
//!   sent ([`CONNECT`]), up to the group's `max_attempts` and only while the retry budget
//!   allows ([`within_limits`]);
//! - a connection that broke or timed out before any response byte is retried once
//!   elsewhere ([`retryable`]), and only for an idempotent request without a body
//!   ([`replayable`], [`after_exchange`]);
//! - nothing is retried once a response has started or a body has reached a backend;
//! - a pooled connection the backend had just closed does not count: the attempt goes
//!   again on a fresh connection, for a request whose body provably never left
//!   ([`on_fresh_connection`], [`super::pool`]).

use http::Method;
use pingora::{Error, ErrorType};

use super::pool;
use crate::upstreams::Outcome;

/// The `proxy_retries_total` reason of a retry after a connect failure.
pub(super) const CONNECT: &str = "connect";

// === outcomes ===

/// What a failed connect says about the backend: it did not answer in time, or it could
/// not be reached at all.
pub(super) fn connect_outcome(error: &Error) -> Outcome {
    match error.etype() {
        ErrorType::ConnectTimedout => Outcome::Timeout,
        _ => Outcome::ConnectFailed,
    }
}

/// What an exchange that failed before its response head says about the backend: it went
/// quiet (a read or write timed out), or the connection broke.
pub(super) fn exchange_outcome(error: &Error) -> Outcome {
    match error.etype() {
        ErrorType::ReadTimedout | ErrorType::WriteTimedout => Outcome::Timeout,
        _ => Outcome::Broken,
    }
}

/// The verdict on a request's last attempt when the request ends: `status` is the
/// backend's response status if its head arrived, `backend_failed` whether the request
/// failed on the backend's side (not the client's, and not answered by the cache).
/// `None`: the client hung up first, which says nothing about the backend; blaming it
/// would eject healthy backends whenever clients leave.
pub(super) fn final_outcome(status: Option<u16>, backend_failed: bool) -> Option<Outcome> {
    match status {
        _ if backend_failed => Some(Outcome::Broken),
        Some(status) => Some(Outcome::from_status(status)),
        None => None,
    }
}

// === what may go again ===

/// Whether a request may be sent again once it may have reached a backend: an idempotent
/// method without a body. A `POST` that reached an instance is never sent twice.
pub(super) fn replayable(method: &Method, has_body: bool) -> bool {
    method.is_idempotent() && !has_body
}

/// The retry an attempt's failure earns, as the `proxy_retries_total` reason: a connect
/// failure always, a timeout or a break once per request (`broken_retries` so far); a 5xx
/// or a success none. For a timeout or a break the caller has made sure that the request
/// is [`replayable`].
pub(super) fn retryable(outcome: Outcome, broken_retries: u32) -> Option<&'static str> {
    match outcome {
        Outcome::ConnectFailed => Some(CONNECT),
        Outcome::Timeout if broken_retries == 0 => Some("timeout"),
        Outcome::Broken if broken_retries == 0 => Some("broken"),
        _ => None,
    }
}

/// Whether another attempt fits: fewer than `max_attempts` so far (the first attempt,
/// retries and hedges all count), then the retry budget. `budget` is asked last, so an
/// attempt the limit refuses never spends budget.
pub(super) fn within_limits(
    attempts: usize,
    max_attempts: usize,
    budget: impl FnOnce() -> bool,
) -> bool {
    attempts < max_attempts && budget()
}

// === Pingora's path ===

/// Where a failed exchange on Pingora's one-attempt path stood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Failed {
    /// The failure was on the backend's side of the exchange, not the client's.
    pub(super) by_backend: bool,
    /// A response had begun: the backend's head arrived, or the client got one.
    pub(super) responded: bool,
    /// The request may be sent again ([`replayable`]).
    pub(super) replayable: bool,
    /// Part of the request body is no longer in Pingora's retry buffer, so the request
    /// cannot be sent again whole.
    pub(super) body_truncated: bool,
    /// The attempt went on a pooled connection.
    pub(super) reused: bool,
}

/// After a failed exchange (`outcome`, from [`exchange_outcome`]): the reason it goes again
/// elsewhere, within the limits, or `None`. Only a replayable request the backend failed
/// before any response, once.
pub(super) fn after_exchange(
    failed: Failed,
    outcome: Outcome,
    broken_retries: u32,
) -> Option<&'static str> {
    let safe =
        failed.by_backend && !failed.responded && failed.replayable && !failed.body_truncated;
    safe.then(|| retryable(outcome, broken_retries)).flatten()
}

/// Whether a failure on a reused pooled connection goes again at once on a fresh
/// connection, outside the limits and without a verdict on the backend: the backend had
/// closed the connection under the request ([`pool::closed_under_us`]) before any
/// response, this happened for the first time (`stale_retries`), and the request is
/// replayable or provably never reached the backend ([`pool::never_reached`]) with its
/// body all still buffered.
pub(super) fn on_fresh_connection(failed: Failed, error: &Error, stale_retries: u32) -> bool {
    failed.reused
        && failed.by_backend
        && !failed.responded
        && stale_retries == 0
        && pool::closed_under_us(error)
        && (failed.replayable || (pool::never_reached(error) && !failed.body_truncated))
}

#[cfg(test)]
mod tests;
