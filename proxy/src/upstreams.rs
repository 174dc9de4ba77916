//! Upstream groups: which backends exist, which may take a request, and which one does.
//!
//! The gateway asks an [`Upstream`] for a [`Selection`] per attempt, reports the attempt's
//! [`Outcome`] on it, and asks [`Upstream::try_acquire_retry`] before retrying. A background
//! task ([`Upstream::run`]) runs the active health checks and DNS refresh.
//!
//! # Semantics
//!
//! - **Eligible** = healthy by the active checks (or checks turned off), not ejected, and
//!   not draining.
//!   Selection only ever returns an eligible backend that this request has not tried yet;
//!   when there is none it returns `None` at once, and the gateway answers 503 with
//!   `Retry-After`. There is no fail-open: an ineligible backend is never picked.
//! - **Active health**: `GET path` per backend on its own timer; `fall` consecutive failures
//!   take it down, `rise` consecutive passes bring it back. The timeout covers connect and
//!   the response head, so a hung backend fails. Members start healthy (as in Pingora and
//!   nginx) so a fresh start serves at once; a dead one is caught by passive ejection on its
//!   first refused connection and by the checks within `interval × fall`.
//! - **Passive ejection**: `failures_to_eject` consecutive failed attempts (connect failure,
//!   timeout, broken connection, or 5xx when `eject_on_5xx`) eject a backend for
//!   `base_ejection_ms × 2^(n-1)`, capped at `max_ejection_ms`, where n counts ejections in a
//!   row. Any other outcome resets the failure count. The streak starts over once a backend
//!   has stayed un-ejected for `max_ejection_ms` after its last ejection ended. Failures that
//!   arrive while already ejected (requests that were in flight) are ignored. Ejection ends
//!   by time alone; active checks and ejection are independent.
//! - **Slow start** (`slow_start_ms` > 0): a backend readmitted by the checks, returning
//!   from ejection, or added to a running group ramps from 10% to 100% of its weight
//!   linearly. Members present at construction start at full weight. Consistent hashing
//!   ignores slow start (it would break key affinity).
//! - **Round robin** is exact over the candidates (eligible, untried): 300 picks over 3 give
//!   100 each; a skipped backend never shifts the others' turns. When weights differ, or a
//!   member ramps up (slow start), the pick goes through the smooth algorithm with weight ×
//!   ramp factor, as nginx's default round robin honours weights.
//! - **Weighted round robin** is nginx's smooth algorithm (5,1,1 → `a a b a c a a`).
//! - **Least outstanding**: two distinct random candidates; the one with fewer in-flight
//!   requests per unit of weight wins, ties to the first drawn.
//! - **Consistent hash**: a ring with 64 points per unit of weight, keyed by the address, so
//!   removing a backend remaps only its own keys; the walk skips ineligible and tried
//!   members. Without a key (header or cookie absent) it falls back to round robin.
//! - **Reconfigure**: members are keyed by address. Unchanged addresses keep their health,
//!   ejection, counters and in-flight count; removed ones get no new picks, while their
//!   outstanding selections finish normally; added ones start healthy (slow start applies).
//!   A DNS group keeps its current members until the new name has been resolved.
//! - **DNS**: resolved once on construction (blocking, like Pingora's static list), then
//!   every `refresh_interval_ms` by [`Upstream::run`]. An empty or failed answer keeps the
//!   last good set and logs a WARN.
//! - **Draining**: a backend that answers with the app's draining header
//!   ([`shared::shutdown::DRAINING_HEADER`]) takes no new requests from that moment, until
//!   an active check fails and a later one passes (a new process on the address) or the
//!   hold passes. [`Selection::stopped_serving`] wakes the attempts still waiting on a
//!   backend that went down or started draining, so the gateway can re-dispatch them.
//! - **Retry budget**: every [`Upstream::select`] with an empty `tried` list counts as one
//!   request. Over a sliding 10 s window (one-second buckets), allowed retries =
//!   max(`budget_ratio` × requests, `budget_min_retries_per_sec` × 10).

