//! Faults on a schedule: `--fault "at=10s kill pid=1234"`, `stop`, `cont`, `term` (a
//! drain), or `exec="command"` for anything else (a rolling restart script, a `tc`
//! command). They are parsed and checked before any load starts, fired by one task during
//! the run, and every process the lab stopped is resumed however the run ends.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// A fault the side-by-side mode defines in code (restart an origin, make one slow).
pub type Call =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> + Send + Sync>;

/// What a fault does.
#[derive(Clone)]
pub enum Action {
    /// Sends a signal: `kill` (SIGKILL), `stop`, `cont`, `term`.
    Signal(Signal, Pid),
    /// Runs `sh -c COMMAND`.
    Exec(String),
    /// Runs code of the lab's own.
    Call(Call),
}

/// One scheduled fault.
#[derive(Clone)]
pub struct Fault {
    /// When, from the start of the run.
    pub at: Duration,
    /// What it does.
    pub action: Action,
    /// How reports name it (`kill pid=1234`).
    pub label: String,
}

/// A fault as it happened, for the summary and the plots.
#[derive(Debug, Clone, Serialize)]
pub struct Fired {
    /// The fault's label.
    pub label: String,
    /// When it fired, in ms from the start of the run.
    pub at_ms: f64,
    /// When its command or call finished, if it took time and finished within the run.
    pub ended_ms: Option<f64>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// Parses a duration written `10s`, `2.5s` or `500ms`.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else {
        bail!("{text:?}: a duration needs a unit, e.g. 10s or 500ms");
    };
    let value: f64 = number
        .parse()
        .with_context(|| format!("{text:?} is not a duration"))?;
    if !(value >= 0.0 && value.is_finite()) {
        bail!("{text:?}: a duration cannot be negative");
    }
    Ok(Duration::from_secs_f64(value * scale))
}

impl Fault {
    /// Parses `at=TIME ACTION`, where ACTION is `kill|stop|cont|term pid=N` or
    /// `exec="COMMAND"`.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let context = || format!("--fault {text:?}");
        let rest = text.trim();
        let (at, rest) = rest
            .strip_prefix("at=")
            .and_then(|r| r.split_once(char::is_whitespace))
            .with_context(|| format!("{}: must start with at=TIME and an action", context()))?;
        let at = parse_duration(at).with_context(context)?;
        let rest = rest.trim();
        if let Some(command) = rest.strip_prefix("exec=") {
            let command = command
                .trim()
                .trim_matches('"')
                .trim_matches('\'')
                .to_owned();
            if command.is_empty() {
                bail!("{}: exec needs a command", context());
            }
            let label = format!("exec {command}");
            return Ok(Self {
                at,
                action: Action::Exec(command),
                label,
            });
        }
        let mut words = rest.split_whitespace();
        let verb = words.next().unwrap_or_default();
        let signal = match verb {
            "kill" => Signal::SIGKILL,
            "stop" => Signal::SIGSTOP,
            "cont" => Signal::SIGCONT,
            "term" => Signal::SIGTERM,
            other => bail!(
                "{}: unknown action {other:?} (kill, stop, cont, term, exec=)",
                context()
            ),
        };
        let pid = words
            .next()
            .and_then(|w| w.strip_prefix("pid="))
            .with_context(|| format!("{}: {verb} needs pid=N", context()))?;
        let pid: i32 = pid
            .parse()
            .with_context(|| format!("{}: pid {pid:?} is not a number", context()))?;
        if pid <= 0 {
            bail!("{}: pid must be positive", context());
        }
        Ok(Self {
            at,
            action: Action::Signal(signal, Pid::from_raw(pid)),
            label: format!("{verb} pid={pid}"),
        })
    }

    /// Checks what can be checked before the load starts: the time is within the run and
    /// the process exists.
    pub fn check(&self, duration: Duration) -> anyhow::Result<()> {
        if self.at > duration {
            bail!(
                "fault {:?} at {:.1}s is past the run's duration of {:.1}s",
                self.label,
                self.at.as_secs_f64(),
                duration.as_secs_f64()
            );
        }
        if let Action::Signal(_, pid) = self.action {
            kill(pid, None)
                .map_err(|e| anyhow::anyhow!("fault {:?}: no such process ({e})", self.label))?;
        }
        Ok(())
    }
}

/// Processes the lab has stopped and not yet resumed.
#[derive(Default, Clone)]
pub struct Stopped(Arc<Mutex<BTreeSet<i32>>>);

impl Stopped {
    /// Sends SIGCONT to every process still stopped, so no run leaves one frozen.
    pub fn resume_all(&self) {
        let pids = self
            .0
            .lock()
            .map(|mut set| std::mem::take(&mut *set))
            .unwrap_or_default();
        for pid in pids {
            let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
        }
    }

    fn note(&self, signal: Signal, pid: Pid) {
        if let Ok(mut set) = self.0.lock() {
            match signal {
                Signal::SIGSTOP => set.insert(pid.as_raw()),
                _ => set.remove(&pid.as_raw()),
            };
        }
    }
}

/// Fires `faults` at their times from `start` until `cancel`, and returns what happened.
pub async fn fire_all(
    mut faults: Vec<Fault>,
    start: Instant,
    stopped: Stopped,
    cancel: CancellationToken,
) -> Vec<Fired> {
    faults.sort_by_key(|f| f.at);
    let fired = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, fault) in faults.into_iter().enumerate() {
        tokio::select! {
            () = tokio::time::sleep_until((start + fault.at).into()) => {}
            () = cancel.cancelled() => break,
        }
        let at_ms = crate::record::ms(start.elapsed());
        let entry = |error: Option<String>| Fired {
            label: fault.label.clone(),
            at_ms,
            ended_ms: None,
            error,
        };
        match fault.action.clone() {
            Action::Signal(signal, pid) => {
                let error = kill(pid, signal).err().map(|e| e.to_string());
                if error.is_none() {
                    stopped.note(signal, pid);
                }
                push(&fired, index, entry(error));
            }
            Action::Exec(command) => {
                let (fired, mut done) = (fired.clone(), entry(None));
                tasks.spawn(async move {
                    let status = tokio::process::Command::new("sh")
                        .arg("-c")
                        .arg(&command)
                        .status()
                        .await;
                    done.ended_ms = Some(crate::record::ms(start.elapsed()));
                    done.error = match status {
                        Ok(status) if status.success() => None,
                        Ok(status) => Some(format!("exited with {status}")),
                        Err(e) => Some(format!("cannot run sh: {e}")),
                    };
                    push(&fired, index, done);
                });
            }
            Action::Call(call) => {
                let (fired, mut done) = (fired.clone(), entry(None));
                tasks.spawn(async move {
                    let result = call().await;
                    done.ended_ms = Some(crate::record::ms(start.elapsed()));
                    done.error = result.err().map(|e| format!("{e:#}"));
                    push(&fired, index, done);
                });
            }
        }
    }
    // Commands still running when the load ends are left to finish on their own.
    tokio::select! {
        () = async { while tasks.join_next().await.is_some() {} } => {}
        () = cancel.cancelled() => tasks.detach_all(),
    }
    let mut fired = fired
        .lock()
        .map(|mut f| std::mem::take(&mut *f))
        .unwrap_or_default();
    fired.sort_by_key(|(index, _)| *index);
    fired.into_iter().map(|(_, f)| f).collect()
}

fn push(fired: &Mutex<Vec<(usize, Fired)>>, index: usize, entry: Fired) {
    if let Ok(mut fired) = fired.lock() {
        fired.push((index, entry));
    }
}

#[cfg(test)]
mod tests;
