//! The data-analysis engine: reads an uploaded CSV file once, as a stream, infers each
//! column's type and computes its statistics. Pure computation over a [`Read`]; no other
//! I/O, no async. Callers run [`analyze`] on a blocking thread.
//!
//! # Reading
//!
//! - A UTF-8 byte order mark is dropped. The delimiter is whichever of `,` `;` and tab
//!   occurs most often outside quotes in the header line (ties and none: `,`).
//! - Fields may be quoted; `""` inside quotes is a quote; quoted fields may span lines.
//! - The first record is the header. Names are trimmed; a blank one becomes `column_N`
//!   (1-based). An input that is empty or only whitespace has no header and is an error.
//! - Every later record must have as many fields as the header and be UTF-8, else the
//!   analysis fails naming the physical line (1-based) where the record starts.
//!   Blank lines are skipped.
//!
//! # Values
//!
//! Cells are trimmed. A cell is *missing* when it is blank or one of `NA`, `N/A`, `null`,
//! `NaN` (any case); `NaN` counts as missing because pandas and R write it for one.
//! A column's type is the narrowest that every non-missing value parses as:
//!
//! - `boolean`: `true`/`false`, `yes`/`no`, `t`/`f`, any case (`0`/`1` are integers);
//! - `integer`: an `i64`;
//! - `number`: a finite `f64` (sign and exponent allowed; `inf` is text); a mix of integers
//!   and numbers is `number`;
//! - `datetime`: `YYYY-MM-DD` or `YYYY/MM/DD`, optionally followed by `T` or a space and
//!   `HH:MM[:SS[.fraction]]` and a `Z` or `±HH[:MM]` offset. Times without an offset are
//!   taken as UTC. Day/month-first forms such as `01/02/2012` are ambiguous and stay text;
//! - `text`: anything else. A column with no values at all is `text` with count 0, and so
//!   is every column of a header-only file.
//!
//! # Statistics
//!
//! - `count` and `missing` split the rows between non-missing and missing cells.
//! - `distinct` counts distinct values: parsed values for typed columns (`1` and `1.0` are
//!   one number), the trimmed text for text. It is exact up to
//!   [`Options::distinct_exact_cap`] distinct values; above that it is a HyperLogLog
//!   estimate (about 0.8 % standard error) and `distinct_approximate` is true, for every type.
//! - `min`/`max`: numbers for numeric columns, RFC 3339 strings in UTC for datetimes,
//!   byte-order strings for text, null for booleans.
//! - `mean`: arithmetic mean for numbers, the share of true for booleans, null for
//!   datetimes and text. `std_dev` is the *sample* standard deviation (divisor n - 1) for
//!   numbers, null when count < 2 and for every other type.
//! - `quantiles` p5, p25, p50, p75, p95 use linear interpolation between closest ranks
//!   (Hyndman & Fan type 7, numpy's default); numbers for numeric columns, RFC 3339 strings
//!   (to the microsecond) for datetimes.
//! - `histogram`: 20 equal-width bins over `[min, max]`, each `[lower, upper)` except the
//!   last, which is closed; datetime edges are Unix seconds. A constant column has 21 equal
//!   edges and all its values in the first bin.
//! - `top_values`: up to 10 values of text and boolean columns by count descending, then
//!   value ascending. Exact while `distinct_approximate` is false; after that a text
//!   column's counts come from a Misra-Gries summary and are lower bounds (see
//!   `frequency.rs`).
//!
//! # Bounds
//!
//! A header with more than [`Options::max_columns`] fields fails before any row is read.
//! Text that leaves the analysis (column names, text `min`/`max`, `top_values`, preview
//! cells) is cut to [`Options::max_cell_chars`] characters, and the column is marked
//! `truncated`; text values are counted by their first `max_cell_chars` characters.
//!
//! # Across columns
//!
//! Correlations, group summaries, a sample of rows for plots and missing values by row
//! position; their definitions and bounds are in `relations.rs` and on the
//! [`Analysis`] fields.
//!
//! # How it runs
//!
//! One pass over the input. Each column keeps only what its current type needs, and a
//! cell first tries its column's own fast parser (see `column.rs`). A typed column that
//! meets text later is counted as text by a second pass over a copy of the input kept
//! while reading, so its statistics are exactly those of a text column. Memory: that
//! copy (at most the upload), one bit per cell for missing values, a byte per row for
//! low-cardinality columns, and one `f64` per numeric or datetime value for exact
//! quantiles.