mod backend;
mod budget;
mod discovery;
mod health;
mod select;
mod traffic;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use self::backend::Backend;
pub(crate) use self::backend::{iso8601, unix_ms};
use self::budget::RetryBudget;
use self::select::{Candidate, Selector};
pub use self::traffic::{LATENCY_BUCKETS, TrafficCounts};
pub use crate::config::upstream::HashKey;
use crate::config::upstream::{DnsConfig, UpstreamConfig};

/// One named group of interchangeable backends; shared (`Arc`) by the gateway, the admin
/// listener and its own background task.
pub struct Upstream {
    name: Arc<str>,
    members: ArcSwap<Members>,
    budget: RetryBudget,
    /// Wakes the background task when membership or configuration changed.
    changed: Notify,
    /// Serializes writers (reload and DNS) so neither loses the other's update.
    writer: Mutex<()>,
}

/// One immutable membership: what `select` reads without locking.
struct Members {
    config: Arc<UpstreamConfig>,
    backends: Vec<Arc<Backend>>,
    selector: Selector,
}

/// One attempt's backend. Holding it counts as one request in flight on that backend.
pub struct Selection {
    backend: Arc<Backend>,
    /// The membership it was chosen from, for the ejection cap.
    members: Arc<Members>,
    upstream: Arc<str>,
    /// When it was handed out, for the attempt's latency.
    started: Instant,
}

/// How an attempt went, as far as passive ejection is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A response that is not a 5xx.
    Success,
    /// The connection could not be made (refused, unreachable).
    ConnectFailed,
    /// The backend did not answer in time.
    Timeout,
    /// The connection was reset or closed before a response.
    Broken,
    /// A response status; a 5xx counts as a failure when `eject_on_5xx`.
    Status(u16),
}

impl Outcome {
    /// How an attempt the backend answered with `status` went: a 5xx (or anything above,
    /// which no backend should send) is [`Outcome::Status`], anything else a success. The
    /// one rule for the gateway's attempts and for background cache refreshes alike.
    pub fn from_status(status: u16) -> Self {
        if status >= 500 {
            Self::Status(status)
        } else {
            Self::Success
        }
    }

    /// A failure that may be the proxy's or the load's fault as much as the backend's.
    fn is_ambiguous(self) -> bool {
        match self {
            Self::Timeout | Self::Broken => true,
            Self::Status(status) => status >= 500,
            Self::Success | Self::ConnectFailed => false,
        }
    }
}

/// A backend as `/status`, `/sd` and the metrics report it.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct BackendStatus {
    /// The backend's address.
    pub addr: SocketAddr,
    /// Its configured weight.
    pub weight: u32,
    /// The active checks' verdict (always true with checks off).
    pub healthy: bool,
    /// Whether passive ejection has it out right now.
    pub ejected: bool,
    /// Whether it takes no new requests because it is draining: it answered with the
    /// app's draining header, or an operator drained it.
    pub draining: bool,
    /// Whether an operator drained it (until undrained).
    pub operator_drain: bool,
    /// Whether it is ramping up after joining or coming back (slow start).
    pub slow_starting: bool,
    /// Whether it may take requests: healthy, not ejected and not draining.
    pub eligible: bool,
    /// Requests on it right now.
    pub inflight: u64,
    /// When the last active check finished, in Unix milliseconds.
    pub last_check: Option<u64>,
    /// [`Self::last_check`] in ISO 8601 (UTC).
    pub last_check_at: Option<String>,
    /// Whether the last active check passed.
    pub last_check_ok: Option<bool>,
    /// Why the most recent failed check failed; cleared once the member is healthy again.
    pub last_error: Option<String>,
    /// When the most recent failed check finished, in ISO 8601 (kept after recovery).
    pub last_error_at: Option<String>,
    /// [`Self::last_error_at`] in Unix milliseconds.
    pub last_error_at_ms: Option<u64>,
    /// Time left in the current ejection, in milliseconds.
    pub ejected_for_ms: Option<u64>,
    /// Passed active checks since it joined.
    pub checks_ok_total: u64,
    /// Failed active checks since it joined.
    pub checks_failed_total: u64,
    /// Passive ejections since it joined.
    pub ejections_total: u64,
    /// Attempts sent to it since it joined.
    pub requests_total: u64,
}

