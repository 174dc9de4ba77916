//! Unit tests for the analysis engine, by concern: reading the file, the statistics on
//! hand-computed examples, and behaviour at scale.

mod reading;
mod relations;
mod scale;
mod statistics;

use super::{Analysis, AnalysisError, Column, Options, analyze};

/// Analyses `csv` with default options, expecting success.
fn run(csv: &str) -> Analysis {
    analyze(csv.as_bytes(), &Options::default()).expect("analysis succeeds")
}

/// Analyses `bytes` with default options, expecting failure.
fn fail(bytes: &[u8]) -> AnalysisError {
    analyze(bytes, &Options::default()).expect_err("analysis fails")
}

/// The column called `name`.
fn column<'a>(analysis: &'a Analysis, name: &str) -> &'a Column {
    analysis
        .columns
        .iter()
        .find(|column| column.name == name)
        .expect("column exists")
}

/// Asserts `actual` equals `expected` to 1e-12 relative.
#[track_caller]
fn close(actual: f64, expected: f64) {
    let tolerance = 1e-12 * expected.abs().max(1.0);
    assert!(
        (actual - expected).abs() <= tolerance,
        "{actual} is not {expected}"
    );
}
