//! Spawning, restarting and stopping the stack's processes.
//!
//! Each process has its own supervisor task: spawn, wait, and unless the stack is
//! stopping, restart after a back-off that doubles on each quick death (0.5 s up to 10 s)
//! and resets once a process has stayed up for 30 s. A process that fails at start the same
//! way [`GIVE_UP_AFTER`] times in a row (the same exit code, each time within
//! [`STABLE_AFTER`] of its start: a bad database URL, a bad setting) will not get better by
//! restarting, so the stack stops with that error instead. Stopping sends SIGTERM to every
//! process at once, waits for them to drain and exit, and SIGKILLs whatever is still
//! running after [`STOP_DEADLINE`], so nothing outlives the stack.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout};
use tokio_util::sync::CancellationToken;

use crate::plan::{Plan, ProcessSpec};

mod banner;

/// The first argument that turns this binary into an app instance.
pub const APP_COMMAND: &str = "app";
/// The first argument that turns this binary into the proxy.
pub const PROXY_COMMAND: &str = "proxy";

/// How long processes get to drain after SIGTERM before they are killed.
pub const STOP_DEADLINE: Duration = Duration::from_secs(20);
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// Identical failures at start after which a process is not restarted again.
pub const GIVE_UP_AFTER: u32 = 3;
const READY_DEADLINE: Duration = Duration::from_secs(60);

/// What a supervisor reports to the launcher.
#[derive(Debug)]
enum Report {
    Started {
        name: String,
        pid: u32,
        restart: bool,
    },
    Exited {
        name: String,
        status: ExitStatus,
        restarting_in: Option<Duration>,
    },
    /// The process failed at start the same way [`GIVE_UP_AFTER`] times in a row.
    GaveUp { name: String, status: ExitStatus },
}

/// Counts a process's consecutive identical failures at start.
#[derive(Debug, Default)]
struct StartFailures {
    /// The exit code of the latest failure at start, while the streak lasts.
    code: Option<i32>,
    /// How many failures in a row exited with `code`.
    count: u32,
}

impl StartFailures {
    /// Records one exit; true once the same failure at start has repeated often enough.
    fn record(&mut self, status: ExitStatus, ran_for: Duration) -> bool {
        // A signal (a kill by an operator or a test) or a clean exit is no failure at start.
        let code = status.code().filter(|code| *code != 0);
        match code {
            Some(code) if ran_for < STABLE_AFTER => {
                if self.code == Some(code) {
                    self.count += 1;
                } else {
                    *self = Self {
                        code: Some(code),
                        count: 1,
                    };
                }
            }
            _ => *self = Self::default(),
        }
        self.count >= GIVE_UP_AFTER
    }
}

/// Starts the plan's processes, prints where they are, and supervises them until Ctrl-C or
/// SIGTERM, then stops them all.
///
/// # Errors
///
/// When this binary's path is unknown, the data directory cannot be made, a process
/// cannot be spawned at all, or one keeps failing at start.
pub async fn run(plan: Plan) -> anyhow::Result<()> {
    let program = std::env::current_exe().context("cannot find the stack's own binary")?;
    if let Some(dir) = &plan.data_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    }
    if let Some((_, tls)) = &plan.tls {
        let prepared = tls
            .prepare()
            .context("cannot make the local TLS certificates")?;
        if prepared.new_ca {
            println!(
                "stack: made a new local CA, {}; trust it again if you trusted an earlier one",
                tls.ca_path().display()
            );
        }
    }
    if let Some((path, text)) = &plan.proxy_config {
        std::fs::write(path, text)
            .with_context(|| format!("cannot write the proxy's config {}", path.display()))?;
    }

    let stop = CancellationToken::new();
    let (reports, mut reported) = mpsc::unbounded_channel();
    let mut supervisors = JoinSet::new();
    let mut processes: Vec<ProcessSpec> = plan.instances.clone();
    processes.push(plan.proxy.clone());
    for spec in processes.iter().cloned() {
        let first = spawn(&program, &spec)?;
        let _ = reports.send(Report::Started {
            name: spec.name.clone(),
            pid: first.id().unwrap_or_default(),
            restart: false,
        });
        supervisors.spawn(supervise(
            program.clone(),
            spec,
            first,
            plan.restart,
            stop.clone(),
            reports.clone(),
        ));
    }
    drop(reports);

    let mut pids = Vec::new();
    while pids.len() < processes.len() {
        match reported.recv().await {
            Some(Report::Started { name, pid, .. }) => pids.push((name, pid)),
            Some(other) => log_report(other),
            None => break,
        }
    }
    banner::print(&plan, &pids);

    let ready = wait_ready(&plan);
    tokio::pin!(ready);
    let mut announced = false;
    let mut gave_up = None;
    loop {
        tokio::select! {
            signal = shared::shutdown::signal() => {
                println!("stack: {signal:?} received, stopping every process…");
                break;
            }
            result = &mut ready, if !announced => {
                announced = true;
                match result {
                    Ok(()) => banner::ready(&plan),
                    Err(error) => println!("stack: not ready yet: {error}"),
                }
            }
            report = reported.recv() => match report {
                Some(Report::GaveUp { name, status }) => {
                    println!(
                        "stack: {name} failed at start {GIVE_UP_AFTER} times in a row ({status}); \
                         stopping every process (its own message is above)"
                    );
                    gave_up = Some((name, status));
                    break;
                }
                Some(report) => log_report(report),
                None => break,
            },
        }
    }

    stop.cancel();
    while supervisors.join_next().await.is_some() {}
    while let Ok(report) = reported.try_recv() {
        log_report(report);
    }
    println!("stack: stopped");
    match gave_up {
        Some((name, status)) => {
            anyhow::bail!("{name} failed at start {GIVE_UP_AFTER} times in a row ({status})")
        }
        None => Ok(()),
    }
}

