//! Descriptive statistics over a column's sorted values (numbers, or datetimes as Unix
//! seconds). See the definitions in the [`analysis`](super) module docs.

use super::hll::HyperLogLog;
use super::model::Histogram;

/// Number of histogram bins.
pub(super) const BINS: usize = 20;

/// The quantile levels reported, in the order of [`Quantiles`](super::model::Quantiles).
pub(super) const LEVELS: [f64; 5] = [0.05, 0.25, 0.5, 0.75, 0.95];

/// Arithmetic mean and sample standard deviation (n - 1; `None` below two values), computed
/// in two passes so the deviation does not suffer cancellation.
pub(super) fn mean_and_std_dev(values: &[f64]) -> Option<(f64, Option<f64>)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std_dev = (values.len() >= 2).then(|| {
        let squares: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
        (squares / (n - 1.0)).sqrt()
    });
    Some((mean, std_dev))
}

/// The `level` quantile of non-empty sorted `values` by linear interpolation between
/// closest ranks (Hyndman & Fan type 7, numpy's default): with `h = (n - 1) * level`,
/// `x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])`.
pub(super) fn quantile(sorted: &[f64], level: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * level;
    let low = h.floor() as usize;
    let Some(&below) = sorted.get(low) else {
        return f64::NAN;
    };
    let Some(&above) = sorted.get(low + 1) else {
        return below;
    };
    // Interpolate from the nearer end, as numpy does, so that e.g. 80 % of the way from 4
    // to 10 is exactly 8.8 and results never overshoot `above`.
    let fraction = h - low as f64;
    if fraction < 0.5 {
        below + fraction * (above - below)
    } else {
        above - (1.0 - fraction) * (above - below)
    }
}

/// [`BINS`] equal-width bins over `[min, max]` of non-empty sorted `values`, the last bin
/// closed. A constant column has all edges equal and every value in the first bin.
pub(super) fn histogram(sorted: &[f64]) -> Histogram {
    let (min, max) = match (sorted.first(), sorted.last()) {
        (Some(&min), Some(&max)) => (min, max),
        _ => (0.0, 0.0),
    };
    // Near the ends of the f64 range `max - min` overflows; interpolating between the ends
    // and scaling both by a half stays finite and gives the same bins.
    let span = max - min;
    let position = |value: f64| {
        if span.is_finite() {
            (value - min) / span
        } else {
            (value / 2.0 - min / 2.0) / (max / 2.0 - min / 2.0)
        }
    };
    let edges = (0..=BINS)
        .map(|i| {
            let t = i as f64 / BINS as f64;
            match i {
                0 => min,
                BINS => max,
                _ if span.is_finite() => min + span * t,
                _ => min * (1.0 - t) + max * t,
            }
        })
        .collect();
    let mut counts = vec![0; BINS];
    for &value in sorted {
        let bin = if max > min {
            ((position(value) * BINS as f64) as usize).min(BINS - 1)
        } else {
            0
        };
        counts[bin] += 1;
    }
    Histogram { edges, counts }
}

/// Distinct values among sorted `values`: exact up to `cap`, above it the HyperLogLog
/// estimate the streaming text counter would give, so the rule is the same for every type.
pub(super) fn distinct(sorted: &[f64], cap: usize) -> (u64, bool) {
    let runs = sorted.chunk_by(|a, b| a == b);
    let exact = runs.clone().count();
    if exact <= cap {
        return (exact as u64, false);
    }
    let mut sketch = HyperLogLog::new();
    for run in runs {
        // `+ 0.0` folds -0.0 into 0.0, which compare equal.
        sketch.insert(&(run[0] + 0.0).to_bits());
    }
    (sketch.estimate(), true)
}