impl Upstream {
    /// Builds the group; a DNS group resolves its name once, blocking, before returning.
    pub fn new(name: &str, config: &UpstreamConfig) -> Arc<Self> {
        let members = match &config.dns {
            Some(dns) => match discovery::resolve_blocking(dns) {
                Ok(addrs) if !addrs.is_empty() => addrs.into_iter().map(|a| (a, 1)).collect(),
                Ok(_) => {
                    tracing::warn!(upstream = name, dns = %dns.name, "dns returned no address");
                    Vec::new()
                }
                Err(error) => {
                    tracing::warn!(upstream = name, dns = %dns.name, %error, "dns lookup failed");
                    Vec::new()
                }
            },
            None => config.static_members(),
        };
        let config = Arc::new(config.clone());
        let backends = members
            .into_iter()
            .map(|(addr, weight)| Arc::new(Backend::new(addr, weight, None)))
            .collect();
        Arc::new(Self {
            name: name.into(),
            members: ArcSwap::from_pointee(Members::new(config, backends)),
            budget: RetryBudget::new(Instant::now()),
            changed: Notify::new(),
            writer: Mutex::new(()),
        })
    }

    /// The group's name, for logs and metric labels.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The configuration in force (the latest reload's).
    pub fn config(&self) -> Arc<UpstreamConfig> {
        self.members.load().config.clone()
    }

    /// Picks a backend for one attempt among the eligible members not in `tried`.
    /// `hash_input` is the consistent-hash key, if the request has one: the header or cookie
    /// value's bytes, or the client IP in text form (`10.1.2.3`, no port) so that several
    /// proxies agree. `None` means no
    /// backend may take it: the gateway answers 503 with `Retry-After` at once.
    pub fn select(&self, hash_input: Option<&[u8]>, tried: &[SocketAddr]) -> Option<Selection> {
        self.select_at(hash_input, tried, Instant::now())
    }

    fn select_at(
        &self,
        hash_input: Option<&[u8]>,
        tried: &[SocketAddr],
        now: Instant,
    ) -> Option<Selection> {
        if tried.is_empty() {
            self.budget.record_request(now);
        }
        let members = self.members.load_full();
        let candidates = members.candidates(tried, now);
        if candidates.is_empty() {
            return None;
        }
        let index = members
            .selector
            .pick(&members.backends, &candidates, hash_input)?;
        let backend = members.backends.get(index)?.clone();
        backend.begin_request();
        Some(Selection {
            backend,
            members,
            upstream: self.name.clone(),
            started: now,
        })
    }

    /// What the consistent-hash key is taken from, if this group hashes.
    pub fn hash_key(&self) -> Option<HashKey> {
        self.members.load().config.hash_key.clone()
    }

    /// Total attempts allowed for one request, the first included.
    pub fn max_attempts(&self) -> usize {
        self.members.load().config.retry.max_attempts.max(1) as usize
    }

    /// Asks the retry budget for one retry; false means the budget is spent and the request
    /// should fail instead of being retried.
    pub fn try_acquire_retry(&self) -> bool {
        let config = self.config();
        self.budget.try_acquire(
            Instant::now(),
            config.retry.budget_ratio,
            config.retry.budget_min_retries_per_sec,
        )
    }

