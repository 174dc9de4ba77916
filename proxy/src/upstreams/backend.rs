//! One member's state: active health (rise/fall), passive ejection with back-off, slow start,
//! the in-flight count and the cumulative counters `/status` and the metrics read.
//!
//! A member is shared (`Arc`) between the current membership, its health-check task and any
//! outstanding [`super::Selection`], so a member removed by a reload keeps working for the
//! requests already on it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::traffic::{Traffic, TrafficCounts};
use super::{BackendStatus, Outcome};
use crate::config::upstream::PassiveConfig;

/// Where a slow-starting backend's share begins, as a fraction of its weight.
const SLOW_START_FLOOR: f64 = 0.1;

/// A member of an upstream group.
pub(crate) struct Backend {
    pub(crate) addr: SocketAddr,
    weight: AtomicU32,
    pub(crate) inflight: AtomicU64,
    requests_total: AtomicU64,
    checks_ok_total: AtomicU64,
    checks_failed_total: AtomicU64,
    ejections_total: AtomicU64,
    /// Errors and latency of finished attempts, for the admin page.
    pub(crate) traffic: Traffic,
    state: Mutex<State>,
    /// Woken when the member stops taking requests (checks took it down, or it said it is
    /// draining), so attempts in flight to it can go elsewhere at once.
    stopped: tokio::sync::Notify,
}

/// The slowly changing part, behind one short-held lock.
#[derive(Default)]
struct State {
    /// The active checks' verdict; members start healthy so a fresh start serves at once.
    healthy: bool,
    consecutive_ok: u32,
    consecutive_failed: u32,
    last_check: Option<SystemTime>,
    last_check_ok: Option<bool>,
    last_error: Option<String>,
    /// When the most recent failed check finished (kept after recovery).
    last_error_at: Option<SystemTime>,
    /// An operator drained it (admin API or page): no new requests until undrained.
    operator_drain: bool,
    /// Consecutive failed connections (refused, reset, timed out) since the last answer.
    live_failures: u32,
    /// Consecutive 5xx answers since the last other answer.
    consecutive_5xx: u32,
    /// While in the future, the member is ejected; once past, the moment it was readmitted.
    ejected_until: Option<Instant>,
    /// How many ejections in a row, for the back-off; starts over after a quiet period.
    ejection_streak: u32,
    /// When the member last came (back) into service through health or membership.
    ramp_from: Option<Instant>,
    /// While in the future, the member said it is draining and takes no new requests.
    draining_until: Option<Instant>,
    /// An active check failed since the drain mark: the next pass means a new process.
    drain_gap_seen: bool,
}

/// A change of the active verdict, for the log line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HealthChange {
    Up,
    Down(String),
}

