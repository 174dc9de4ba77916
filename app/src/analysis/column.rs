//! One column's running summary while the file streams past, and its final statistics.

use chrono::{DateTime, SecondsFormat, Utc};

use super::frequency::{ValueCounts, top_values};
use super::infer::{Cell, classify};
use super::model::{Column, ColumnType, Quantiles, Value};
use super::stats;

/// Everything kept about a column between rows.
#[derive(Debug)]
pub(super) struct ColumnSummary {
    name: String,
    /// Distinct-value cap, for the typed columns' distinct count.
    cap: usize,
    missing: u64,
    count: u64,
    /// The narrowest type every value so far fits.
    candidate: Candidate,
    /// Text statistics, kept for every column because any later cell can turn it to text.
    text: ValueCounts,
    /// Longest text kept, in characters.
    max_chars: usize,
    /// Some text shown for this column (its name, a preview cell) was cut.
    truncated: bool,
}

/// The type a column can still be, with what that type's statistics need. Each cell parses
/// as at most one of boolean, number and datetime, so only one typed candidate is alive.
#[derive(Debug)]
enum Candidate {
    /// No value yet.
    Empty,
    Boolean {
        trues: u64,
        falses: u64,
    },
    Numeric {
        values: Vec<f64>,
        /// Exact smallest and largest value while every value is an `i64`.
        integers: Option<(i64, i64)>,
    },
    Datetime {
        /// Unix seconds.
        values: Vec<f64>,
        /// Exact extremes, since seconds as `f64` may round sub-microsecond digits.
        range: (DateTime<Utc>, DateTime<Utc>),
    },
    Text,
}

impl ColumnSummary {
    pub(super) fn new(name: String, name_cut: bool, cap: usize, max_chars: usize) -> Self {
        Self {
            name,
            cap,
            missing: 0,
            count: 0,
            candidate: Candidate::Empty,
            text: ValueCounts::new(cap, max_chars),
            max_chars,
            truncated: name_cut,
        }
    }

    /// A cell of this column cut for showing (in the preview), noting when it was cut.
    pub(super) fn clip<'a>(&mut self, cell: &'a str) -> &'a str {
        let (text, cut) = super::clip(cell, self.max_chars);
        self.truncated |= cut;
        text
    }

    /// Adds one cell, as read from the file.
    pub(super) fn push(&mut self, raw: &str) {
        let text = raw.trim();
        let cell = classify(text);
        if cell == Cell::Missing {
            self.missing += 1;
            return;
        }
        self.count += 1;
        self.text.insert(text);
        self.candidate.absorb(cell);
    }

    /// The column's statistics once every row is in.
    pub(super) fn finish(self) -> Column {
        let mut column = Column {
            name: self.name,
            kind: ColumnType::Text,
            count: self.count,
            missing: self.missing,
            distinct: 0,
            distinct_approximate: false,
            min: None,
            max: None,
            mean: None,
            std_dev: None,
            quantiles: None,
            histogram: None,
            top_values: None,
            truncated: self.truncated,
        };
        match self.candidate {
            Candidate::Empty | Candidate::Text => {
                (column.distinct, column.distinct_approximate) = self.text.distinct();
                if let Some((min, max)) = self.text.range() {
                    column.min = Some(Value::Text(min.to_owned()));
                    column.max = Some(Value::Text(max.to_owned()));
                }
                column.top_values = Some(self.text.top_values());
                column.truncated |= self.text.truncated();
            }
            Candidate::Boolean { trues, falses } => {
                column.kind = ColumnType::Boolean;
                column.distinct = u64::from(trues > 0) + u64::from(falses > 0);
                column.mean = Some(trues as f64 / self.count as f64);
                let counts = [("true", trues), ("false", falses)];
                column.top_values = Some(top_values(counts.into_iter()));
            }
            Candidate::Numeric {
                mut values,
                integers,
            } => {
                values.sort_unstable_by(f64::total_cmp);
                (column.distinct, column.distinct_approximate) = stats::distinct(&values, self.cap);
                let (min, max) = match integers {
                    Some((min, max)) => (Value::Integer(min), Value::Integer(max)),
                    None => (first(&values), last(&values)),
                };
                column.kind = match integers {
                    Some(_) => ColumnType::Integer,
                    None => ColumnType::Number,
                };
                (column.min, column.max) = (Some(min), Some(max));
                if let Some((mean, std_dev)) = stats::mean_and_std_dev(&values) {
                    (column.mean, column.std_dev) = (Some(mean), std_dev);
                }
                column.quantiles = Some(quantiles(&values, Value::Number));
                column.histogram = Some(stats::histogram(&values));
            }
            Candidate::Datetime {
                mut values,
                range: (min, max),
            } => {
                values.sort_unstable_by(f64::total_cmp);
                column.kind = ColumnType::Datetime;
                (column.distinct, column.distinct_approximate) = stats::distinct(&values, self.cap);
                column.min = Some(Value::Text(rfc3339(min)));
                column.max = Some(Value::Text(rfc3339(max)));
                column.quantiles = Some(quantiles(&values, |seconds| {
                    Value::Text(from_seconds(seconds).map(rfc3339).unwrap_or_default())
                }));
                column.histogram = Some(stats::histogram(&values));
            }
        }
        column
    }
}

