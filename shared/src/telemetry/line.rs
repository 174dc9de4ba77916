//! Log lines formatted by hand, for a line written once per request (the proxy's access
//! log): the same shape as the subscriber's own lines, human or JSON, but built into one
//! reused per-thread buffer without `tracing`'s field visitors, and queued on the
//! non-blocking writer as one message. Its cost per line is a few hundred instructions
//! of formatting and one copy into the queue, where `tracing`'s formatter spends tens of
//! thousands on `Debug`-escaping each field.
//!
//! Strings and displayed values are quoted and escaped in both formats, so nothing a
//! client sends (a path, an error naming its input) can end a line or forge a field.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing_appender::non_blocking::NonBlocking;
use tracing_subscriber::fmt::MakeWriter;

use super::LogFormat;

/// Where [`info`] writes: the queued writer [`super::init_non_blocking`] installed, and
/// the format it was installed with.
pub(super) struct Sink {
    pub(super) writer: NonBlocking,
    pub(super) format: LogFormat,
}

pub(super) static SINK: std::sync::OnceLock<Sink> = std::sync::OnceLock::new();

thread_local! {
    /// The line being built, kept between lines so a line costs no allocation of its own.
    static BUFFER: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(512));
    /// The timestamp's `YYYY-MM-DDTHH:MM:SS` for the last second seen on this thread.
    static SECOND: RefCell<(u64, [u8; 19])> = const { RefCell::new((u64::MAX, [0; 19])) };
}

/// Writes one INFO line for `target` with the fields `fill` adds. The caller checks that
/// the target is enabled (`tracing::enabled!`, which honours `RUST_LOG`). Without the
/// queued writer (tests, or [`super::init`]) the fields go through `tracing` instead.
pub fn info(target: &'static str, fill: impl FnOnce(&mut Line<'_>)) {
    BUFFER.with_borrow_mut(|buffer| {
        buffer.clear();
        let Some(sink) = SINK.get() else {
            fill(&mut Line::new(buffer, LogFormat::Human));
            tracing::info!("{target}: {}", String::from_utf8_lossy(buffer));
            return;
        };
        render(buffer, sink.format, SystemTime::now(), target, fill);
        // One write, one queued message; a full queue drops it and counts the drop.
        let _ = sink.writer.make_writer().write_all(buffer);
    });
}

/// The whole line, newline included, for a clock reading of `now`.
fn render(
    buffer: &mut Vec<u8>,
    format: LogFormat,
    now: SystemTime,
    target: &str,
    fill: impl FnOnce(&mut Line<'_>),
) {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    match format {
        LogFormat::Human => {
            timestamp(buffer, since_epoch);
            buffer.extend_from_slice(b"  INFO ");
            buffer.extend_from_slice(target.as_bytes());
            buffer.push(b':');
            fill(&mut Line::new(buffer, format));
        }
        LogFormat::Json => {
            buffer.extend_from_slice(b"{\"timestamp\":\"");
            timestamp(buffer, since_epoch);
            buffer.extend_from_slice(b"\",\"level\":\"INFO\"");
            fill(&mut Line::new(buffer, format));
            buffer.extend_from_slice(b",\"target\":");
            quoted(buffer, format, target);
            buffer.push(b'}');
        }
    }
    buffer.push(b'\n');
}

/// The fields of one line, in the order they are added.
pub struct Line<'a> {
    buffer: &'a mut Vec<u8>,
    format: LogFormat,
}

impl<'a> Line<'a> {
    fn new(buffer: &'a mut Vec<u8>, format: LogFormat) -> Self {
        Self { buffer, format }
    }

    /// `name="value"`, escaped.
    pub fn str(&mut self, name: &str, value: &str) -> &mut Self {
        self.name(name);
        quoted(self.buffer, self.format, value);
        self
    }

    /// `name=value` for a count.
    pub fn u64(&mut self, name: &str, value: u64) -> &mut Self {
        self.name(name);
        self.buffer
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        self
    }

    /// `name=1.234`: a duration in milliseconds with microsecond precision.
    pub fn millis(&mut self, name: &str, value: Duration) -> &mut Self {
        self.name(name);
        let micros = value.as_micros();
        let mut digits = itoa::Buffer::new();
        self.buffer
            .extend_from_slice(digits.format(micros / 1000).as_bytes());
        let fraction = digits.format(1000 + micros % 1000).as_bytes();
        self.buffer.push(b'.');
        self.buffer.extend_from_slice(&fraction[1..]);
        self
    }

    /// `name="value"` for anything displayed, escaped as a string is.
    pub fn display(&mut self, name: &str, value: &dyn fmt::Display) -> &mut Self {
        self.name(name);
        self.buffer.push(b'"');
        let _ = write!(
            Escaper {
                buffer: self.buffer,
                format: self.format,
            },
            "{value}"
        );
        self.buffer.push(b'"');
        self
    }

