//! PLACEHOLDER with the fixed API; the real CSV analysis replaces this file at merge.

use std::io::Read;

/// Analysis knobs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Distinct values counted exactly up to this many.
    pub distinct_exact_cap: usize,
    /// Rows kept as a preview.
    pub preview_rows: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            distinct_exact_cap: 10_000,
            preview_rows: 20,
        }
    }
}

/// The result of analysing one CSV file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Analysis {
    /// Data rows (header excluded).
    pub rows: u64,
    /// The delimiter used.
    pub delimiter: String,
    /// One entry per column.
    pub columns: Vec<Column>,
    /// The first rows.
    pub preview: Vec<Vec<String>>,
}

/// One column's statistics.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Column {
    /// Header name.
    pub name: String,
    /// Inferred type.
    #[serde(rename = "type")]
    pub kind: String,
}

/// Why a CSV could not be analysed.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// Reading failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    /// Bad CSV.
    #[error("line {line}: {message}")]
    Malformed {
        /// 1-based line.
        line: u64,
        /// What is wrong.
        message: String,
    },
}

impl AnalysisError {
    /// The line at fault, when known.
    pub fn line(&self) -> Option<u64> {
        match self {
            Self::Malformed { line, .. } => Some(*line),
            Self::Io(_) => None,
        }
    }
}

/// Placeholder: counts rows and checks field counts.
///
/// # Errors
///
/// Read failures and ragged rows.
pub fn analyze<R: Read>(input: R, options: &Options) -> Result<Analysis, AnalysisError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(input);
    let mut header: Option<Vec<String>> = None;
    let mut rows = 0u64;
    let mut preview = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index as u64 + 1;
        let record = record.map_err(|error| match error.into_kind() {
            csv::ErrorKind::Io(io) => AnalysisError::Io(io),
            other => AnalysisError::Malformed {
                line,
                message: format!("{other:?}"),
            },
        })?;
        let fields: Vec<String> = record.iter().map(str::to_owned).collect();
        match &header {
            None => header = Some(fields),
            Some(names) => {
                if names.len() != fields.len() {
                    return Err(AnalysisError::Malformed {
                        line,
                        message: format!("expected {} fields, found {}", names.len(), fields.len()),
                    });
                }
                rows += 1;
                if preview.len() < options.preview_rows {
                    preview.push(fields);
                }
            }
        }
    }
    let Some(names) = header else {
        return Err(AnalysisError::Malformed {
            line: 1,
            message: "missing header".to_owned(),
        });
    };
    Ok(Analysis {
        rows,
        delimiter: ",".to_owned(),
        columns: names
            .into_iter()
            .map(|name| Column {
                name,
                kind: "text".to_owned(),
            })
            .collect(),
        preview,
    })
}
