//! Why an analysis can fail. Every variant aborts the whole analysis: the caller stores
//! nothing and shows the message, which is written for the person who uploaded the file.

use std::io;

/// A CSV file that cannot be analysed, or an input stream that failed.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// The input is empty or holds only whitespace, so there are no column names.
    #[error("missing header row")]
    MissingHeader,
    /// The header has more columns than the limit allows.
    #[error(
        "line 1: the header has at least {found} columns; at most {max} are accepted (max_columns)"
    )]
    TooManyColumns {
        /// Fields in the header, or as many as were counted before the check stopped.
        found: usize,
        /// The configured `max_columns`.
        max: usize,
    },
    /// A record has a different number of fields than the header.
    #[error("line {line}: expected {expected} fields, found {found}")]
    RaggedRow {
        /// The physical line (1-based) where the record starts.
        line: u64,
        /// Fields in the header.
        expected: usize,
        /// Fields in this record.
        found: usize,
    },
    /// A record holds bytes that are not UTF-8.
    #[error("line {line}: invalid UTF-8")]
    InvalidUtf8 {
        /// The physical line (1-based) where the record starts.
        line: u64,
    },
    /// Reading the input failed; the `io::Error` is kept as the source so a caller can
    /// recognise its own error (an aborted upload, a size limit) and answer accordingly.
    #[error("could not read the file: {0}")]
    Io(#[source] io::Error),
}

impl AnalysisError {
    /// The 1-based physical line where the offending record starts, for errors tied to one.
    pub fn line(&self) -> Option<u64> {
        match self {
            Self::RaggedRow { line, .. } | Self::InvalidUtf8 { line } => Some(*line),
            Self::TooManyColumns { .. } => Some(1),
            Self::MissingHeader | Self::Io(_) => None,
        }
    }
}

impl From<csv::Error> for AnalysisError {
    /// With flexible records and byte records, csv fails only on I/O; anything else is
    /// still reported as an I/O error of kind `InvalidData` rather than dropped.
    fn from(err: csv::Error) -> Self {
        match err.into_kind() {
            csv::ErrorKind::Io(io) => Self::Io(io),
            other => Self::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{other:?}"),
            )),
        }
    }
}
