//! What one member has served, as cumulative counters cheap enough to bump on every
//! attempt: errors and a latency histogram on the shared latency buckets. The admin page's
//! sampler reads them once a second and keeps the differences.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shared::metrics::LATENCY_BUCKETS_SECONDS;

use super::Outcome;

/// Histogram buckets: one per bound in [`LATENCY_BUCKETS_SECONDS`], then the overflow.
pub const LATENCY_BUCKETS: usize = LATENCY_BUCKETS_SECONDS.len() + 1;

/// Cumulative per-member counters, bumped with relaxed atomics.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    errors_total: AtomicU64,
    latency: [AtomicU64; LATENCY_BUCKETS],
}

/// A copy of a member's counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrafficCounts {
    /// Attempts handed to it since it joined.
    pub requests: u64,
    /// Attempts that ended in a failure (connect, timeout, broken, 5xx).
    pub errors: u64,
    /// Finished attempts by latency bucket ([`LATENCY_BUCKETS_SECONDS`], then overflow).
    pub latency: [u64; LATENCY_BUCKETS],
}

impl Default for TrafficCounts {
    fn default() -> Self {
        Self {
            requests: 0,
            errors: 0,
            latency: [0; LATENCY_BUCKETS],
        }
    }
}

impl Traffic {
    /// Counts one finished attempt: its latency to the response head (or to the failure),
    /// and whether it failed.
    pub(crate) fn record(&self, outcome: Outcome, latency: Duration) {
        if is_error(outcome) {
            self.errors_total.fetch_add(1, Ordering::Relaxed);
        }
        let seconds = latency.as_secs_f64();
        let bucket = LATENCY_BUCKETS_SECONDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS - 1);
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now, with `requests` from the member's own count.
    pub(crate) fn counts(&self, requests: u64) -> TrafficCounts {
        TrafficCounts {
            requests,
            errors: self.errors_total.load(Ordering::Relaxed),
            latency: std::array::from_fn(|i| self.latency[i].load(Ordering::Relaxed)),
        }
    }
}

/// Whether an attempt's outcome counts as an error on the page: anything but an answer
/// below 500.
fn is_error(outcome: Outcome) -> bool {
    match outcome {
        Outcome::Success => false,
        Outcome::Status(status) => status >= 500,
        Outcome::ConnectFailed | Outcome::Timeout | Outcome::Broken => true,
    }
}

impl TrafficCounts {
    /// What happened between `earlier` and `self` (counters only grow; a member that was
    /// replaced reads as zero).
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            requests: self.requests.saturating_sub(earlier.requests),
            errors: self.errors.saturating_sub(earlier.errors),
            latency: std::array::from_fn(|i| self.latency[i].saturating_sub(earlier.latency[i])),
        }
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Self) {
        self.requests += other.requests;
        self.errors += other.errors;
        for (mine, theirs) in self.latency.iter_mut().zip(other.latency) {
            *mine += theirs;
        }
    }

    /// The `q` quantile (0..=1) of latency in seconds, interpolated within its bucket as
    /// Prometheus's `histogram_quantile` does; `None` without any finished attempt. The
    /// overflow bucket reports the highest bound.
    pub fn latency_quantile(&self, q: f64) -> Option<f64> {
        let total: u64 = self.latency.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut seen = 0u64;
        for (index, count) in self.latency.iter().enumerate() {
            let below = seen;
            seen += count;
            if (seen as f64) < rank || *count == 0 {
                continue;
            }
            let Some(upper) = LATENCY_BUCKETS_SECONDS.get(index) else {
                return LATENCY_BUCKETS_SECONDS.last().copied();
            };
            let lower = index
                .checked_sub(1)
                .and_then(|i| LATENCY_BUCKETS_SECONDS.get(i))
                .copied()
                .unwrap_or(0.0);
            let within = (rank - below as f64) / *count as f64;
            return Some(lower + (upper - lower) * within.clamp(0.0, 1.0));
        }
        LATENCY_BUCKETS_SECONDS.last().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_failures_and_5xx_only() {
        let traffic = Traffic::default();
        for outcome in [
            Outcome::Success,
            Outcome::Status(404),
            Outcome::Status(503),
            Outcome::ConnectFailed,
            Outcome::Timeout,
            Outcome::Broken,
        ] {
            traffic.record(outcome, Duration::from_millis(3));
        }
        let counts = traffic.counts(6);
        assert_eq!(counts.errors, 4);
        assert_eq!(counts.latency.iter().sum::<u64>(), 6);
    }

    #[test]
    fn quantiles_interpolate_within_the_bucket_and_cap_at_the_top_bound() {
        let traffic = Traffic::default();
        for _ in 0..99 {
            traffic.record(Outcome::Success, Duration::from_micros(100));
        }
        traffic.record(Outcome::Success, Duration::from_secs(3600));
        let counts = traffic.counts(100);
        let first_bound = LATENCY_BUCKETS_SECONDS[0];
        let p50 = counts.latency_quantile(0.5).expect("p50");
        assert!(p50 > 0.0 && p50 <= first_bound, "{p50}");
        let top = *LATENCY_BUCKETS_SECONDS.last().expect("bounds");
        assert_eq!(counts.latency_quantile(1.0), Some(top));
        assert_eq!(TrafficCounts::default().latency_quantile(0.99), None);
    }

    #[test]
    fn since_subtracts_and_add_sums() {
        let traffic = Traffic::default();
        traffic.record(Outcome::Timeout, Duration::from_millis(1));
        let before = traffic.counts(1);
        traffic.record(Outcome::Success, Duration::from_millis(1));
        let after = traffic.counts(2);
        let delta = after.since(&before);
        assert_eq!((delta.requests, delta.errors), (1, 0));
        let mut sum = before;
        sum.add(&delta);
        assert_eq!(sum, after);
        assert_eq!(before.since(&after).requests, 0, "never negative");
    }
}