impl Candidate {
    /// Narrows the candidate to fit a non-missing cell.
    fn absorb(&mut self, cell: Cell) {
        match (&mut *self, cell) {
            (Self::Text, _) => {}
            (Self::Empty, Cell::Boolean(_)) => {
                *self = Self::Boolean {
                    trues: 0,
                    falses: 0,
                };
                self.absorb(cell);
            }
            (Self::Boolean { trues, .. }, Cell::Boolean(true)) => *trues += 1,
            (Self::Boolean { falses, .. }, Cell::Boolean(false)) => *falses += 1,
            (Self::Empty, Cell::Integer(int)) => {
                *self = Self::Numeric {
                    values: vec![int as f64],
                    integers: Some((int, int)),
                };
            }
            (Self::Empty, Cell::Number(number)) => {
                *self = Self::Numeric {
                    values: vec![number],
                    integers: None,
                };
            }
            (Self::Numeric { values, integers }, Cell::Integer(int)) => {
                values.push(int as f64);
                if let Some((min, max)) = integers {
                    (*min, *max) = ((*min).min(int), (*max).max(int));
                }
            }
            (Self::Numeric { values, integers }, Cell::Number(number)) => {
                values.push(number);
                *integers = None;
            }
            (Self::Empty, Cell::Datetime(instant)) => {
                *self = Self::Datetime {
                    values: vec![seconds(instant)],
                    range: (instant, instant),
                };
            }
            (Self::Datetime { values, range }, Cell::Datetime(instant)) => {
                values.push(seconds(instant));
                *range = (range.0.min(instant), range.1.max(instant));
            }
            // Mixed kinds, or plain text: the column is text and the values are dropped.
            _ => *self = Self::Text,
        }
    }
}

fn quantiles(sorted: &[f64], render: impl Fn(f64) -> Value) -> Quantiles {
    let [p5, p25, p50, p75, p95] =
        stats::LEVELS.map(|level| render(stats::quantile(sorted, level)));
    Quantiles {
        p5,
        p25,
        p50,
        p75,
        p95,
    }
}

fn first(sorted: &[f64]) -> Value {
    Value::Number(sorted.first().copied().unwrap_or(f64::NAN))
}

fn last(sorted: &[f64]) -> Value {
    Value::Number(sorted.last().copied().unwrap_or(f64::NAN))
}

/// Unix seconds with the fraction, the scale datetime statistics are computed on.
fn seconds(instant: DateTime<Utc>) -> f64 {
    instant.timestamp() as f64 + f64::from(instant.timestamp_subsec_nanos()) * 1e-9
}

/// The instant `seconds` after the epoch, rounded to the microsecond (what an `f64` of
/// present-day Unix seconds still resolves).
fn from_seconds(seconds: f64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros((seconds * 1e6).round() as i64)
}

/// RFC 3339 in UTC with a `Z`, with as many fraction digits as the instant needs.
fn rfc3339(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}
