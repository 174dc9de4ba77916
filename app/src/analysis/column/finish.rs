//! A column's final statistics, and what the statistics relating columns read from it
//! before that (its values in row order, its missing rows, its group codes).

use chrono::{DateTime, SecondsFormat, Utc};

use super::super::frequency::top_values;
use super::super::model::{Column, ColumnType, Quantiles, Value};
use super::super::rows::RowSet;
use super::super::{sort, stats};
use super::{ColumnSummary, State};

/// A column that numeric columns can be grouped by: a label per code, a code per row.
#[derive(Debug)]
pub(in super::super) struct Groups<'a> {
    pub(in super::super) labels: Vec<&'a str>,
    /// Rows past the end have no group.
    pub(in super::super) codes: &'a [u8],
}

impl ColumnSummary {
    pub(in super::super) fn name(&self) -> &str {
        &self.name
    }

    /// An integer or number column's values, in row order (missing rows skipped).
    pub(in super::super) fn numbers(&self) -> Option<&[f64]> {
        match &self.state {
            State::Numeric { values, .. } => Some(values),
            _ => None,
        }
    }

    pub(in super::super) fn missing_rows(&self) -> &RowSet {
        &self.missing_rows
    }

    pub(in super::super) fn missing(&self) -> u64 {
        self.missing
    }

    /// The column's values as groups, for a boolean or text column with at most
    /// [`GROUP_LIMIT`](super::super::frequency::GROUP_LIMIT) distinct values.
    pub(in super::super) fn groups(&self) -> Option<Groups<'_>> {
        if self.count == 0 {
            return None;
        }
        match &self.state {
            State::Boolean { codes, .. } => Some(Groups {
                labels: vec!["false", "true"],
                codes,
            }),
            State::Text { counts, codes } => Some(Groups {
                labels: counts.labels()?.iter().map(|label| &**label).collect(),
                codes,
            }),
            _ => None,
        }
    }

    /// The column's statistics once every row is in.
    pub(in super::super) fn finish(self) -> Column {
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
        match self.state {
            State::Empty | State::TextLater => {
                column.top_values = Some(Vec::new());
            }
            State::Text { counts, .. } => {
                (column.distinct, column.distinct_approximate) = counts.distinct();
                if let Some((min, max)) = counts.range() {
                    column.min = Some(Value::Text(min.to_owned()));
                    column.max = Some(Value::Text(max.to_owned()));
                }
                column.top_values = Some(counts.top_values());
                column.truncated |= counts.truncated();
            }
            State::Boolean { trues, falses, .. } => {
                column.kind = ColumnType::Boolean;
                column.distinct = u64::from(trues > 0) + u64::from(falses > 0);
                column.mean = Some(trues as f64 / self.count as f64);
                let counts = [("true", trues), ("false", falses)];
                column.top_values = Some(top_values(counts.into_iter()));
            }
            State::Numeric {
                mut values,
                integers,
            } => {
                sort::sort(&mut values);
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
            State::Datetime {
                mut values,
                range: (min, max),
            } => {
                sort::sort(&mut values);
                column.kind = ColumnType::Datetime;
                (column.distinct, column.distinct_approximate) = stats::distinct(&values, self.cap);
                column.min = Some(Value::Text(min.to_utc().map(rfc3339).unwrap_or_default()));
                column.max = Some(Value::Text(max.to_utc().map(rfc3339).unwrap_or_default()));
                column.quantiles = Some(quantiles(&values, |seconds| {
                    Value::Text(from_seconds(seconds).map(rfc3339).unwrap_or_default())
                }));
                column.histogram = Some(stats::histogram(&values));
            }
        }
        column
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

/// The instant `seconds` after the epoch, rounded to the microsecond (what an `f64` of
/// present-day Unix seconds still resolves).
fn from_seconds(seconds: f64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros((seconds * 1e6).round() as i64)
}

/// RFC 3339 in UTC with a `Z`, with as many fraction digits as the instant needs.
fn rfc3339(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}
