//! The analysis report: what [`analyze`](super::analyze) returns and what the API stores and
//! serves as JSON. Field names here are a contract with the frontend.

use serde::{Deserialize, Serialize};

/// The summary of one uploaded CSV file, stored once per dataset and served as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// The longest text kept from a cell or column name, in characters; a column whose
    /// text was cut to it says `truncated`. Absent (0) in analyses stored before the bound.
    #[serde(default)]
    pub max_cell_chars: usize,
    /// Data rows, the header excluded.
    pub rows: u64,
    /// The field separator sniffed from the header line: `","`, `";"` or `"\t"`.
    pub delimiter: String,
    /// One summary per header field, in file order.
    pub columns: Vec<Column>,
    /// The first `preview_rows` data rows as raw cell text, so the page can show the data
    /// without storing the file.
    pub preview: Vec<Vec<String>>,
    /// Correlations between the numeric columns; null with fewer than two. Absent (null)
    /// in analyses stored before it existed, as are the fields below.
    #[serde(default)]
    pub correlations: Option<Correlations>,
    /// Numeric columns summarised per value of each low-cardinality column.
    #[serde(default)]
    pub group_summaries: Vec<GroupSummary>,
    /// A uniform sample of rows for plots; null for a file without rows.
    #[serde(default)]
    pub sample: Option<Sample>,
    /// Where in the file the missing cells are; null for a file without rows.
    #[serde(default)]
    pub missing_by_position: Option<MissingByPosition>,
}

/// Correlation matrices of the integer and number columns (the first 50), over pairwise
/// complete observations: for each pair, the rows where both cells are present. A
/// coefficient is null where it is undefined: fewer than two such rows, or either
/// column constant on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Correlations {
    /// The columns, in file order; the matrices are indexed like this list.
    pub columns: Vec<String>,
    /// Pearson's r, symmetric.
    pub pearson: Vec<Vec<Option<f64>>>,
    /// Spearman's rho (Pearson's r of average ranks, ranked within each pair's complete
    /// rows); null when the file is too large for it to be cheap (see the module docs).
    pub spearman: Option<Vec<Vec<Option<f64>>>>,
    /// How many rows each pair has complete.
    pub pairs: Vec<Vec<u64>>,
}

/// The numeric columns summarised per value of one boolean or text column with at most 50
/// distinct values. Rows where that column is missing belong to no group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    /// The column grouped by.
    pub by: String,
    /// Its values, in byte order.
    pub groups: Vec<String>,
    /// Rows per group.
    pub sizes: Vec<u64>,
    /// One entry per integer or number column (the first 50).
    pub columns: Vec<GroupedColumn>,
}

/// One numeric column's statistics per group, indexed like [`GroupSummary::groups`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupedColumn {
    /// The numeric column.
    pub name: String,
    /// Its statistics per group.
    pub stats: Vec<GroupStat>,
}

/// A numeric column within one group: its present values' count, mean and extremes
/// (null when the group has none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStat {
    /// Present values in the group.
    pub count: u64,
    /// Their arithmetic mean.
    pub mean: Option<f64>,
    /// The smallest.
    pub min: Option<f64>,
    /// The largest.
    pub max: Option<f64>,
}

/// Up to 2000 rows drawn uniformly (reservoir sampling from a fixed seed, so a file
/// always gives the same sample), with the values plots need: the first 20 numeric
/// columns and the columns that group summaries group by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The sampled data rows (0-based, header excluded), ascending.
    pub rows: Vec<u64>,
    /// Numeric columns' values at those rows; null where missing.
    pub numbers: Vec<Series<Option<f64>>>,
    /// Low-cardinality columns' values at those rows; null where missing.
    pub labels: Vec<Series<Option<String>>>,
}

/// One column's values at the sampled rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series<T> {
    /// The column.
    pub name: String,
    /// One per sampled row, in the order of [`Sample::rows`].
    pub values: Vec<T>,
}