impl Backend {
    /// A member that is healthy and not ejected. `ramp_from` starts slow start (for members
    /// added to a running group); `None` serves at full weight at once.
    pub(crate) fn new(addr: SocketAddr, weight: u32, ramp_from: Option<Instant>) -> Self {
        Self {
            addr,
            weight: AtomicU32::new(weight.max(1)),
            inflight: AtomicU64::new(0),
            requests_total: AtomicU64::new(0),
            checks_ok_total: AtomicU64::new(0),
            checks_failed_total: AtomicU64::new(0),
            ejections_total: AtomicU64::new(0),
            traffic: Traffic::default(),
            state: Mutex::new(State {
                healthy: true,
                ramp_from,
                ..State::default()
            }),
            stopped: tokio::sync::Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }

    pub(crate) fn set_weight(&self, weight: u32) {
        self.weight.store(weight.max(1), Ordering::Relaxed);
    }

    pub(crate) fn inflight(&self) -> u64 {
        self.inflight.load(Ordering::Relaxed)
    }

    /// Counts an attempt handed out by selection.
    pub(crate) fn begin_request(&self) {
        self.inflight.fetch_add(1, Ordering::Relaxed);
        self.requests_total.fetch_add(1, Ordering::Relaxed);
    }

    /// Releases the in-flight slot taken by [`Self::begin_request`].
    pub(crate) fn end_request(&self) {
        self.inflight.fetch_sub(1, Ordering::Relaxed);
    }

    /// Eligible = healthy (or checks off) and not ejected. Returns the slow-start factor in
    /// (0, 1] when eligible, `None` when not.
    pub(crate) fn eligibility(
        &self,
        now: Instant,
        checks_on: bool,
        slow_start: Duration,
    ) -> Option<f64> {
        let state = self.state();
        if checks_on && !state.healthy {
            return None;
        }
        if state.ejected_until.is_some_and(|until| now < until) {
            return None;
        }
        if state.operator_drain || state.draining_until.is_some_and(|until| now < until) {
            return None;
        }
        if slow_start.is_zero() {
            return Some(1.0);
        }
        let start = match (state.ramp_from, state.ejected_until) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        Some(start.map_or(1.0, |start| {
            ramp(now.saturating_duration_since(start), slow_start)
        }))
    }

    /// Feeds one live attempt's outcome to passive ejection. Returns the ejection's length
    /// when this outcome ejected the member; with `may_eject` false a failure that would
    /// eject leaves the member in (the group cannot spare it).
    pub(crate) fn record_outcome(
        &self,
        outcome: Outcome,
        now: Instant,
        config: &PassiveConfig,
        may_eject: bool,
    ) -> Option<Duration> {
        let is_5xx = match outcome {
            Outcome::ConnectFailed | Outcome::Timeout | Outcome::Broken => false,
            Outcome::Status(status) if status >= 500 && config.eject_on_5xx => true,
            Outcome::Success | Outcome::Status(_) => {
                let mut state = self.state();
                state.live_failures = 0;
                state.consecutive_5xx = 0;
                return None;
            }
        };
        let mut state = self.state();
        if config.failures_to_eject == 0 || state.ejected_until.is_some_and(|until| now < until) {
            return None;
        }
        let (count, threshold) = if is_5xx {
            // It answered, so its connections work; only the run of 5xx counts.
            state.live_failures = 0;
            state.consecutive_5xx += 1;
            (state.consecutive_5xx, config.consecutive_5xx_to_eject)
        } else {
            state.live_failures += 1;
            (state.live_failures, config.failures_to_eject)
        };
        if count < threshold.max(1) || !may_eject {
            return None;
        }
        state.live_failures = 0;
        state.consecutive_5xx = 0;
        let max = Duration::from_millis(config.max_ejection_ms);
        let repeat = state.ejected_until.is_some_and(|until| now < until + max);
        state.ejection_streak = if repeat { state.ejection_streak + 1 } else { 1 };
        let doublings = (state.ejection_streak - 1).min(20);
        let length =
            Duration::from_millis(config.base_ejection_ms.saturating_mul(1 << doublings)).min(max);
        state.ejected_until = Some(now + length);
        self.ejections_total.fetch_add(1, Ordering::Relaxed);
        Some(length)
    }

    /// Whether a request on this member should go elsewhere now: the checks took it down,
    /// or it is draining. Ejection is not counted: an ejected member may still answer.
    pub(crate) fn stopped_serving(&self, now: Instant, checks_on: bool) -> bool {
        let state = self.state();
        (checks_on && !state.healthy) || state.draining_until.is_some_and(|until| now < until)
    }

    /// Waits until [`Self::stopped_serving`] turns true.
    pub(crate) async fn wait_stopped(&self, checks_on: bool) {
        loop {
            let notified = self.stopped.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.stopped_serving(Instant::now(), checks_on) {
                return;
            }
            notified.await;
        }
    }

    /// The member answered that it is draining: it takes no new requests for `hold`, or
    /// until the checks see it go away and come back (a new process on the same address).
    /// Returns whether this was news.
    pub(crate) fn mark_draining(&self, now: Instant, hold: Duration) -> bool {
        let fresh = {
            let mut state = self.state();
            let fresh = state.draining_until.is_none_or(|until| now >= until);
            state.draining_until = Some(now + hold);
            state.drain_gap_seen = false;
            fresh
        };
        if fresh {
            self.stopped.notify_waiters();
        }
        fresh
    }

    /// Feeds one active check's result. Returns the change of verdict, if any.
    pub(crate) fn record_check(
        &self,
        result: Result<(), String>,
        rise: u32,
        fall: u32,
        now: Instant,
    ) -> Option<HealthChange> {
        let change = {
            let mut state = self.state();
            state.last_check = Some(SystemTime::now());
            state.last_check_ok = Some(result.is_ok());
            if state.draining_until.is_some() {
                match &result {
                    Err(_) => state.drain_gap_seen = true,
                    Ok(()) if state.drain_gap_seen => {
                        state.draining_until = None;
                        state.drain_gap_seen = false;
                    }
                    Ok(()) => {}
                }
            }
            match result {
                Ok(()) => {
                    self.checks_ok_total.fetch_add(1, Ordering::Relaxed);
                    state.consecutive_ok = state.consecutive_ok.saturating_add(1);
                    state.consecutive_failed = 0;
                    let up = !state.healthy && state.consecutive_ok >= rise;
                    if up {
                        state.healthy = true;
                        state.ramp_from = Some(now);
                    }
                    if state.healthy {
                        // Healthy (again): any earlier error is history, kept only as its time.
                        state.last_error = None;
                    }
                    up.then_some(HealthChange::Up)
                }
                Err(reason) => {
                    self.checks_failed_total.fetch_add(1, Ordering::Relaxed);
                    state.consecutive_failed = state.consecutive_failed.saturating_add(1);
                    state.consecutive_ok = 0;
                    state.last_error = Some(reason.clone());
                    state.last_error_at = state.last_check;
                    let down = state.healthy && state.consecutive_failed >= fall;
                    if down {
                        state.healthy = false;
                    }
                    down.then_some(HealthChange::Down(reason))
                }
            }
        };
        if matches!(change, Some(HealthChange::Down(_))) {
            self.stopped.notify_waiters();
        }
        change
    }

    /// An operator drains the member (`drain`) or puts it back (`!drain`): while drained
    /// it gets no new requests and the ones in flight finish where they are. Returns
    /// whether this changed anything.
    pub(crate) fn set_operator_drain(&self, drain: bool) -> bool {
        let mut state = self.state();
        let changed = state.operator_drain != drain;
        state.operator_drain = drain;
        changed
    }

    /// The member's traffic counters now.
    pub(crate) fn traffic(&self) -> TrafficCounts {
        self.traffic
            .counts(self.requests_total.load(Ordering::Relaxed))
    }

    /// The member as `/status` and the metrics see it.
    pub(crate) fn status(&self, now: Instant, checks_on: bool) -> BackendStatus {
        let state = self.state();
        let ejected = state.ejected_until.is_some_and(|until| now < until);
        let draining =
            state.operator_drain || state.draining_until.is_some_and(|until| now < until);
        let healthy = state.healthy || !checks_on;
        BackendStatus {
            addr: self.addr,
            weight: self.weight(),
            healthy,
            ejected,
            draining,
            operator_drain: state.operator_drain,
            slow_starting: false,
            eligible: healthy && !ejected && !draining,
            inflight: self.inflight(),
            last_check: state.last_check.map(unix_ms),
            last_check_at: state.last_check.map(iso8601),
            last_check_ok: state.last_check_ok,
            last_error: state.last_error.clone(),
            last_error_at: state.last_error_at.map(iso8601),
            last_error_at_ms: state.last_error_at.map(unix_ms),
            ejected_for_ms: state
                .ejected_until
                .filter(|_| ejected)
                .map(|until| duration_ms(until.saturating_duration_since(now))),
            checks_ok_total: self.checks_ok_total.load(Ordering::Relaxed),
            checks_failed_total: self.checks_failed_total.load(Ordering::Relaxed),
            ejections_total: self.ejections_total.load(Ordering::Relaxed),
            requests_total: self.requests_total.load(Ordering::Relaxed),
        }
    }
}

/// The slow-start share after `elapsed` of a ramp lasting `length`: 10% rising linearly to
/// 100%.
pub(crate) fn ramp(elapsed: Duration, length: Duration) -> f64 {
    if length.is_zero() || elapsed >= length {
        return 1.0;
    }
    SLOW_START_FLOOR + (1.0 - SLOW_START_FLOOR) * elapsed.as_secs_f64() / length.as_secs_f64()
}

/// `2026-12-02T01:23:45.678Z`: what `/status` shows beside the milliseconds.
pub(crate) fn iso8601(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn unix_ms(time: SystemTime) -> u64 {
    duration_ms(time.duration_since(UNIX_EPOCH).unwrap_or_default())
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
