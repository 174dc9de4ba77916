//! The retry budget: retries may not exceed a fraction of the group's recent traffic, so a
//! failing fleet is not hit with up to `max_attempts` times its load (Envoy's
//! `retry_budget`, Finagle's `RetryBudget`).
//!
//! The window is the last 10 s in one-second buckets. Allowed retries in the window =
//! max(`budget_ratio` × requests in the window, `budget_min_retries_per_sec` × 10).

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// Seconds in the sliding window.
pub(crate) const WINDOW_SECS: u64 = 10;

/// Request and retry counts over the sliding window.
pub(crate) struct RetryBudget {
    epoch: Instant,
    buckets: Mutex<[Bucket; WINDOW_SECS as usize]>,
}

#[derive(Clone, Copy, Default)]
struct Bucket {
    second: u64,
    requests: u64,
    retries: u64,
}

impl RetryBudget {
    pub(crate) fn new(epoch: Instant) -> Self {
        Self {
            epoch,
            buckets: Mutex::new([Bucket::default(); WINDOW_SECS as usize]),
        }
    }

    fn second(&self, now: Instant) -> u64 {
        // Offset by a whole window so the zeroed buckets (second 0) read as expired.
        now.saturating_duration_since(self.epoch).as_secs() + WINDOW_SECS
    }

    /// Counts one fresh request (a first attempt).
    pub(crate) fn record_request(&self, now: Instant) {
        let second = self.second(now);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        current(&mut buckets, second).requests += 1;
    }

    /// Takes one retry from the budget if there is one left in the window.
    pub(crate) fn try_acquire(&self, now: Instant, ratio: f64, min_per_sec: u32) -> bool {
        let second = self.second(now);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let (requests, retries) = buckets
            .iter()
            .filter(|b| second - b.second.min(second) < WINDOW_SECS)
            .fold((0, 0), |(req, ret), b| (req + b.requests, ret + b.retries));
        let by_ratio = (ratio * requests as f64).floor() as u64;
        let floor = u64::from(min_per_sec) * WINDOW_SECS;
        if retries >= by_ratio.max(floor) {
            return false;
        }
        current(&mut buckets, second).retries += 1;
        true
    }
}

/// The bucket for `second`, cleared if it last held an older second.
fn current(buckets: &mut [Bucket; WINDOW_SECS as usize], second: u64) -> &mut Bucket {
    let bucket = &mut buckets[(second % WINDOW_SECS) as usize];
    if bucket.second != second {
        *bucket = Bucket {
            second,
            ..Bucket::default()
        };
    }
    bucket
}

#[cfg(test)]
mod tests;
