//! Tracing set-up, done once per process.
//!
//! Levels mean: ERROR, an operator must act; WARN, something failed and was recovered;
//! INFO, lifecycle (started, listening, draining, stopped, health changed); DEBUG and below,
//! everything else. `RUST_LOG` overrides the default filter. Libraries that log through the
//! `log` crate (Pingora does) are bridged into the same subscriber.

pub mod line;

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event, coloured on a terminal.
    #[default]
    Human,
    /// One JSON object per event, for log shippers.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "human" => Ok(Self::Human),
            "json" => Ok(Self::Json),
            other => Err(format!(
                "unknown log format `{other}`: expected `human` or `json`"
            )),
        }
    }
}

/// Installs the global subscriber writing to stderr. Calling it again is a no-op, so
/// binaries and tests can both call it.
pub fn init(format: LogFormat, default_filter: &str) {
    install(format, default_filter, std::io::stderr);
}

/// Lines the non-blocking writer dropped (see [`init_non_blocking`]).
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// The most the log writer gathers before a write, while lines keep coming.
const WRITE_BATCH_BYTES: usize = 64 * 1024;

/// How long the log writer waits after writing a batch before it looks for more.
const WRITE_PACE: std::time::Duration = std::time::Duration::from_millis(1);

/// The log writer thread's output: lines gather in a buffer, and each flush (which the
/// writer thread does when its queue runs empty) writes them out, then waits
/// [`WRITE_PACE`] before the thread looks at the queue again.
///
/// Without the wait, a thread woken for every line writes every line alone and spins on
/// the empty queue before it sleeps: a `write` and a few `sched_yield`s a request. With it
/// the writer wakes at most about a thousand times a second whatever the rate, a line
/// waits at most about a millisecond to be written, and the queue
/// (`log_queue_lines`) holds what arrives meanwhile.
struct Paced<W: std::io::Write> {
    out: std::io::BufWriter<W>,
}

impl<W: std::io::Write> Paced<W> {
    fn new(out: W) -> Self {
        Self {
            out: std::io::BufWriter::with_capacity(WRITE_BATCH_BYTES, out),
        }
    }
}

impl<W: std::io::Write> std::io::Write for Paced<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        std::thread::sleep(WRITE_PACE);
        Ok(())
    }
}

/// Keeps the background log writer running; dropping it writes out what is queued.
#[derive(Debug)]
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard(#[allow(dead_code)] WorkerGuard);

/// Installs the global subscriber writing to stderr from a background thread, so a
/// request never waits on a slow terminal or a full pipe: events are formatted on the
/// calling thread into one buffer each and queued, at most `queue_lines` of them; past
/// that a line is dropped and counted ([`dropped_lines`]) rather than blocking. The
/// writer thread gathers what is queued and writes it in one go ([`Paced`]). Keep the
/// guard alive until the process ends.
pub fn init_non_blocking(format: LogFormat, default_filter: &str, queue_lines: usize) -> LogGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(queue_lines.max(1))
        .thread_name("log writer")
        .finish(Paced::new(std::io::stderr()));
    let _ = DROPPED.set(writer.error_counter());
    let _ = line::SINK.set(line::Sink {
        writer: writer.clone(),
        format,
    });
    install(format, default_filter, writer);
    LogGuard(guard)
}

/// How many log lines [`init_non_blocking`]'s writer has dropped because its queue was
/// full; 0 when logging is not set up that way.
pub fn dropped_lines() -> u64 {
    DROPPED
        .get()
        .map_or(0, |counter| counter.dropped_lines() as u64)
}

/// For tests: silent unless `TEST_LOG` is set, in which case everything at `debug` and
/// above goes to the test's captured output.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        install(
            LogFormat::Human,
            "debug",
            tracing_subscriber::fmt::TestWriter::new,
        );
    } else {
        install(LogFormat::Human, "off", std::io::sink);
    }
}

fn install<W>(format: LogFormat, default_filter: &str, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    // `try_init` fails only when a subscriber is already installed, which is what we want
    // when several servers start inside one test process.
    let _ = match format {
        LogFormat::Human => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}