fn log_report(report: Report) {
    match report {
        Report::Started { name, pid, restart } => {
            if restart {
                println!("stack: {name} restarted, pid {pid}");
            }
        }
        Report::Exited {
            name,
            status,
            restarting_in,
        } => match restarting_in {
            Some(delay) => println!("stack: {name} exited ({status}); restarting in {delay:?}"),
            None => println!("stack: {name} exited ({status})"),
        },
        Report::GaveUp { name, status } => println!("stack: {name} gave up ({status})"),
    }
}

/// Waits until every instance and the proxy answer their health endpoints.
async fn wait_ready(plan: &Plan) -> Result<(), String> {
    for instance in &plan.instances {
        wait_http_ok(instance.addr, "/healthz").await?;
    }
    wait_http_ok(plan.admin, "/healthz").await
}

async fn wait_http_ok(addr: std::net::SocketAddr, path: &str) -> Result<(), String> {
    let deadline = Instant::now() + READY_DEADLINE;
    loop {
        if probe(addr, path).await == Some(200) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "http://{addr}{path} did not answer 200 within {READY_DEADLINE:?}"
            ));
        }
        sleep(Duration::from_millis(100)).await;
    }
}

/// The status of a bare `GET path`, or `None` when nothing answers within 2 s.
async fn probe(addr: std::net::SocketAddr, path: &str) -> Option<u16> {
    timeout(Duration::from_secs(2), shared::probe::status(addr, path))
        .await
        .ok()?
        .ok()
}

fn spawn(program: &PathBuf, spec: &ProcessSpec) -> anyhow::Result<Child> {
    Command::new(program)
        .args(&spec.args)
        .envs(spec.env.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", spec.name))
}

/// Keeps one process running until `stop`, then stops it.
async fn supervise(
    program: PathBuf,
    spec: ProcessSpec,
    mut child: Child,
    restart: bool,
    stop: CancellationToken,
    reports: mpsc::UnboundedSender<Report>,
) {
    let mut backoff = FIRST_BACKOFF;
    let mut failures = StartFailures::default();
    loop {
        let started = Instant::now();
        let status = tokio::select! {
            status = child.wait() => status,
            () = stop.cancelled() => {
                terminate(&spec.name, &mut child).await;
                return;
            }
        };
        let Ok(status) = status else {
            return;
        };
        let ran_for = started.elapsed();
        if ran_for >= STABLE_AFTER {
            backoff = FIRST_BACKOFF;
        }
        if restart && failures.record(status, ran_for) {
            let _ = reports.send(Report::GaveUp {
                name: spec.name.clone(),
                status,
            });
            stop.cancelled().await;
            return;
        }
        let restarting_in = restart.then_some(backoff);
        let _ = reports.send(Report::Exited {
            name: spec.name.clone(),
            status,
            restarting_in,
        });
        if !restart {
            stop.cancelled().await;
            return;
        }
        tokio::select! {
            () = sleep(backoff) => {}
            () = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
        match spawn(&program, &spec) {
            Ok(next) => {
                let _ = reports.send(Report::Started {
                    name: spec.name.clone(),
                    pid: next.id().unwrap_or_default(),
                    restart: true,
                });
                child = next;
            }
            Err(error) => {
                tracing::error!(process = %spec.name, error = %format!("{error:#}"), "restart failed");
                stop.cancelled().await;
                return;
            }
        }
    }
}

/// SIGTERM, then SIGKILL after [`STOP_DEADLINE`]; always reaps the child.
async fn terminate(name: &str, child: &mut Child) {
    if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    if timeout(STOP_DEADLINE, child.wait()).await.is_err() {
        println!("stack: {name} did not stop within {STOP_DEADLINE:?}; killing it");
        let _ = child.kill().await;
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    fn exit_code(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    fn killed(signal: i32) -> ExitStatus {
        ExitStatus::from_raw(signal)
    }

    #[test]
    fn the_same_failure_at_start_repeated_gives_up() {
        let mut failures = StartFailures::default();
        let quick = Duration::from_millis(200);
        assert!(!failures.record(exit_code(2), quick));
        assert!(!failures.record(exit_code(2), quick));
        assert!(failures.record(exit_code(2), quick));
    }

    #[test]
    fn kills_long_runs_and_changing_failures_keep_restarting() {
        let mut failures = StartFailures::default();
        let quick = Duration::from_millis(200);
        for _ in 0..10 {
            assert!(
                !failures.record(killed(9), quick),
                "a kill is not a failure at start"
            );
        }
        assert!(!failures.record(exit_code(1), quick));
        assert!(!failures.record(exit_code(2), quick));
        assert!(!failures.record(exit_code(1), quick));
        assert!(
            !failures.record(exit_code(1), STABLE_AFTER),
            "it ran long enough"
        );
        assert!(!failures.record(exit_code(1), quick));
        assert!(!failures.record(exit_code(0), quick));
    }
}