mod column;
mod error;
mod frequency;
mod header;
mod hll;
mod infer;
mod model;
mod number;
mod relations;
mod rows;
mod sniff;
mod sort;
mod stats;
#[cfg(test)]
mod tests;

use std::io::{self, Cursor, Read};

use csv::ByteRecord;

use self::column::ColumnSummary;
pub use self::error::AnalysisError;
pub use self::header::HeaderCheck;
pub use self::model::{
    Analysis, Column, ColumnType, Correlations, GroupStat, GroupSummary, GroupedColumn, Histogram,
    MissingByPosition, MissingColumn, Quantiles, Sample, Series, TopValue, Value,
};
use self::rows::Reservoir;

/// Tuning knobs; `Default` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// Distinct values counted exactly per column before switching to an estimate; also
    /// the size of each text column's value-count map. Default 10 000.
    pub distinct_exact_cap: usize,
    /// Data rows copied into [`Analysis::preview`]. Default 20.
    pub preview_rows: usize,
    /// Most columns accepted; a header with more fails before any row is read. Default 1000.
    pub max_columns: usize,
    /// Longest text kept from a cell or a column name, in characters. Default 200.
    pub max_cell_chars: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            distinct_exact_cap: 10_000,
            preview_rows: 20,
            max_columns: 1_000,
            max_cell_chars: 200,
        }
    }
}

/// Rows kept in the sample for plots.
const SAMPLE_ROWS: usize = 2_000;

/// Reads the whole CSV once, streaming, and summarises it. Blocking: callers run it on a
/// blocking thread.
///
/// # Errors
///
/// [`AnalysisError`] when the input has no header, a record has the wrong number of fields
/// or is not UTF-8, or reading fails. Any error aborts the analysis.
pub fn analyze<R: Read>(mut input: R, options: &Options) -> Result<Analysis, AnalysisError> {
    let sniffed = sniff::sniff(&mut input).map_err(AnalysisError::Io)?;
    let delimiter = sniffed.delimiter;
    let source = Retain {
        inner: Cursor::new(sniffed.prefix).chain(input),
        kept: Retained::default(),
    };
    let mut reader = reader(delimiter, source);

    let mut record = ByteRecord::new();
    if !reader.read_byte_record(&mut record)? {
        return Err(AnalysisError::MissingHeader);
    }
    if record.len() > options.max_columns {
        return Err(AnalysisError::TooManyColumns {
            found: record.len(),
            max: options.max_columns,
        });
    }
    let max_chars = options.max_cell_chars;
    let header = fields(&record)?;
    if let [only] = header.as_slice()
        && only.trim().is_empty()
    {
        return Err(AnalysisError::MissingHeader);
    }
    let mut columns: Vec<ColumnSummary> = header
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let (name, cut) = match clip(name.trim(), max_chars) {
                ("", _) => (format!("column_{}", index + 1), false),
                (name, cut) => (name.to_owned(), cut),
            };
            ColumnSummary::new(name, cut, options.distinct_exact_cap, max_chars)
        })
        .collect();

    let mut rows = 0u64;
    let mut preview = Vec::with_capacity(options.preview_rows.min(1024));
    let mut sample = Reservoir::new(SAMPLE_ROWS);
    while reader.read_byte_record(&mut record)? {
        if record.len() != columns.len() {
            return Err(AnalysisError::RaggedRow {
                line: line(&record),
                expected: columns.len(),
                found: record.len(),
            });
        }
        for (column, cell) in columns.iter_mut().zip(&record) {
            column
                .push(rows, cell)
                .map_err(|_| AnalysisError::InvalidUtf8 {
                    line: line(&record),
                })?;
        }
        if preview.len() < options.preview_rows {
            let cells = fields(&record)?;
            let row = columns
                .iter_mut()
                .zip(&cells)
                .map(|(column, &cell)| column.clip(cell).to_owned())
                .collect();
            preview.push(row);
        }
        sample.offer(rows);
        rows += 1;
    }
    let retained = reader.into_inner().kept;
    if columns.iter().any(ColumnSummary::needs_text_pass) {
        count_text_again(&mut columns, delimiter, retained)?;
    }

    let relations = relations::relate(&columns, rows, sample.into_rows());
    Ok(Analysis {
        max_cell_chars: max_chars,
        rows,
        delimiter: char::from(delimiter).to_string(),
        columns: columns.into_iter().map(ColumnSummary::finish).collect(),
        preview,
        correlations: relations.correlations,
        group_summaries: relations.group_summaries,
        sample: relations.sample,
        missing_by_position: relations.missing_by_position,
    })
}