    fn name(&mut self, name: &str) {
        match self.format {
            LogFormat::Human => {
                self.buffer.push(b' ');
                self.buffer.extend_from_slice(name.as_bytes());
                self.buffer.push(b'=');
            }
            LogFormat::Json => {
                self.buffer.extend_from_slice(b",\"");
                self.buffer.extend_from_slice(name.as_bytes());
                self.buffer.extend_from_slice(b"\":");
            }
        }
    }
}

fn quoted(buffer: &mut Vec<u8>, format: LogFormat, value: &str) {
    buffer.push(b'"');
    escape(buffer, format, value);
    buffer.push(b'"');
}

/// Escapes what would end the string or the line: quotes, backslashes and control
/// characters (`\n`, `\r`, `\t` by name, the rest by code).
fn escape(buffer: &mut Vec<u8>, format: LogFormat, value: &str) {
    let bytes = value.as_bytes();
    let clean = clean_prefix(bytes);
    buffer.extend_from_slice(&bytes[..clean]);
    let mut start = clean;
    for (index, &byte) in bytes.iter().enumerate().skip(clean) {
        if !is_special(byte) {
            continue;
        }
        let named: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => b"",
        };
        buffer.extend_from_slice(&bytes[start..index]);
        start = index + 1;
        if named.is_empty() {
            let hex = |n: u8| b"0123456789abcdef"[usize::from(n)];
            let code = [hex(byte >> 4), hex(byte & 0xf)];
            buffer.extend_from_slice(match format {
                LogFormat::Human => b"\\x",
                LogFormat::Json => b"\\u00",
            });
            buffer.extend_from_slice(&code);
        } else {
            buffer.extend_from_slice(named);
        }
    }
    buffer.extend_from_slice(&bytes[start..]);
}

/// Whether [`escape`] rewrites `byte`.
fn is_special(byte: u8) -> bool {
    matches!(byte, b'"' | b'\\' | 0..=0x1f | 0x7f)
}

/// How many leading bytes need no escaping, found eight at a time (the last few padded
/// to eight): the fields are almost always clean, and a byte-by-byte scan was a third of a
/// line's cost. All of `bytes`, or a multiple of eight that may fall short of the first
/// special byte; [`escape`] goes on from there one byte at a time.
fn clean_prefix(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // A byte of `w` is zero: its lane's high bit in the result (exact as "any").
    let has_zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGHS;
    // Bytes under 0x20 (a byte of 0x80 or more has its own high bit, so is excluded), and
    // bytes equal to '"', '\\' or DEL.
    let special = |word: u64| {
        (word.wrapping_sub(ONES * 0x20) & !word & HIGHS)
            | has_zero(word ^ (ONES * u64::from(b'"')))
            | has_zero(word ^ (ONES * u64::from(b'\\')))
            | has_zero(word ^ (ONES * 0x7f))
            != 0
    };
    let chunks = bytes.chunks_exact(8);
    let rest = chunks.remainder();
    let mut clean = 0;
    for chunk in chunks {
        if special(u64::from_ne_bytes(chunk.try_into().expect("eight bytes"))) {
            return clean;
        }
        clean += 8;
    }
    let mut padded = [b'a'; 8];
    padded[..rest.len()].copy_from_slice(rest);
    if special(u64::from_ne_bytes(padded)) {
        clean
    } else {
        bytes.len()
    }
}

/// Escapes displayed text as it is written.
struct Escaper<'a> {
    buffer: &'a mut Vec<u8>,
    format: LogFormat,
}

impl fmt::Write for Escaper<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        escape(self.buffer, self.format, text);
        Ok(())
    }
}

/// `YYYY-MM-DDTHH:MM:SS.uuuuuuZ` (UTC, RFC 3339), as the subscriber's own lines have; the
/// date and time of day are formatted once per second per thread.
fn timestamp(buffer: &mut Vec<u8>, since_epoch: Duration) {
    let seconds = since_epoch.as_secs();
    SECOND.with_borrow_mut(|(cached, text)| {
        if *cached != seconds {
            *cached = seconds;
            *text = civil(seconds);
        }
        buffer.extend_from_slice(text);
    });
    let mut digits = itoa::Buffer::new();
    let micros = digits.format(1_000_000 + since_epoch.subsec_micros());
    buffer.push(b'.');
    buffer.extend_from_slice(&micros.as_bytes()[1..]);
    buffer.push(b'Z');
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SS`, by Howard Hinnant's days-to-civil
/// algorithm (proleptic Gregorian calendar).
fn civil(seconds: u64) -> [u8; 19] {
    let days = i64::try_from(seconds / 86_400).unwrap_or(i64::MAX);
    let of_day = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let mut text = String::with_capacity(19);
    let _ = write!(
        text,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    );
    let mut out = [b'0'; 19];
    out.copy_from_slice(&text.as_bytes()[..19]);
    out
}

#[cfg(test)]
mod tests;
