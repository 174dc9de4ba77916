//! The circuit breaker in front of the pool: once the database is known to be unreachable,
//! operations fail at once instead of each waiting out the pool's acquire timeout, and a
//! background probe closes the breaker the moment the database answers again.
//!
//! Two states, and nothing here reads a clock, so the machine is tested as plain logic:
//!
//! - **Closed**: operations run. Each one's [`Outcome`] is recorded; `failures_to_open`
//!   unreachable outcomes in a row open the breaker, and any outcome that reached the
//!   database resets the count. Only connection-class failures count (see [`classify`]): a
//!   constraint violation or a bad query proves the database is there.
//! - **Open**: operations fail with [`Open`] without touching the pool. The caller that
//!   opened it starts the one probe ([`Db::guard`](super::Db::guard)), which runs `SELECT 1`
//!   every `probe_interval`; its first success closes the breaker. Outcomes of operations
//!   that were admitted before the breaker opened are ignored, so only the probe closes it.
//!
//! A pool saturated for longer than the acquire timeout also times out, and can open the
//! breaker; the probe then waits for a connection like any query and closes it as soon as
//! one comes free.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// The breaker's thresholds, from the app's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Unreachable outcomes in a row that open the breaker (at least 1).
    pub failures_to_open: u32,
    /// How often the open breaker probes the database, and so the `Retry-After` it asks for.
    pub probe_interval: Duration,
}

/// What one operation says about the database's reachability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The database answered (with rows or with an error of its own).
    Reached,
    /// No connection could be had or kept: refused, timed out, dropped, shutting down.
    Unreachable,
    /// Says nothing either way (the pool was closed by this instance's own shutdown).
    Neutral,
}

/// A change of state, for the caller to act on (start the probe, log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Nothing changed.
    Stayed,
    /// This outcome opened the breaker: start probing.
    Opened,
    /// This probe closed it: the database is back.
    Closed,
}

/// The error of an operation refused because the breaker is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the database is unreachable (circuit breaker open)")]
pub struct Open {
    /// When a retry has a chance: the next probe.
    pub retry_after: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open,
}

/// The breaker's state, shared by every clone of the pool handle.
#[derive(Debug)]
pub struct Breaker {
    settings: Settings,
    state: Mutex<State>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings: Settings {
                failures_to_open: settings.failures_to_open.max(1),
                ..settings
            },
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// The thresholds in force.
    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// Whether operations are being refused.
    pub fn is_open(&self) -> bool {
        *self.lock() == State::Open
    }

    /// Lets an operation run, or refuses it at once while the database is known down.
    ///
    /// # Errors
    ///
    /// [`Open`] while the breaker is open.
    pub fn admit(&self) -> Result<(), Open> {
        match *self.lock() {
            State::Closed { .. } => Ok(()),
            State::Open => Err(Open {
                retry_after: self.settings.probe_interval,
            }),
        }
    }

    /// Records the outcome of an admitted operation.
    pub fn record(&self, outcome: Outcome) -> Transition {
        let mut state = self.lock();
        let State::Closed { failures } = *state else {
            return Transition::Stayed;
        };
        match outcome {
            Outcome::Reached => {
                *state = State::Closed { failures: 0 };
                Transition::Stayed
            }
            Outcome::Neutral => Transition::Stayed,
            Outcome::Unreachable if failures + 1 >= self.settings.failures_to_open => {
                *state = State::Open;
                Transition::Opened
            }
            Outcome::Unreachable => {
                *state = State::Closed {
                    failures: failures + 1,
                };
                Transition::Stayed
            }
        }
    }