/// The second look at the input, for the columns that turned to text after typed values:
/// every row again, in order, counting only those columns' cells as text.
fn count_text_again(
    columns: &mut [ColumnSummary],
    delimiter: u8,
    retained: Retained,
) -> Result<(), AnalysisError> {
    let again: Vec<usize> = (0..columns.len())
        .filter(|&index| columns[index].needs_text_pass())
        .collect();
    for &index in &again {
        columns[index].start_text_pass();
    }
    let mut reader = reader(delimiter, retained.into_reader());
    let mut record = ByteRecord::new();
    // The header, already read.
    reader.read_byte_record(&mut record)?;
    let mut row = 0u64;
    while reader.read_byte_record(&mut record)? {
        for &index in &again {
            let cell = record.get(index).unwrap_or_default();
            columns[index]
                .push_text(row, cell)
                .map_err(|_| AnalysisError::InvalidUtf8 {
                    line: line(&record),
                })?;
        }
        row += 1;
    }
    Ok(())
}

/// The CSV reader both passes use.
fn reader<R: Read>(delimiter: u8, source: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .buffer_capacity(64 * 1024)
        .from_reader(source)
}

/// Bytes kept as they are read, in blocks (no reallocation of what is already kept), so
/// a second pass can read them again. At most the upload, which is bounded.
#[derive(Debug, Default)]
struct Retained {
    blocks: Vec<Vec<u8>>,
}

/// Size of each retained block.
const RETAINED_BLOCK: usize = 1 << 20;

impl Retained {
    fn extend(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match self.blocks.last_mut() {
                Some(block) if block.len() < block.capacity() => {
                    let room = (block.capacity() - block.len()).min(bytes.len());
                    block.extend_from_slice(&bytes[..room]);
                    bytes = &bytes[room..];
                }
                _ => self.blocks.push(Vec::with_capacity(RETAINED_BLOCK)),
            }
        }
    }

    fn into_reader(self) -> RetainedReader {
        RetainedReader {
            blocks: self.blocks.into_iter(),
            current: Cursor::new(Vec::new()),
        }
    }
}

/// Reads the retained blocks back in order.
struct RetainedReader {
    blocks: std::vec::IntoIter<Vec<u8>>,
    current: Cursor<Vec<u8>>,
}

impl Read for RetainedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let read = self.current.read(buf)?;
            if read > 0 || buf.is_empty() {
                return Ok(read);
            }
            match self.blocks.next() {
                Some(block) => self.current = Cursor::new(block),
                None => return Ok(0),
            }
        }
    }
}

/// A reader that keeps a copy of everything read through it.
struct Retain<R> {
    inner: R,
    kept: Retained,
}

impl<R: Read> Read for Retain<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.kept.extend(&buf[..read]);
        Ok(read)
    }
}

/// `text` cut to at most `max_chars` characters, and whether it was cut.
pub(crate) fn clip(text: &str, max_chars: usize) -> (&str, bool) {
    // Characters are at least a byte each, so a short text needs no counting.
    if text.len() <= max_chars {
        return (text, false);
    }
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => (&text[..end], true),
        None => (text, false),
    }
}

/// The record's fields as text, or the error naming its line.
fn fields(record: &ByteRecord) -> Result<Vec<&str>, AnalysisError> {
    record
        .iter()
        .map(|field| {
            std::str::from_utf8(field)
                .map_err(|_| AnalysisError::InvalidUtf8 { line: line(record) })
        })
        .collect()
}

/// The physical line (1-based) where the record starts.
fn line(record: &ByteRecord) -> u64 {
    record.position().map_or(0, csv::Position::line)
}
