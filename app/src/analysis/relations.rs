//! Statistics that relate columns to each other, computed once every row is in, from the
//! columns' values in row order: correlations, group summaries, the sample's values and
//! where the missing cells are. Each is bounded so the stored analysis stays small
//! whatever the file's width:
//!
//! - correlations over the first [`MAX_NUMERIC`] integer and number columns; Spearman's
//!   rho only while pairs × rows stays under [`SPEARMAN_BUDGET`], since it ranks every
//!   pair's complete rows anew;
//! - group summaries by the first [`MAX_GROUPINGS`] boolean or text columns with at most
//!   [`GROUP_LIMIT`] distinct values, over the first [`MAX_NUMERIC`] numeric columns;
//! - the sample's values for the first [`SAMPLE_NUMBERS`] numeric columns and the columns
//!   grouped by;
//! - missing shares in [`BUCKETS`] buckets, for the columns with missing cells.

use std::borrow::Cow;

use super::column::{ColumnSummary, Groups};
use super::frequency::{GROUP_LIMIT, NO_GROUP};
use super::model::{
    Correlations, GroupStat, GroupSummary, GroupedColumn, MissingByPosition, MissingColumn, Sample,
    Series,
};
use super::rows::RowSet;

/// Most numeric columns correlated and summarised per group.
pub(super) const MAX_NUMERIC: usize = 50;
/// Most columns grouped by.
pub(super) const MAX_GROUPINGS: usize = 10;
/// Most numeric columns whose values the sample carries.
pub(super) const SAMPLE_NUMBERS: usize = 20;
/// Row-position buckets for missing shares.
pub(super) const BUCKETS: usize = 20;
/// Largest pairs × complete rows for which Spearman's rho is computed.
pub(super) const SPEARMAN_BUDGET: u64 = 2_000_000;

/// Everything this module adds to an analysis.
#[derive(Debug)]
pub(super) struct Relations {
    pub(super) correlations: Option<Correlations>,
    pub(super) group_summaries: Vec<GroupSummary>,
    pub(super) sample: Option<Sample>,
    pub(super) missing_by_position: Option<MissingByPosition>,
}

/// A numeric column with one slot per row, NaN where missing (values are never NaN).
struct Dense<'a> {
    name: &'a str,
    values: Cow<'a, [f64]>,
}

pub(super) fn relate(columns: &[ColumnSummary], rows: u64, sampled: Vec<u64>) -> Relations {
    let numeric: Vec<Dense<'_>> = columns
        .iter()
        .filter_map(|column| {
            let values = column.numbers()?;
            Some(Dense {
                name: column.name(),
                values: dense(values, column.missing_rows(), rows),
            })
        })
        .take(MAX_NUMERIC)
        .collect();
    let groupings: Vec<(&str, Groups<'_>)> = columns
        .iter()
        .filter_map(|column| Some((column.name(), column.groups()?)))
        .take(MAX_GROUPINGS)
        .collect();
    Relations {
        correlations: (numeric.len() >= 2).then(|| correlations(&numeric, rows)),
        group_summaries: groupings
            .iter()
            .map(|(name, groups)| group_summary(name, groups, &numeric))
            .collect(),
        sample: (rows > 0).then(|| sample(sampled, &numeric, &groupings)),
        missing_by_position: (rows > 0).then(|| missing_by_position(columns, rows)),
    }
}

/// `values` (present cells only) spread over `rows` slots, NaN at the missing rows.
fn dense<'a>(values: &'a [f64], missing: &RowSet, rows: u64) -> Cow<'a, [f64]> {
    if values.len() as u64 == rows {
        return Cow::Borrowed(values);
    }
    let mut present = values.iter();
    Cow::Owned(
        (0..rows)
            .map(|row| match missing.contains(row) {
                true => f64::NAN,
                false => present.next().copied().unwrap_or(f64::NAN),
            })
            .collect(),
    )
}

fn correlations(numeric: &[Dense<'_>], rows: u64) -> Correlations {
    let n = numeric.len();
    let mut pearson = vec![vec![None; n]; n];
    let mut pairs = vec![vec![0; n]; n];
    for i in 0..n {
        for j in i..n {
            let (count, r) = pearson_r(&numeric[i].values, &numeric[j].values);
            (pearson[i][j], pearson[j][i]) = (r, r);
            (pairs[i][j], pairs[j][i]) = (count, count);
        }
    }
    let pair_count = (n * (n - 1) / 2) as u64;
    let spearman = (pair_count.saturating_mul(rows) <= SPEARMAN_BUDGET).then(|| {
        let mut rho = vec![vec![None; n]; n];
        for i in 0..n {
            for j in i..n {
                let r = spearman_rho(&numeric[i].values, &numeric[j].values);
                (rho[i][j], rho[j][i]) = (r, r);
            }
        }
        rho
    });
    Correlations {
        columns: numeric
            .iter()
            .map(|column| column.name.to_owned())
            .collect(),
        pearson,
        spearman,
        pairs,
    }
}

/// Rows where both are present, and Pearson's r over them (two passes: means first, so
/// the sums of products do not cancel); null below two rows or when either is constant.
fn pearson_r(xs: &[f64], ys: &[f64]) -> (u64, Option<f64>) {
    let (mut count, mut sum_x, mut sum_y) = (0u64, 0.0, 0.0);
    for (&x, &y) in xs.iter().zip(ys) {
        if !(x.is_nan() || y.is_nan()) {
            count += 1;
            sum_x += x;
            sum_y += y;
        }
    }
    if count < 2 {
        return (count, None);
    }
    let (mean_x, mean_y) = (sum_x / count as f64, sum_y / count as f64);
    let (mut xx, mut yy, mut xy) = (0.0, 0.0, 0.0);
    for (&x, &y) in xs.iter().zip(ys) {
        if !(x.is_nan() || y.is_nan()) {
            let (dx, dy) = (x - mean_x, y - mean_y);
            xx += dx * dx;
            yy += dy * dy;
            xy += dx * dy;
        }
    }
    if xx == 0.0 || yy == 0.0 {
        return (count, None);
    }
    (count, Some((xy / (xx * yy).sqrt()).clamp(-1.0, 1.0)))
}

/// Spearman's rho: Pearson's r of the average ranks within the rows where both are present.
fn spearman_rho(xs: &[f64], ys: &[f64]) -> Option<f64> {
    let (complete_x, complete_y): (Vec<f64>, Vec<f64>) = xs
        .iter()
        .zip(ys)
        .filter(|(x, y)| !(x.is_nan() || y.is_nan()))
        .map(|(&x, &y)| (x, y))
        .unzip();
    pearson_r(&ranks(&complete_x), &ranks(&complete_y)).1
}

/// 1-based ranks, ties sharing the mean of the ranks they span.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_unstable_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Ranks start + 1 ..= end, averaged.
        let rank = (start + end + 1) as f64 / 2.0;
        for &index in &order[start..end] {
            ranks[index] = rank;
        }
        start = end;
    }
    ranks
}

