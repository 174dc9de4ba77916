//! Looks at the start of the input before the CSV reader does: strips a UTF-8 byte order
//! mark and picks the delimiter from the header line.

use std::io::{self, Read};

/// The UTF-8 byte order mark some spreadsheet exports put before the header.
pub(super) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How far to look for the end of the header line; a header longer than this is sniffed
/// from its first part.
pub(super) const MAX_HEADER_BYTES: usize = 1 << 20;

/// The delimiters we recognise, in the order that breaks ties.
const CANDIDATES: [u8; 3] = [b',', b';', b'\t'];

/// The bytes read while sniffing, to be replayed to the CSV reader, and what they showed.
#[derive(Debug)]
pub(super) struct Sniffed {
    /// Everything read so far, minus any byte order mark.
    pub(super) prefix: Vec<u8>,
    /// The delimiter the header line uses.
    pub(super) delimiter: u8,
}

/// Reads up to the end of the header line (a newline outside quotes), strips a BOM, and
/// picks whichever of `,` `;` tab occurs most often outside quotes (ties and none: `,`).
pub(super) fn sniff<R: Read>(input: &mut R) -> io::Result<Sniffed> {
    let mut prefix = Vec::with_capacity(8 * 1024);
    let mut chunk = [0u8; 8 * 1024];
    let mut scan = Scan::default();
    let mut bom_checked = false;
    while !scan.decided(prefix.len()) {
        let read = match input.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        prefix.extend_from_slice(&chunk[..read]);
        if !bom_checked {
            if prefix.len() < BOM.len() && BOM.starts_with(&prefix) {
                continue;
            }
            if prefix.starts_with(BOM) {
                prefix.drain(..BOM.len());
            }
            bom_checked = true;
        }
        scan.feed(&prefix);
    }
    Ok(Sniffed {
        delimiter: scan.delimiter(),
        prefix,
    })
}

/// Incremental scan of the header line, so each byte is looked at once.
#[derive(Debug, Default)]
pub(super) struct Scan {
    /// Bytes of the prefix already scanned.
    at: usize,
    /// Inside a quoted field.
    quoted: bool,
    /// Where the header line ends, once found.
    line_end: Option<usize>,
    /// Occurrences of each candidate outside quotes.
    counts: [usize; CANDIDATES.len()],
}

impl Scan {
    /// Scans what `prefix` holds beyond the bytes already scanned.
    pub(super) fn feed(&mut self, prefix: &[u8]) {
        for (offset, &byte) in prefix[self.at..].iter().enumerate() {
            match byte {
                b'"' => self.quoted = !self.quoted,
                b'\n' | b'\r' if !self.quoted => {
                    self.line_end = Some(self.at + offset);
                    break;
                }
                _ if !self.quoted => {
                    if let Some(slot) = CANDIDATES.iter().position(|&c| c == byte) {
                        self.counts[slot] += 1;
                    }
                }
                _ => {}
            }
        }
        self.at = prefix.len();
    }

    /// Whether the delimiter is decided: the header line has ended, or `scanned` bytes
    /// are as many as [`sniff`] looks at.
    pub(super) fn decided(&self, scanned: usize) -> bool {
        self.line_end.is_some() || scanned >= MAX_HEADER_BYTES
    }

    /// The candidate seen most often outside quotes (ties and none: `,`).
    pub(super) fn delimiter(&self) -> u8 {
        let mut best = 0;
        for slot in 1..CANDIDATES.len() {
            if self.counts[slot] > self.counts[best] {
                best = slot;
            }
        }
        CANDIDATES[best]
    }
}
