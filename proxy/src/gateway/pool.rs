//! Pooled connections to backends that the backend may close: keep each one pooled for
//! less than the backend keeps it open, and retry on a fresh connection when a reused one
//! turns out to have been closed under the request.
//!
//! A backend closes an idle keep-alive connection after its own timeout (Node and uvicorn:
//! 5 s). A request sent on such a connection just as the backend closes it fails with
//! `ConnectionClosed … bytes already read: 0` although the backend never saw it. So:
//! - the pool keeps a connection at most `upstream_idle_ms` (default 4 s, under 5 s), and
//!   less when the backend says `Keep-Alive: timeout=N` ([`pool_idle`]);
//! - an attempt that fails that way on a reused connection is sent again on a new one
//!   ([`closed_under_us`]), to the same backend if it is the only one: always for an
//!   idempotent request without a body, and for any other only when the request provably
//!   did not reach the backend ([`never_reached`]: the write itself failed).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use pingora::http::ResponseHeader;
use pingora::{Error, ErrorType};

/// Each backend's advertised keep-alive timeout, learned from its responses.
#[derive(Debug, Default)]
pub(super) struct KeepAliveHints {
    advertised: RwLock<HashMap<SocketAddr, Duration>>,
}

impl KeepAliveHints {
    /// Notes the `Keep-Alive: timeout=N` of a response from `addr`, if it has one.
    pub(super) fn observe(&self, addr: SocketAddr, response: &ResponseHeader) {
        let advertised = response
            .headers
            .get("keep-alive")
            .and_then(|v| v.to_str().ok())
            .and_then(keep_alive_timeout);
        let Some(advertised) = advertised else {
            return;
        };
        let known = self
            .advertised
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&addr)
            .copied();
        if known != Some(advertised) {
            self.advertised
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(addr, advertised);
        }
    }

    /// How long a connection to `addr` may stay pooled.
    pub(super) fn idle_for(&self, addr: SocketAddr, configured: Duration) -> Duration {
        let advertised = self
            .advertised
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&addr)
            .copied();
        pool_idle(configured, advertised)
    }
}

/// The `timeout=N` (seconds) of a `Keep-Alive` field value such as `timeout=5, max=1000`.
pub(super) fn keep_alive_timeout(value: &str) -> Option<Duration> {
    value.split(',').find_map(|part| {
        let (key, seconds) = part.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("timeout") {
            return None;
        }
        seconds.trim().parse::<u64>().ok().map(Duration::from_secs)
    })
}

/// The pool's idle limit for a backend: the configured one, but at most three quarters of
/// what the backend advertises (its timer starts before the proxy's, and a request in
/// flight when it fires is lost). `timeout=0` means the backend keeps nothing.
pub(super) fn pool_idle(configured: Duration, advertised: Option<Duration>) -> Duration {
    match advertised {
        Some(advertised) => configured.min(advertised * 3 / 4),
        None => configured,
    }
}

/// Whether an attempt on a reused connection failed as a connection the backend had
/// already closed fails: closed, reset or refused to write before any response byte. A
/// timeout is not that: the backend holds the connection but does not answer.
pub(super) fn closed_under_us(error: &Error) -> bool {
    matches!(
        error.etype(),
        ErrorType::ConnectionClosed | ErrorType::ReadError | ErrorType::WriteError
    )
}

/// Whether the request provably never reached the backend: writing it failed, so the
/// backend had closed the connection before the request was fully written. Only then may a
/// request that is not idempotent, or has a body, go again.
pub(super) fn never_reached(error: &Error) -> bool {
    matches!(error.etype(), ErrorType::WriteError)
}

/// A connection-pool group no pooled connection belongs to, so the next attempt dials.
pub(super) fn fresh_group_key() -> u64 {
    rand::random::<u64>() | 1
}

#[cfg(test)]
mod tests;