/// The rows cut into 20 buckets by position, and per column with missing cells the share
/// of its cells missing in each bucket, so patterns (a column that stops, a gap) show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissingByPosition {
    /// The first data row (0-based) of each bucket; a bucket ends where the next starts,
    /// the last at `rows`. With fewer than 20 rows some buckets are empty.
    pub bucket_starts: Vec<u64>,
    /// Only columns with at least one missing cell, in file order.
    pub columns: Vec<MissingColumn>,
}

/// One column's missing share per bucket, rounded to 4 decimals; null for an empty bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissingColumn {
    /// The column.
    pub name: String,
    /// One per bucket: missing cells over the bucket's rows.
    pub shares: Vec<Option<f64>>,
}

/// The type inferred for a column: the narrowest one that every non-missing value parses as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    /// Every value is an `i64`.
    Integer,
    /// Every value is a finite `f64`, and at least one is not an `i64`.
    Number,
    /// Every value is one of true/false, yes/no, t/f.
    Boolean,
    /// Every value is a date or date-time in one of the accepted forms.
    Datetime,
    /// Anything else, including a column with no values at all.
    Text,
}

/// Statistics for one column; which fields are filled depends on [`ColumnType`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// The header text, trimmed; `column_N` (1-based) when the header cell is blank.
    pub name: String,
    /// The inferred type.
    #[serde(rename = "type")]
    pub kind: ColumnType,
    /// Non-missing values.
    pub count: u64,
    /// Missing values: blank cells and the markers `NA`, `N/A`, `null`, `NaN`.
    pub missing: u64,
    /// Distinct non-missing values; exact unless `distinct_approximate`.
    pub distinct: u64,
    /// True once the column had more distinct values than the exact cap, so `distinct` is a
    /// HyperLogLog estimate and text `top_values` counts are lower bounds.
    pub distinct_approximate: bool,
    /// Smallest value: a number, an RFC 3339 string for datetimes, a string for text, null
    /// for booleans and empty columns.
    pub min: Option<Value>,
    /// Largest value, shaped like `min`.
    pub max: Option<Value>,
    /// Arithmetic mean for numbers; share of true for booleans; null otherwise.
    pub mean: Option<f64>,
    /// Sample standard deviation (n - 1) for numbers when `count >= 2`; null otherwise.
    pub std_dev: Option<f64>,
    /// Type-7 quantiles for numbers and datetimes.
    pub quantiles: Option<Quantiles>,
    /// Equal-width histogram for numbers and datetimes.
    pub histogram: Option<Histogram>,
    /// The most frequent values of text and boolean columns.
    pub top_values: Option<Vec<TopValue>>,
    /// True when some text of this column (its name, text `min`/`max`, top values or
    /// preview cells) was cut to `max_cell_chars` characters.
    #[serde(default)]
    pub truncated: bool,
}

/// A statistic that is a number for numeric columns and a string for datetime and text ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// An exact integer (integer columns' min and max).
    Integer(i64),
    /// A floating-point number.
    Number(f64),
    /// Text, or a datetime rendered as RFC 3339 in UTC.
    Text(String),
}

/// The 5th, 25th, 50th, 75th and 95th percentiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    /// 5th percentile.
    pub p5: Value,
    /// 25th percentile (lower quartile).
    pub p25: Value,
    /// Median.
    pub p50: Value,
    /// 75th percentile (upper quartile).
    pub p75: Value,
    /// 95th percentile.
    pub p95: Value,
}

/// Bin counts over equal-width bins from min to max; datetime edges are Unix seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Bin boundaries, one more than `counts`; bin `i` is `[edges[i], edges[i + 1])`, the
    /// last one closed.
    pub edges: Vec<f64>,
    /// Values per bin.
    pub counts: Vec<u64>,
}

/// One frequent value and how often it occurs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopValue {
    /// The value as written (trimmed); `true`/`false` for booleans.
    pub value: String,
    /// Occurrences; a lower bound when the column's distinct count is approximate.
    pub count: u64,
}
