//! Counts the header's columns as the upload arrives, before any analysis runs, so a
//! header over `max_columns` is refused while the body is still coming in.
//!
//! It reads the header the way [`super::analyze`] does: the delimiter comes from the same
//! sniff of the header line (kept in memory only until the sniff decides, at most
//! `MAX_HEADER_BYTES` and one chunk), and the fields are counted by the same CSV parser
//! (`csv-core`, which the `csv` reader runs on), so both give the same count.

use csv_core::{ReadFieldResult, Reader, ReaderBuilder};

use super::AnalysisError;
use super::sniff::{self, Scan};

/// Scratch room for field bytes, which are counted, not kept.
const FIELD_SCRATCH_BYTES: usize = 4 * 1024;

/// The header's column count so far; feed it the upload's bytes in order.
#[derive(Debug)]
pub struct HeaderCheck {
    max_columns: usize,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Looking for the delimiter; the bytes are kept to be counted once it is known.
    Sniffing {
        prefix: Vec<u8>,
        scan: Scan,
        bom_checked: bool,
    },
    /// Counting fields of the first record.
    Counting { reader: Box<Reader>, fields: usize },
    /// The header ended within the limit.
    Done,
}

impl HeaderCheck {
    /// A check against `max_columns`.
    pub fn new(max_columns: usize) -> Self {
        Self {
            max_columns,
            state: State::Sniffing {
                prefix: Vec::new(),
                scan: Scan::default(),
                bom_checked: false,
            },
        }
    }

    /// Takes the next bytes of the upload.
    ///
    /// # Errors
    ///
    /// [`AnalysisError::TooManyColumns`] as soon as the header has more than `max_columns`
    /// fields; every later call fails the same way.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), AnalysisError> {
        match &mut self.state {
            State::Done => Ok(()),
            State::Counting { .. } => self.count(bytes),
            State::Sniffing {
                prefix,
                scan,
                bom_checked,
            } => {
                prefix.extend_from_slice(bytes);
                if !*bom_checked {
                    if prefix.len() < sniff::BOM.len() && sniff::BOM.starts_with(prefix) {
                        return Ok(());
                    }
                    if prefix.starts_with(sniff::BOM) {
                        prefix.drain(..sniff::BOM.len());
                    }
                    *bom_checked = true;
                }
                scan.feed(prefix);
                if !scan.decided(prefix.len()) {
                    return Ok(());
                }
                let delimiter = scan.delimiter();
                let prefix = std::mem::take(prefix);
                self.state = State::Counting {
                    reader: Box::new(ReaderBuilder::new().delimiter(delimiter).build()),
                    fields: 0,
                };
                self.count(&prefix)
            }
        }
    }

    fn count(&mut self, mut input: &[u8]) -> Result<(), AnalysisError> {
        let State::Counting { reader, fields } = &mut self.state else {
            return Ok(());
        };
        let mut scratch = [0u8; FIELD_SCRATCH_BYTES];
        loop {
            if *fields > self.max_columns {
                return Err(AnalysisError::TooManyColumns {
                    found: *fields,
                    max: self.max_columns,
                });
            }
            // Empty input tells the parser the file has ended, so never pass it.
            if input.is_empty() {
                return Ok(());
            }
            let (result, read, _) = reader.read_field(input, &mut scratch);
            input = &input[read..];
            match result {
                ReadFieldResult::InputEmpty | ReadFieldResult::OutputFull => {}
                ReadFieldResult::Field { record_end } => {
                    *fields += 1;
                    // A blank line before the header is skipped by the reader and never
                    // yields a field, so the first record end is the header's.
                    if record_end {
                        if *fields > self.max_columns {
                            continue;
                        }
                        self.state = State::Done;
                        return Ok(());
                    }
                }
                ReadFieldResult::End => {
                    self.state = State::Done;
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(max: usize, chunks: &[&[u8]]) -> Result<(), AnalysisError> {
        let mut check = HeaderCheck::new(max);
        chunks.iter().try_for_each(|chunk| check.push(chunk))
    }

    #[test]
    fn a_header_within_the_limit_passes_whatever_follows() {
        assert!(check(3, &[b"a,b", b",c\n1,2,3,4,5\n"]).is_ok());
        assert!(check(2, &[b"\xEF\xBB", b"\xBFa;b\n", b"1;2\n"]).is_ok());
        assert!(
            check(2, &[b"\"x,y\",z\n"]).is_ok(),
            "quoted delimiters are one field"
        );
    }

    #[test]
    fn a_header_over_the_limit_fails() {
        let error = check(3, &[b"a,b,c,d,e,f,g\n"]).expect_err("too many");
        assert!(matches!(
            error,
            AnalysisError::TooManyColumns { found: 4, max: 3 }
        ));
        assert!(
            check(1, &[b"a\tb\n"]).is_err(),
            "tab is sniffed as the delimiter"
        );
    }

    #[test]
    fn a_long_header_is_counted_past_the_sniff() {
        let mut header = "x,".repeat(sniff::MAX_HEADER_BYTES).into_bytes();
        header.push(b'\n');
        let chunks: Vec<&[u8]> = header.chunks(64 * 1024).collect();
        assert!(check(sniff::MAX_HEADER_BYTES, &chunks).is_err());
        assert!(check(sniff::MAX_HEADER_BYTES + 1, &chunks).is_ok());
    }
}