    /// Applies a reloaded configuration: members, weights, health settings and policy.
    /// Unchanged addresses keep their state; see the module docs. `config` is expected to
    /// have passed [`UpstreamConfig::validate`]; invalid static entries are skipped.
    pub fn reconfigure(&self, config: &UpstreamConfig) {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let old = self.members.load_full();
        let members = match &config.dns {
            // Keep the current set until the (possibly new) name has been resolved.
            Some(_) => old.backends.iter().map(|b| (b.addr, 1)).collect(),
            None => config.static_members(),
        };
        self.install(&old, Arc::new(config.clone()), members, Instant::now());
    }

    /// The current members' state.
    pub fn snapshot(&self) -> Vec<BackendStatus> {
        let members = self.members.load();
        let now = Instant::now();
        let checks_on = members.config.health.enabled;
        let slow_start = Duration::from_millis(members.config.slow_start_ms);
        members
            .backends
            .iter()
            .map(|b| BackendStatus {
                slow_starting: b
                    .eligibility(now, checks_on, slow_start)
                    .is_some_and(|factor| factor < 1.0),
                ..b.status(now, checks_on)
            })
            .collect()
    }

    /// Every current member's traffic counters, for the admin page's history.
    pub fn traffic(&self) -> Vec<(SocketAddr, TrafficCounts)> {
        self.members
            .load()
            .backends
            .iter()
            .map(|b| (b.addr, b.traffic()))
            .collect()
    }

    /// Drains the member at `addr` (`drain`: no new requests, the ones in flight finish)
    /// or puts it back. `None` when no member has that address; otherwise whether this
    /// changed anything. The mark belongs to the member, so it survives reloads that keep
    /// the address.
    pub fn set_operator_drain(&self, addr: SocketAddr, drain: bool) -> Option<bool> {
        let members = self.members.load();
        let backend = members.backends.iter().find(|b| b.addr == addr)?;
        let changed = backend.set_operator_drain(drain);
        if changed {
            tracing::info!(upstream = %self.name, backend = %addr,
                "{}", if drain { "backend drained by operator; no new requests" }
                    else { "backend undrained by operator" });
        }
        Some(changed)
    }

    /// How many members may take a request right now.
    pub fn eligible_count(&self) -> usize {
        self.members.load().candidates(&[], Instant::now()).len()
    }

    /// Runs the active health checks (each member on its own timer) and DNS refresh until
    /// `shutdown` is cancelled. Health changes are logged at INFO.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        health::supervise(self, shutdown).await;
    }

    /// Swaps in a new membership built from `members`, reusing the state of known addresses.
    fn install(
        &self,
        old: &Members,
        config: Arc<UpstreamConfig>,
        members: Vec<(SocketAddr, u32)>,
        now: Instant,
    ) {
        let backends = members
            .into_iter()
            .map(
                |(addr, weight)| match old.backends.iter().find(|b| b.addr == addr) {
                    Some(known) => {
                        known.set_weight(weight);
                        known.clone()
                    }
                    None => Arc::new(Backend::new(addr, weight, Some(now))),
                },
            )
            .collect();
        self.members.store(Arc::new(Members::new(config, backends)));
        self.changed.notify_one();
    }

    /// Takes a DNS answer for `dns`. Returns whether membership changed. An empty or failed
    /// answer, or one for a name no longer configured, changes nothing.
    fn apply_discovery(&self, dns: &DnsConfig, answer: Result<Vec<SocketAddr>, String>) -> bool {
        let mut addrs = match answer {
            Ok(addrs) if !addrs.is_empty() => addrs,
            Ok(_) => {
                tracing::warn!(upstream = %self.name, dns = %dns.name,
                    "dns returned no address; keeping the last good set");
                return false;
            }
            Err(error) => {
                tracing::warn!(upstream = %self.name, dns = %dns.name, %error,
                    "dns lookup failed; keeping the last good set");
                return false;
            }
        };
        addrs.sort_unstable();
        addrs.dedup();
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let old = self.members.load_full();
        if old.config.dns.as_ref() != Some(dns) {
            return false;
        }
        let mut current: Vec<SocketAddr> = old.backends.iter().map(|b| b.addr).collect();
        current.sort_unstable();
        if current == addrs {
            return false;
        }
        tracing::info!(upstream = %self.name, dns = %dns.name, ?addrs, "dns members changed");
        let members = addrs.into_iter().map(|a| (a, 1)).collect();
        self.install(&old, old.config.clone(), members, Instant::now());
        true
    }
}

