//! One column's running summary while the file streams past.
//!
//! A column keeps only what its current type needs: counts for booleans, a vector of
//! values for numbers and datetimes, value counts for text. Each cell first tries the
//! fast parser of the type the column already has (most cells of a typed column are that
//! type) and falls back to [`classify`] only when that fails. A typed column that meets a
//! text value drops its values and becomes [`State::TextLater`]: its text statistics are
//! counted afterwards, in file order, from the retained input (see [`super::analyze`]), so
//! they come out exactly as if every cell had been counted as text from the start.

mod finish;

pub(super) use self::finish::Groups;

use super::frequency::{NO_GROUP, ValueCounts};
use super::infer::{Cell, Instant, classify, is_missing, parse_boolean, parse_instant};
use super::number::{Number, parse_number};
use super::rows::RowSet;

/// A cell that is not UTF-8; the caller names the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NotUtf8;

/// Everything kept about a column between rows.
#[derive(Debug)]
pub(super) struct ColumnSummary {
    name: String,
    /// Distinct-value cap, for the typed columns' distinct count and the text map.
    cap: usize,
    missing: u64,
    count: u64,
    /// The narrowest type every value so far fits, with what its statistics need.
    state: State,
    /// Rows whose cell is missing, for the statistics that line columns up row by row.
    missing_rows: RowSet,
    /// Longest text kept, in characters.
    max_chars: usize,
    /// Some text shown for this column (its name, a preview cell) was cut.
    truncated: bool,
}

/// The type a column can still be. Each cell parses as at most one of boolean, number
/// and datetime, so only one typed state is alive.
#[derive(Debug)]
enum State {
    /// No value yet.
    Empty,
    Boolean {
        trues: u64,
        falses: u64,
        /// Per row: 0 false, 1 true, [`NO_GROUP`] missing; rows past the end are missing.
        codes: Vec<u8>,
    },
    Numeric {
        /// Every value, in row order.
        values: Vec<f64>,
        /// Exact smallest and largest value while every value is an `i64`.
        integers: Option<(i64, i64)>,
    },
    Datetime {
        /// Unix seconds, in row order.
        values: Vec<f64>,
        /// Exact extremes, since seconds as `f64` may round sub-microsecond digits.
        range: (Instant, Instant),
    },
    /// Text from its first value on.
    Text {
        counts: Box<ValueCounts>,
        /// Per row, the value's group code while the column has few enough values.
        codes: Vec<u8>,
    },
    /// Text that was typed for a while: only `count` and `missing` are kept while
    /// streaming; the text statistics come from a second look at the retained input.
    TextLater,
}