    /// Records the outcome of a probe of the open breaker: one that reached the database
    /// closes it.
    pub fn record_probe(&self, outcome: Outcome) -> Transition {
        let mut state = self.lock();
        match (*state, outcome) {
            (State::Open, Outcome::Reached) => {
                *state = State::Closed { failures: 0 };
                Transition::Closed
            }
            _ => Transition::Stayed,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain value that no panic can leave half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Postgres codes, beside the whole `08` class (connection exception), that mean the server
/// is going away or not there yet: admin shutdown, crash shutdown, cannot connect now.
const UNREACHABLE_SQLSTATES: [&str; 3] = ["57P01", "57P02", "57P03"];

/// What a driver error says about reachability.
pub fn classify(error: &sqlx::Error) -> Outcome {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => Outcome::Unreachable,
        sqlx::Error::PoolClosed => Outcome::Neutral,
        sqlx::Error::Database(error) => match error.code() {
            Some(code)
                if code.starts_with("08") || UNREACHABLE_SQLSTATES.contains(&code.as_ref()) =>
            {
                Outcome::Unreachable
            }
            _ => Outcome::Reached,
        },
        _ => Outcome::Reached,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(failures_to_open: u32) -> Breaker {
        Breaker::new(Settings {
            failures_to_open,
            probe_interval: Duration::from_millis(500),
        })
    }

    #[test]
    fn opens_after_the_threshold_of_failures_in_a_row() {
        let b = breaker(3);
        assert_eq!(b.record(Outcome::Unreachable), Transition::Stayed);
        assert_eq!(b.record(Outcome::Unreachable), Transition::Stayed);
        assert!(b.admit().is_ok(), "still closed below the threshold");
        assert_eq!(b.record(Outcome::Unreachable), Transition::Opened);
        assert!(b.is_open());
        assert_eq!(
            b.admit(),
            Err(Open {
                retry_after: Duration::from_millis(500)
            })
        );
    }

    #[test]
    fn a_success_resets_the_count_and_a_neutral_outcome_does_not() {
        let b = breaker(2);
        b.record(Outcome::Unreachable);
        b.record(Outcome::Reached);
        assert_eq!(b.record(Outcome::Unreachable), Transition::Stayed);
        b.record(Outcome::Neutral);
        assert_eq!(b.record(Outcome::Unreachable), Transition::Opened);
    }

    #[test]
    fn only_one_caller_sees_the_opening() {
        let b = breaker(1);
        assert_eq!(b.record(Outcome::Unreachable), Transition::Opened);
        // Operations admitted before it opened report late; they neither reopen nor close.
        assert_eq!(b.record(Outcome::Unreachable), Transition::Stayed);
        assert_eq!(b.record(Outcome::Reached), Transition::Stayed);
        assert!(b.is_open());
    }

    #[test]
    fn only_a_probe_that_reaches_the_database_closes_it() {
        let b = breaker(1);
        b.record(Outcome::Unreachable);
        assert_eq!(b.record_probe(Outcome::Unreachable), Transition::Stayed);
        assert_eq!(b.record_probe(Outcome::Neutral), Transition::Stayed);
        assert!(b.is_open());
        assert_eq!(b.record_probe(Outcome::Reached), Transition::Closed);
        assert!(b.admit().is_ok());
        // A late probe result on a closed breaker changes nothing.
        assert_eq!(b.record_probe(Outcome::Reached), Transition::Stayed);
        // And it counts afresh from zero.
        assert_eq!(b.record(Outcome::Unreachable), Transition::Opened);
    }

    #[test]
    fn a_threshold_of_zero_acts_as_one() {
        let b = breaker(0);
        assert_eq!(b.record(Outcome::Unreachable), Transition::Opened);
    }

    #[test]
    fn connection_failures_count_and_query_errors_do_not() {
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(classify(&io), Outcome::Unreachable);
        assert_eq!(classify(&sqlx::Error::PoolTimedOut), Outcome::Unreachable);
        assert_eq!(classify(&sqlx::Error::PoolClosed), Outcome::Neutral);
        assert_eq!(classify(&sqlx::Error::RowNotFound), Outcome::Reached);
        assert_eq!(
            classify(&sqlx::Error::ColumnNotFound("x".into())),
            Outcome::Reached
        );
    }
}