fn group_summary(by: &str, groups: &Groups<'_>, numeric: &[Dense<'_>]) -> GroupSummary {
    let labels = &groups.labels;
    let mut sizes = vec![0u64; labels.len()];
    for &code in groups.codes {
        if let Some(size) = sizes.get_mut(usize::from(code)) {
            *size += 1;
        }
    }
    // A boolean column may hold only one of its two values.
    let mut order: Vec<usize> = (0..labels.len()).filter(|&code| sizes[code] > 0).collect();
    order.sort_unstable_by(|&a, &b| labels[a].cmp(labels[b]));
    let columns = numeric
        .iter()
        .map(|column| {
            let mut acc = vec![Accumulator::default(); labels.len()];
            for (&code, &value) in groups.codes.iter().zip(column.values.iter()) {
                if code != NO_GROUP
                    && !value.is_nan()
                    && let Some(acc) = acc.get_mut(usize::from(code))
                {
                    acc.add(value);
                }
            }
            GroupedColumn {
                name: column.name.to_owned(),
                stats: order.iter().map(|&code| acc[code].stat()).collect(),
            }
        })
        .collect();
    GroupSummary {
        by: by.to_owned(),
        groups: order.iter().map(|&code| labels[code].to_owned()).collect(),
        sizes: order.iter().map(|&code| sizes[code]).collect(),
        columns,
    }
}

/// A group's running count, sum and extremes.
#[derive(Debug, Clone, Copy, Default)]
struct Accumulator {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Accumulator {
    fn add(&mut self, value: f64) {
        if self.count == 0 {
            (self.min, self.max) = (value, value);
        } else {
            (self.min, self.max) = (self.min.min(value), self.max.max(value));
        }
        self.count += 1;
        self.sum += value;
    }

    fn stat(&self) -> GroupStat {
        let present = self.count > 0;
        GroupStat {
            count: self.count,
            mean: present.then(|| self.sum / self.count as f64),
            min: present.then_some(self.min),
            max: present.then_some(self.max),
        }
    }
}

fn sample(rows: Vec<u64>, numeric: &[Dense<'_>], groupings: &[(&str, Groups<'_>)]) -> Sample {
    let at = |row: u64| usize::try_from(row).unwrap_or(usize::MAX);
    let numbers = numeric
        .iter()
        .take(SAMPLE_NUMBERS)
        .map(|column| Series {
            name: column.name.to_owned(),
            values: rows
                .iter()
                .map(|&row| column.values.get(at(row)).copied().filter(|v| !v.is_nan()))
                .collect(),
        })
        .collect();
    let labels = groupings
        .iter()
        .map(|(name, groups)| Series {
            name: (*name).to_owned(),
            values: rows
                .iter()
                .map(|&row| {
                    let code = groups.codes.get(at(row)).copied().unwrap_or(NO_GROUP);
                    groups
                        .labels
                        .get(usize::from(code))
                        .map(|label| (*label).to_owned())
                })
                .collect(),
        })
        .collect();
    Sample {
        rows,
        numbers,
        labels,
    }
}

fn missing_by_position(columns: &[ColumnSummary], rows: u64) -> MissingByPosition {
    let starts: Vec<u64> = (0..BUCKETS as u64)
        .map(|bucket| (u128::from(bucket) * u128::from(rows) / BUCKETS as u128) as u64)
        .collect();
    let bounds: Vec<(u64, u64)> = starts
        .iter()
        .zip(starts.iter().skip(1).chain([&rows]))
        .map(|(&start, &end)| (start, end))
        .collect();
    let columns = columns
        .iter()
        .filter(|column| column.missing() > 0)
        .map(|column| MissingColumn {
            name: column.name().to_owned(),
            shares: bounds
                .iter()
                .map(|&(start, end)| {
                    let missing = column.missing_rows().count_in(start, end);
                    (end > start)
                        .then(|| (missing as f64 / (end - start) as f64 * 1e4).round() / 1e4)
                })
                .collect(),
        })
        .collect();
    MissingByPosition {
        bucket_starts: starts,
        columns,
    }
}

// The group limit is what makes a code fit a byte, with one value left for "none".
const _: () = assert!(GROUP_LIMIT < NO_GROUP as usize);