impl ColumnSummary {
    pub(super) fn new(name: String, name_cut: bool, cap: usize, max_chars: usize) -> Self {
        Self {
            name,
            cap,
            missing: 0,
            count: 0,
            state: State::Empty,
            missing_rows: RowSet::default(),
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

    /// Whether the text statistics still need the second look at the input.
    pub(super) fn needs_text_pass(&self) -> bool {
        matches!(self.state, State::TextLater)
    }

    /// Starts the second look: fresh text counts, fed by [`Self::push_text`].
    pub(super) fn start_text_pass(&mut self) {
        self.state = State::Text {
            counts: Box::new(ValueCounts::new(self.cap, self.max_chars)),
            codes: Vec::new(),
        };
    }

    /// Adds the cell of data row `row` (0-based), as read from the file.
    pub(super) fn push(&mut self, row: u64, raw: &[u8]) -> Result<(), NotUtf8> {
        // Fast paths accept ASCII only, so what they take is valid UTF-8 and needs none of
        // `str::trim`'s Unicode: anything else goes the general way below.
        let bytes = raw.trim_ascii();
        match &mut self.state {
            State::Numeric { values, integers } => {
                if let Some(number) = parse_number(bytes) {
                    self.count += 1;
                    push_number(values, integers, number);
                    return Ok(());
                }
            }
            State::Datetime { values, range } => {
                if let Some(instant) = parse_instant(bytes) {
                    self.count += 1;
                    values.push(instant.as_f64());
                    *range = (range.0.min(instant), range.1.max(instant));
                    return Ok(());
                }
            }
            State::Boolean {
                trues,
                falses,
                codes,
            } => {
                if let Some(flag) = std::str::from_utf8(bytes).ok().and_then(parse_boolean) {
                    self.count += 1;
                    *if flag { trues } else { falses } += 1;
                    set_code(codes, row, u8::from(flag));
                    return Ok(());
                }
            }
            State::Text { .. } | State::TextLater => {
                let text = utf8(raw)?.trim();
                if is_missing(text) {
                    self.missing_cell(row);
                } else {
                    self.count += 1;
                    self.count_text(row, text);
                }
                return Ok(());
            }
            State::Empty => {}
        }
        let text = utf8(raw)?.trim();
        match classify(text) {
            Cell::Missing => self.missing_cell(row),
            cell => {
                self.count += 1;
                self.absorb(row, cell, text);
            }
        }
        Ok(())
    }

    /// Counts the cell of row `row` as text, in the second look at the input. `count` and
    /// `missing` were settled by the first.
    pub(super) fn push_text(&mut self, row: u64, raw: &[u8]) -> Result<(), NotUtf8> {
        let text = utf8(raw)?.trim();
        if !is_missing(text) {
            self.count_text(row, text);
        }
        Ok(())
    }

    fn missing_cell(&mut self, row: u64) {
        self.missing += 1;
        self.missing_rows.insert(row);
    }

    fn count_text(&mut self, row: u64, text: &str) {
        if let State::Text { counts, codes } = &mut self.state {
            let code = counts.insert(text);
            if counts.labels().is_some() {
                set_code(codes, row, code);
            } else if !codes.is_empty() {
                *codes = Vec::new();
            }
        }
    }

    /// Narrows the state to fit a non-missing cell that its fast path did not take.
    fn absorb(&mut self, row: u64, cell: Cell, text: &str) {
        match (&mut self.state, cell) {
            (State::Empty, Cell::Boolean(flag)) => {
                let mut codes = Vec::new();
                set_code(&mut codes, row, u8::from(flag));
                self.state = State::Boolean {
                    trues: u64::from(flag),
                    falses: u64::from(!flag),
                    codes,
                };
            }
            (
                State::Boolean {
                    trues,
                    falses,
                    codes,
                },
                Cell::Boolean(flag),
            ) => {
                *if flag { trues } else { falses } += 1;
                set_code(codes, row, u8::from(flag));
            }
            (State::Empty, Cell::Integer(int)) => {
                self.state = State::Numeric {
                    values: vec![int as f64],
                    integers: Some((int, int)),
                };
            }
            (State::Empty, Cell::Number(number)) => {
                self.state = State::Numeric {
                    values: vec![number],
                    integers: None,
                };
            }
            (State::Numeric { values, integers }, Cell::Integer(int)) => {
                push_number(values, integers, Number::Integer(int));
            }
            (State::Numeric { values, integers }, Cell::Number(number)) => {
                push_number(values, integers, Number::Float(number));
            }
            (State::Empty, Cell::Datetime(instant)) => {
                self.state = State::Datetime {
                    values: vec![instant.as_f64()],
                    range: (instant, instant),
                };
            }
            (State::Datetime { values, range }, Cell::Datetime(instant)) => {
                values.push(instant.as_f64());
                *range = (range.0.min(instant), range.1.max(instant));
            }
            // Text from the first value on: count it from here.
            (State::Empty, _) => {
                self.start_text_pass();
                self.count_text(row, text);
            }
            // Mixed kinds, or text after typed values: the values are dropped and the text
            // statistics wait for the second look.
            _ => self.state = State::TextLater,
        }
    }
}

fn push_number(values: &mut Vec<f64>, integers: &mut Option<(i64, i64)>, number: Number) {
    match number {
        Number::Integer(int) => {
            values.push(int as f64);
            if let Some((min, max)) = integers {
                (*min, *max) = ((*min).min(int), (*max).max(int));
            }
        }
        Number::Float(float) => {
            values.push(float);
            *integers = None;
        }
    }
}

/// Records `code` for `row`, rows skipped since being missing.
fn set_code(codes: &mut Vec<u8>, row: u64, code: u8) {
    let row = usize::try_from(row).unwrap_or(usize::MAX);
    if codes.len() < row {
        codes.resize(row, NO_GROUP);
    }
    codes.push(code);
}

fn utf8(raw: &[u8]) -> Result<&str, NotUtf8> {
    std::str::from_utf8(raw).map_err(|_| NotUtf8)
}
