//! What the lab keeps of every request, and `requests.csv`, the file it is written to.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A complete response.
    Response {
        /// Its status code.
        status: u16,
        /// Its `X-Instance` header, naming the origin that answered.
        instance: Option<String>,
    },
    /// No complete response: the kind of transport failure (`timeout`, `reset`, ...).
    Error(&'static str),
}

impl Outcome {
    /// What a failed request counts as in the summary: its status or its error kind;
    /// `None` for a 2xx or 3xx response.
    pub fn failure_kind(&self) -> Option<String> {
        match self {
            Self::Response { status, .. } if *status < 400 => None,
            Self::Response { status, .. } => Some(status.to_string()),
            Self::Error(kind) => Some((*kind).to_owned()),
        }
    }

    /// The answering instance, when the response named one.
    pub fn instance(&self) -> Option<&str> {
        match self {
            Self::Response { instance, .. } => instance.as_deref(),
            Self::Error(_) => None,
        }
    }
}

/// One request, as a row of `requests.csv`.
#[derive(Debug, Clone)]
pub struct Record {
    /// When the schedule sent it, from the start of the run.
    pub start: Duration,
    /// From its scheduled send until it ended, any wait for a free connection included.
    pub latency: Duration,
    /// Which `--url` it went to (0-based).
    pub url: usize,
    /// How it ended.
    pub outcome: Outcome,
}

/// The CSV header; one home for the column names the tests and readers rely on.
pub const CSV_HEADER: [&str; 6] = [
    "start_ms",
    "latency_ms",
    "url",
    "status",
    "error",
    "instance",
];

/// Writes every record to `path`, in the order they were scheduled.
pub fn write_csv(path: &Path, records: &[Record], urls: &[String]) -> anyhow::Result<()> {
    let mut writer =
        csv::Writer::from_path(path).with_context(|| format!("create {}", path.display()))?;
    writer.write_record(CSV_HEADER)?;
    for record in records {
        let (status, error, instance) = match &record.outcome {
            Outcome::Response { status, instance } => (
                status.to_string(),
                String::new(),
                instance.clone().unwrap_or_default(),
            ),
            Outcome::Error(kind) => (String::new(), (*kind).to_owned(), String::new()),
        };
        writer.write_record([
            format!("{:.3}", ms(record.start)),
            format!("{:.3}", ms(record.latency)),
            urls.get(record.url).cloned().unwrap_or_default(),
            status,
            error,
            instance,
        ])?;
    }
    writer
        .flush()
        .with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

/// A duration in fractional milliseconds, the unit of every output file.
pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
