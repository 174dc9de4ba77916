//! What a single cell holds: missing, or the narrowest value it parses as. Columns combine
//! these per-cell answers into a column type (see [`super::column`]).

use chrono::{DateTime, Utc};

/// One cell, classified on its own. A non-missing cell parses as at most one of boolean,
/// number (integer or not) and datetime, which is what lets a column track one candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Cell {
    /// Blank, or a missing-value marker.
    Missing,
    /// true/false, yes/no, t/f.
    Boolean(bool),
    /// Fits an `i64`.
    Integer(i64),
    /// A finite `f64` that is not an `i64`.
    Number(f64),
    /// A date or date-time, as an instant in UTC.
    Datetime(Instant),
    /// None of the above.
    Text,
}

/// Classifies a trimmed cell.
pub(super) fn classify(text: &str) -> Cell {
    if is_missing(text) {
        return Cell::Missing;
    }
    if let Some(flag) = parse_boolean(text) {
        return Cell::Boolean(flag);
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return Cell::Text;
    }
    if let Ok(int) = text.parse::<i64>() {
        return Cell::Integer(int);
    }
    if let Some(instant) = parse_instant(text.as_bytes()) {
        return Cell::Datetime(instant);
    }
    match text.parse::<f64>() {
        Ok(number) if number.is_finite() => Cell::Number(number),
        _ => Cell::Text,
    }
}

/// Blank cells and the markers `NA`, `N/A`, `null` and `NaN` (any case). `NaN` is here
/// because pandas and R write it for a missing number.
pub(super) fn is_missing(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.is_empty()
        || (bytes.len() <= 4
            && [&b"na"[..], b"n/a", b"null", b"nan"]
                .iter()
                .any(|marker| bytes.eq_ignore_ascii_case(marker)))
}

/// true/false, yes/no, t/f in any case.
pub(super) fn parse_boolean(text: &str) -> Option<bool> {
    if text.len() > 5 {
        return None;
    }
    let is = |word: &str| text.eq_ignore_ascii_case(word);
    if is("true") || is("yes") || is("t") {
        Some(true)
    } else if is("false") || is("no") || is("f") {
        Some(false)
    } else {
        None
    }
}

/// [`parse_instant`] as a `DateTime`.
#[cfg(test)]
pub(super) fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    parse_instant(text.as_bytes())?.to_utc()
}

/// An instant as Unix seconds and nanoseconds past them, ordered like time itself. Cheaper
/// than a `DateTime` to build and compare once per cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Instant {
    pub(super) seconds: i64,
    pub(super) nanos: u32,
}

impl Instant {
    /// The same instant as a `DateTime`, for rendering.
    pub(super) fn to_utc(self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(self.seconds, self.nanos)
    }

    /// Unix seconds with the fraction, the scale datetime statistics are computed on.
    pub(super) fn as_f64(self) -> f64 {
        self.seconds as f64 + f64::from(self.nanos) * 1e-9
    }
}

/// Parses the accepted date and date-time forms:
///
/// - `YYYY-MM-DD` or `YYYY/MM/DD` (midnight UTC);
/// - either date, then `T` or a space, then `HH:MM`, optional `:SS`, optional fraction
///   (`.` or `,`, up to 9 digits), then optional `Z` or an offset `±HH`, `±HHMM`, `±HH:MM`.
///
/// Without an offset the time is taken as UTC. Day-first and month-first forms such as
/// `01/02/2012` are not accepted: they cannot be told apart, so such columns stay text.
pub(super) fn parse_instant(bytes: &[u8]) -> Option<Instant> {
    let year = digits(bytes, 0, 4)?;
    let separator = *bytes.get(4)?;
    if !matches!(separator, b'-' | b'/') || bytes.get(7) != Some(&separator) {
        return None;
    }
    let (month, day) = (digits(bytes, 5, 2)?, digits(bytes, 8, 2)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(i64::from(year), i64::from(month), i64::from(day));
    let rest = &bytes[10..];
    let Some((&between, rest)) = rest.split_first() else {
        return Some(Instant {
            seconds: days * 86_400,
            nanos: 0,
        });
    };
    if !matches!(between, b'T' | b't' | b' ') {
        return None;
    }
    let hour = digits(rest, 0, 2)?;
    if rest.get(2) != Some(&b':') {
        return None;
    }
    let minute = digits(rest, 3, 2)?;
    let mut rest = &rest[5..];
    let (mut second, mut nanos) = (0, 0);
    if rest.first() == Some(&b':') {
        second = digits(rest, 1, 2)?;
        rest = &rest[3..];
        if matches!(rest.first(), Some(b'.' | b',')) {
            let len = rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
            if len == 0 || len > 9 {
                return None;
            }
            nanos = digits(rest, 1, len)? * 10u32.pow(9 - len as u32);
            rest = &rest[1 + len..];
        }
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let offset = parse_offset(rest)?;
    let local = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some(Instant {
        seconds: local - i64::from(offset),
        nanos,
    })
}

/// The zone suffix of a date-time in seconds east of UTC: nothing (UTC), `Z`, `±HH`,
/// `±HHMM` or `±HH:MM`; less than a day either way, as `chrono::FixedOffset` requires.
fn parse_offset(rest: &[u8]) -> Option<i32> {
    let seconds = match rest {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), zone @ ..] => {
            let minutes = match zone.len() {
                2 => 0,
                4 => digits(zone, 2, 2)?,
                5 if zone[2] == b':' => digits(zone, 3, 2)?,
                _ => return None,
            };
            let seconds = (digits(zone, 0, 2)? * 60 + minutes) as i32 * 60;
            if *sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    (seconds.abs() < 86_400).then_some(seconds)
}

/// Days in `month` (1-12) of `year` in the proleptic Gregorian calendar.
fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given valid date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The unsigned decimal in `bytes[start..start + len]`, if all of it is ASCII digits.
fn digits(bytes: &[u8], start: usize, len: usize) -> Option<u32> {
    let slice = bytes.get(start..start + len)?;
    slice.iter().try_fold(0u32, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}
