//! Distinct counts and most frequent values of a column's text, in bounded memory.
//!
//! One map from value to count serves both. While it holds at most `cap` values it is
//! exact. When a new value arrives and the map is full, two things happen:
//!
//! - the distinct count moves to a [`HyperLogLog`] sketch, seeded with every value the map
//!   holds (at that moment: every value seen), and fed every later value;
//! - the map becomes a Misra-Gries summary: the new value and every counter lose one and
//!   counters at zero are dropped. Each kept count is then a lower bound, short by at most
//!   `values / (cap + 1)`, and every value more frequent than that is still in the map.

use std::collections::HashMap;

use super::hll::HyperLogLog;
use super::model::TopValue;

/// How many values [`top_values`](ValueCounts::top_values) lists.
pub(super) const TOP_VALUES: usize = 10;

/// Counts of a column's trimmed, non-missing cell texts.
#[derive(Debug)]
pub(super) struct ValueCounts {
    /// Map size that triggers the switch to approximate counting.
    cap: usize,
    /// Exact counts, or Misra-Gries lower bounds once `sketch` is set.
    counts: HashMap<Box<str>, u64>,
    /// Set once the column had more than `cap` distinct values.
    sketch: Option<HyperLogLog>,
    /// Lexicographically smallest value seen.
    min: Option<Box<str>>,
    /// Lexicographically largest value seen.
    max: Option<Box<str>>,
    /// Longest text kept, in characters; longer values are counted by their start.
    max_chars: usize,
    /// Some value was cut to `max_chars`.
    truncated: bool,
}

impl ValueCounts {
    pub(super) fn new(cap: usize, max_chars: usize) -> Self {
        Self {
            cap,
            counts: HashMap::new(),
            sketch: None,
            min: None,
            max: None,
            max_chars,
            truncated: false,
        }
    }

    /// Whether some value was cut to the length bound.
    pub(super) fn truncated(&self) -> bool {
        self.truncated
    }

    /// Counts one occurrence of `value`, cut to the length bound.
    pub(super) fn insert(&mut self, value: &str) {
        let (value, cut) = super::clip(value, self.max_chars);
        self.truncated |= cut;
        if self.min.as_deref().is_none_or(|min| value < min) {
            self.min = Some(value.into());
        }
        if self.max.as_deref().is_none_or(|max| value > max) {
            self.max = Some(value.into());
        }
        if let Some(sketch) = &mut self.sketch {
            sketch.insert(value);
        }
        if let Some(count) = self.counts.get_mut(value) {
            *count += 1;
        } else if self.counts.len() < self.cap {
            self.counts.insert(value.into(), 1);
        } else {
            if self.sketch.is_none() {
                let mut sketch = HyperLogLog::new();
                for seen in self.counts.keys() {
                    sketch.insert(&**seen);
                }
                sketch.insert(value);
                self.sketch = Some(sketch);
            }
            self.counts.retain(|_, count| {
                *count -= 1;
                *count > 0
            });
        }
    }

    /// The number of distinct values, and whether it is an estimate.
    pub(super) fn distinct(&self) -> (u64, bool) {
        match &self.sketch {
            Some(sketch) => (sketch.estimate(), true),
            None => (self.counts.len() as u64, false),
        }
    }

    /// Up to [`TOP_VALUES`] values, by count descending and then value ascending.
    pub(super) fn top_values(&self) -> Vec<TopValue> {
        top_values(self.counts.iter().map(|(value, &count)| (&**value, count)))
    }

    /// The smallest and largest value in byte order, if any value was seen.
    pub(super) fn range(&self) -> Option<(&str, &str)> {
        Some((self.min.as_deref()?, self.max.as_deref()?))
    }
}

/// Orders `(value, count)` pairs by count descending, then value ascending, and keeps the
/// first [`TOP_VALUES`] with a non-zero count.
pub(super) fn top_values<'a>(counts: impl Iterator<Item = (&'a str, u64)>) -> Vec<TopValue> {
    let mut ranked: Vec<(&str, u64)> = counts.filter(|&(_, count)| count > 0).collect();
    ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    ranked
        .into_iter()
        .take(TOP_VALUES)
        .map(|(value, count)| TopValue {
            value: value.to_owned(),
            count,
        })
        .collect()
}
