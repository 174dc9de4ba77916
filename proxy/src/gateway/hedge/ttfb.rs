//! A group's recent time to first response head, for the adaptive hedge delay: a
//! log-scale histogram over the current and the previous 10 s window, so the p95 follows
//! the fleet within seconds and one quiet moment does not forget it.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Buckets in one window; bucket `i` holds samples up to `FLOOR_MICROS × GROWTH^i`.
const BUCKETS: usize = 64;
/// The first bucket's upper bound, in microseconds.
const FLOOR_MICROS: f64 = 100.0;
/// Each bucket's bound is this times the previous one's (25% resolution).
const GROWTH: f64 = 1.25;
/// How long one window collects before it becomes the previous one.
const WINDOW: Duration = Duration::from_secs(10);
/// Fewer samples than this in both windows give no estimate.
pub(super) const MIN_SAMPLES: u64 = 20;

/// Time-to-first-byte samples of one upstream group.
#[derive(Debug, Default)]
pub(crate) struct Ttfb {
    windows: Mutex<Windows>,
}

#[derive(Debug)]
struct Windows {
    current: [u64; BUCKETS],
    previous: [u64; BUCKETS],
    started: Option<Instant>,
}

impl Default for Windows {
    fn default() -> Self {
        Self {
            current: [0; BUCKETS],
            previous: [0; BUCKETS],
            started: None,
        }
    }
}

impl Windows {
    /// Moves the windows on to `now`: one window old becomes previous, older is dropped.
    fn roll(&mut self, now: Instant) {
        let started = *self.started.get_or_insert(now);
        let age = now.saturating_duration_since(started);
        if age < WINDOW {
            return;
        }
        self.previous = if age < WINDOW * 2 {
            self.current
        } else {
            [0; BUCKETS]
        };
        self.current = [0; BUCKETS];
        self.started = Some(now);
    }
}

impl Ttfb {
    /// Records one attempt's time from sending to its response head.
    pub(crate) fn record(&self, sample: Duration, now: Instant) {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        windows.roll(now);
        windows.current[bucket(sample)] += 1;
    }

    /// The p95 over both windows (an upper bound, to the bucket's resolution), or `None`
    /// with fewer than [`MIN_SAMPLES`] samples.
    pub(crate) fn p95(&self, now: Instant) -> Option<Duration> {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        windows.roll(now);
        let counts: Vec<u64> = windows
            .current
            .iter()
            .zip(windows.previous.iter())
            .map(|(a, b)| a + b)
            .collect();
        quantile(&counts, 0.95)
    }
}

/// The bucket a sample falls in.
pub(super) fn bucket(sample: Duration) -> usize {
    let micros = sample.as_secs_f64() * 1e6;
    if micros <= FLOOR_MICROS {
        return 0;
    }
    let index = (micros / FLOOR_MICROS).ln() / GROWTH.ln();
    (index.ceil() as usize).min(BUCKETS - 1)
}

/// A bucket's upper bound.
pub(super) fn upper_bound(bucket: usize) -> Duration {
    Duration::from_secs_f64(FLOOR_MICROS * GROWTH.powi(bucket as i32) / 1e6)
}

/// The upper bound of the bucket holding quantile `q` of `counts`.
fn quantile(counts: &[u64], q: f64) -> Option<Duration> {
    let total: u64 = counts.iter().sum();
    if total < MIN_SAMPLES {
        return None;
    }
    let rank = ((total as f64) * q).ceil() as u64;
    let mut seen = 0;
    for (index, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return Some(upper_bound(index));
        }
    }
    counts.len().checked_sub(1).map(upper_bound)
}
