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
//!
//! While a column has at most [`GROUP_LIMIT`] distinct values, each also gets a small code
//! (its order of first appearance), which the column records per row so that numeric
//! columns can be summarised per value later (see [`super::relations`]).
//!
//! The map hashes with foldhash, seeded at random per process: several times faster than
//! SipHash on short strings, and still not predictable by whoever writes the file.

use std::collections::HashMap;

use super::hll::HyperLogLog;
use super::model::TopValue;

/// How many values [`top_values`](ValueCounts::top_values) lists.
pub(super) const TOP_VALUES: usize = 10;

/// Most distinct values a column may have to group the numeric columns by.
pub(super) const GROUP_LIMIT: usize = 50;

/// The code of a row whose value has none: missing, or the column has too many values.
pub(super) const NO_GROUP: u8 = u8::MAX;

/// Counts of a column's trimmed, non-missing cell texts.
#[derive(Debug)]
pub(super) struct ValueCounts {
    /// Map size that triggers the switch to approximate counting.
    cap: usize,
    /// Exact counts, or Misra-Gries lower bounds once `sketch` is set.
    counts: HashMap<Box<str>, Entry, foldhash::fast::RandomState>,
    /// The values in order of first appearance while there are at most [`GROUP_LIMIT`]
    /// and the counts are exact; `None` after that.
    labels: Option<Vec<Box<str>>>,
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
            counts: HashMap::default(),
            labels: Some(Vec::new()),
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

    /// Counts one occurrence of `value`, cut to the length bound, and returns its group
    /// code ([`NO_GROUP`] once the column has too many values to group by).
    pub(super) fn insert(&mut self, value: &str) -> u8 {
        let (value, cut) = super::clip(value, self.max_chars);
        self.truncated |= cut;
        if let Some(sketch) = &mut self.sketch {
            sketch.insert(value);
        }
        if let Some(entry) = self.counts.get_mut(value) {
            entry.count += 1;
            return entry.code;
        }
        // A value the map holds was compared with the extremes when it first came.
        if self.min.as_deref().is_none_or(|min| value < min) {
            self.min = Some(value.into());
        }
        if self.max.as_deref().is_none_or(|max| value > max) {
            self.max = Some(value.into());
        }
        if self.counts.len() < self.cap {
            let code = self.next_code(value);
            self.counts.insert(value.into(), Entry { count: 1, code });
            return code;
        }
        if self.sketch.is_none() {
            let mut sketch = HyperLogLog::new();
            for seen in self.counts.keys() {
                sketch.insert(&**seen);
            }
            sketch.insert(value);
            self.sketch = Some(sketch);
        }
        self.labels = None;
        self.counts.retain(|_, entry| {
            entry.count -= 1;
            entry.count > 0
        });
        NO_GROUP
    }

    /// The code for a value seen for the first time, while the column can still be
    /// grouped by.
    fn next_code(&mut self, value: &str) -> u8 {
        let Some(labels) = &mut self.labels else {
            return NO_GROUP;
        };
        if labels.len() >= GROUP_LIMIT {
            self.labels = None;
            return NO_GROUP;
        }
        labels.push(value.into());
        u8::try_from(labels.len() - 1).unwrap_or(NO_GROUP)
    }

    /// The values in code order, when every value has a code.
    pub(super) fn labels(&self) -> Option<&[Box<str>]> {
        self.labels.as_deref()
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
        top_values(
            self.counts
                .iter()
                .map(|(value, entry)| (&**value, entry.count)),
        )
    }

    /// The smallest and largest value in byte order, if any value was seen.
    pub(super) fn range(&self) -> Option<(&str, &str)> {
        Some((self.min.as_deref()?, self.max.as_deref()?))
    }
}

/// One value's count and group code.
#[derive(Debug, Clone, Copy)]
struct Entry {
    count: u64,
    code: u8,
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