impl Members {
    fn new(config: Arc<UpstreamConfig>, backends: Vec<Arc<Backend>>) -> Self {
        let selector = Selector::build(config.balance, &backends);
        Self {
            config,
            backends,
            selector,
        }
    }

    /// Whether one more member may be ejected on an ambiguous failure: at least half of
    /// the group must stay eligible. A timeout, a broken connection or a 5xx can come from
    /// the proxy's side (a stalled machine times out every backend at once) or from
    /// overload, and ejecting every member on such evidence would turn a blip into 503s
    /// for everyone. A refused connection is unambiguous and is never capped.
    fn can_spare_one(&self, now: Instant) -> bool {
        let eligible = self.candidates(&[], now).len();
        eligible.saturating_sub(1) * 2 >= self.backends.len()
    }

    /// The eligible members not in `tried`, with their slow-start factors.
    fn candidates(&self, tried: &[SocketAddr], now: Instant) -> Vec<Candidate> {
        let checks_on = self.config.health.enabled;
        let slow_start = Duration::from_millis(self.config.slow_start_ms);
        self.backends
            .iter()
            .enumerate()
            .filter(|(_, b)| !tried.contains(&b.addr))
            .filter_map(|(index, b)| {
                let factor = b.eligibility(now, checks_on, slow_start)?;
                Some(Candidate { index, factor })
            })
            .collect()
    }
}

impl Selection {
    /// The backend to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.backend.addr
    }

    /// Records how the attempt went (feeding passive ejection) and releases the in-flight
    /// count. Dropping a selection without calling this releases the count and records
    /// nothing, which is right when the client went away.
    pub fn finish(self, outcome: Outcome) {
        self.finish_at(outcome, Instant::now());
    }

    fn finish_at(self, outcome: Outcome, now: Instant) {
        self.backend
            .traffic
            .record(outcome, now.saturating_duration_since(self.started));
        // Asked before the backend's own state is locked: it reads every member's.
        let may_eject = !outcome.is_ambiguous() || self.members.can_spare_one(now);
        if let Some(length) =
            self.backend
                .record_outcome(outcome, now, &self.members.config.passive, may_eject)
        {
            tracing::info!(upstream = %self.upstream, backend = %self.backend.addr,
                reason = ?outcome, ejection_ms = length.as_millis() as u64, "backend ejected");
        }
    }
}

impl Selection {
    /// Resolves once this attempt's backend stops taking requests: the active checks took
    /// it down, or it said it is draining. An attempt still waiting for its response head
    /// then goes elsewhere instead of waiting for its timeout.
    pub fn stopped_serving(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let backend = self.backend.clone();
        let checks_on = self.members.config.health.enabled;
        async move { backend.wait_stopped(checks_on).await }
    }

    /// The backend answered with the draining header: no new requests go there for
    /// `hold`, or until it is seen to restart.
    pub fn mark_draining(&self, hold: Duration) {
        if self.backend.mark_draining(Instant::now(), hold) {
            tracing::info!(upstream = %self.upstream, backend = %self.backend.addr,
                "backend draining; no new requests");
        }
    }
}

impl Drop for Selection {
    fn drop(&mut self) {
        self.backend.end_request();
    }
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let members = self.members.load();
        f.debug_struct("Upstream")
            .field("name", &self.name)
            .field("balance", &members.config.balance)
            .field("members", &members.backends.len())
            .finish()
    }
}

impl std::fmt::Debug for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Selection")
            .field("upstream", &self.upstream)
            .field("addr", &self.backend.addr)
            .finish()
    }
}

#[cfg(test)]
mod tests;
