//! What a single cell holds: missing, or the narrowest value it parses as. Columns combine
//! these per-cell answers into a column type (see [`super::column`]).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};

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
    Datetime(DateTime<Utc>),
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
    if let Some(instant) = parse_datetime(text) {
        return Cell::Datetime(instant);
    }
    match text.parse::<f64>() {
        Ok(number) if number.is_finite() => Cell::Number(number),
        _ => Cell::Text,
    }
}

/// Blank cells and the markers `NA`, `N/A`, `null` and `NaN` (any case). `NaN` is here
/// because pandas and R write it for a missing number.
fn is_missing(text: &str) -> bool {
    text.is_empty()
        || ["na", "n/a", "null", "nan"]
            .iter()
            .any(|marker| text.eq_ignore_ascii_case(marker))
}

fn parse_boolean(text: &str) -> Option<bool> {
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

/// Parses the accepted date and date-time forms:
///
/// - `YYYY-MM-DD` or `YYYY/MM/DD` (midnight UTC);
/// - either date, then `T` or a space, then `HH:MM`, optional `:SS`, optional fraction
///   (`.` or `,`, up to 9 digits), then optional `Z` or an offset `±HH`, `±HHMM`, `±HH:MM`.
///
/// Without an offset the time is taken as UTC. Day-first and month-first forms such as
/// `01/02/2012` are not accepted: they cannot be told apart, so such columns stay text.
pub(super) fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    let year = digits(bytes, 0, 4)?;
    let separator = *bytes.get(4)?;
    if !matches!(separator, b'-' | b'/') || bytes.get(7) != Some(&separator) {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year as i32, digits(bytes, 5, 2)?, digits(bytes, 8, 2)?)?;
    let rest = &bytes[10..];
    let Some((&between, rest)) = rest.split_first() else {
        return Some(date.and_time(NaiveTime::MIN).and_utc());
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
    let local = date.and_time(NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?);
    let offset = parse_offset(rest)?;
    Some(
        offset
            .from_local_datetime(&local)
            .single()?
            .with_timezone(&Utc),
    )
}

/// The zone suffix of a date-time: nothing (UTC), `Z`, `±HH`, `±HHMM` or `±HH:MM`.
fn parse_offset(rest: &[u8]) -> Option<FixedOffset> {
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
    FixedOffset::east_opt(seconds)
}

/// The unsigned decimal in `bytes[start..start + len]`, if all of it is ASCII digits.
fn digits(bytes: &[u8], start: usize, len: usize) -> Option<u32> {
    let slice = bytes.get(start..start + len)?;
    slice.iter().try_fold(0u32, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}
