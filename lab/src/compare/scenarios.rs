//! The failure scenarios of `lab compare`, each a schedule of faults on the origins.
//! Origin `o2` is the victim (except in `rolling`): the fault comes a third of the way
//! into the run and is undone at two thirds, so each timeline shows before, during, and
//! the return to three instances.

use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::Mutex;

use crate::compare::origins::{DRAIN_MS, Origin, RESTART_DOWN, request};
use crate::fault::{Action, Call, Fault};

/// The origins, shared with the faults that restart them.
pub type Origins = Arc<Mutex<Vec<Origin>>>;

/// One scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// SIGKILL `o2`, start it again later.
    Kill,
    /// SIGSTOP `o2` (a hung process), SIGCONT later.
    Hang,
    /// SIGTERM `o2`: it answers with the draining header for a second, then exits; started
    /// again later.
    Drain,
    /// Drain and restart `o1`, `o2`, `o3` one after the other, each back before the next.
    Rolling,
    /// `o2` answers every request 2 s late, then fast again.
    Slow,
}

/// How late a slow origin answers.
pub const SLOW_MS: u64 = 2000;
/// The pause between one origin's return and the next one's drain in `rolling`.
const ROLLING_GAP: Duration = Duration::from_millis(500);

impl Scenario {
    /// Every scenario, in report order.
    pub const ALL: [Scenario; 5] = [
        Scenario::Kill,
        Scenario::Hang,
        Scenario::Drain,
        Scenario::Rolling,
        Scenario::Slow,
    ];

    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Kill => "kill",
            Scenario::Hang => "hang",
            Scenario::Drain => "drain",
            Scenario::Rolling => "rolling",
            Scenario::Slow => "slow",
        }
    }

    /// What happens in it, for titles.
    pub fn describe(self) -> &'static str {
        match self {
            Scenario::Kill => "o2 of 3 SIGKILLed, then restarted",
            Scenario::Hang => "o2 of 3 SIGSTOPped, then SIGCONTed",
            Scenario::Drain => "o2 of 3 drained (SIGTERM), then restarted",
            Scenario::Rolling => "o1, o2, o3 drained and restarted in turn",
            Scenario::Slow => "o2 of 3 answers 2 s late, then fast again",
        }
    }

    /// Parses a name.
    pub fn parse(name: &str) -> anyhow::Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                anyhow::anyhow!("unknown scenario {name:?} (kill, hang, drain, rolling, slow)")
            })
    }

    /// How long its run lasts, `base` unless the scenario needs more: a rolling restart
    /// gets the time to restart all three origins on top.
    pub fn length(self, base: Duration) -> Duration {
        match self {
            Scenario::Rolling => {
                base + (Duration::from_millis(DRAIN_MS) + RESTART_DOWN + ROLLING_GAP) * 3
            }
            _ => base,
        }
    }

    /// The faults of a run `length` long.
    pub fn faults(self, origins: &Origins, length: Duration) -> Vec<Fault> {
        let (at, undo) = (length / 3, length * 2 / 3);
        let fault = |at, label: &str, call: Call| Fault {
            at,
            action: Action::Call(call),
            label: label.to_owned(),
        };
        let victim = 1;
        match self {
            Scenario::Kill => vec![
                fault(
                    at,
                    "kill o2",
                    signal(origins, victim, Signal::SIGKILL, true),
                ),
                fault(undo, "restart o2", restart(origins, victim)),
            ],
            Scenario::Hang => vec![
                fault(
                    at,
                    "stop o2",
                    signal(origins, victim, Signal::SIGSTOP, false),
                ),
                fault(
                    undo,
                    "cont o2",
                    signal(origins, victim, Signal::SIGCONT, false),
                ),
            ],
            Scenario::Drain => vec![
                fault(
                    at,
                    "term o2 (drain)",
                    signal(origins, victim, Signal::SIGTERM, true),
                ),
                fault(undo, "restart o2", restart(origins, victim)),
            ],
            Scenario::Rolling => vec![fault(at, "rolling restart o1..o3", rolling(origins))],
            Scenario::Slow => vec![
                fault(at, "o2 slow (2 s)", slow(origins, victim, SLOW_MS)),
                fault(undo, "o2 fast", slow(origins, victim, 0)),
            ],
        }
    }
}

fn signal(origins: &Origins, index: usize, signal: Signal, wait_exit: bool) -> Call {
    let origins = origins.clone();
    Arc::new(move || {
        let origins = origins.clone();
        Box::pin(async move {
            let mut origins = origins.lock().await;
            let origin = &mut origins[index];
            origin.signal(signal)?;
            if wait_exit {
                origin
                    .wait_exit(Duration::from_millis(DRAIN_MS) + Duration::from_secs(5))
                    .await?;
            }
            Ok(())
        })
    })
}

fn restart(origins: &Origins, index: usize) -> Call {
    let origins = origins.clone();
    Arc::new(move || {
        let origins = origins.clone();
        Box::pin(async move { origins.lock().await[index].restart().await })
    })
}

fn rolling(origins: &Origins) -> Call {
    let origins = origins.clone();
    Arc::new(move || {
        let origins = origins.clone();
        Box::pin(async move {
            let mut origins = origins.lock().await;
            for origin in origins.iter_mut() {
                origin.signal(Signal::SIGTERM)?;
                origin
                    .wait_exit(Duration::from_millis(DRAIN_MS) + Duration::from_secs(5))
                    .await?;
                origin.restart().await?;
                tokio::time::sleep(ROLLING_GAP).await;
            }
            Ok(())
        })
    })
}

fn slow(origins: &Origins, index: usize, ms: u64) -> Call {
    let origins = origins.clone();
    Arc::new(move || {
        let origins = origins.clone();
        Box::pin(async move {
            let addr = origins.lock().await[index].addr;
            match request(
                addr,
                "POST",
                &format!("/__slow?ms={ms}"),
                Duration::from_secs(2),
            )
            .await
            {
                Some((204, _)) => Ok(()),
                other => anyhow::bail!("origin o{} did not take /__slow: {other:?}", index + 1),
            }
        })
    })
}
