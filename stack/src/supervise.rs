//! Spawning, restarting and stopping the stack's processes.
//!
//! Each process has its own supervisor task: spawn, wait, and unless the stack is
//! stopping, restart after a back-off that doubles on each quick death (0.5 s up to 10 s)
//! and resets once a process has stayed up for 30 s. Stopping sends SIGTERM to every
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

/// The first argument that turns this binary into an app instance.
pub const APP_COMMAND: &str = "app";
/// The first argument that turns this binary into the proxy.
pub const PROXY_COMMAND: &str = "proxy";

/// How long processes get to drain after SIGTERM before they are killed.
pub const STOP_DEADLINE: Duration = Duration::from_secs(20);
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
const STABLE_AFTER: Duration = Duration::from_secs(30);
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
}

/// Starts the plan's processes, prints where they are, and supervises them until Ctrl-C or
/// SIGTERM, then stops them all.
///
/// # Errors
///
/// When this binary's path is unknown, the data directory cannot be made, or a process
/// cannot be spawned at all.
pub async fn run(plan: Plan) -> anyhow::Result<()> {
    let program = std::env::current_exe().context("cannot find the stack's own binary")?;
    if let Some(dir) = &plan.data_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
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
    print_banner(&plan, &pids);

    let ready = wait_ready(&plan);
    tokio::pin!(ready);
    let mut announced = false;
    loop {
        tokio::select! {
            signal = shared::shutdown::signal() => {
                println!("stack: {signal:?} received, stopping every process…");
                break;
            }
            result = &mut ready, if !announced => {
                announced = true;
                match result {
                    Ok(()) => println!("stack: ready at http://{}", plan.proxy.addr),
                    Err(error) => println!("stack: not ready yet: {error}"),
                }
            }
            report = reported.recv() => match report {
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
    Ok(())
}

fn print_banner(plan: &Plan, pids: &[(String, u32)]) {
    let pid_of = |name: &str| {
        pids.iter()
            .find(|(candidate, _)| candidate == name)
            .map_or(0, |(_, pid)| *pid)
    };
    println!();
    println!("Flotilla is starting. Open http://{}", plan.proxy.addr);
    println!("  admin   http://{}/status", plan.admin);
    println!(
        "  proxy   http://{}  pid {}",
        plan.proxy.addr,
        pid_of("proxy")
    );
    for instance in &plan.instances {
        println!(
            "  {:<7} http://{}  pid {}",
            instance.name,
            instance.addr,
            pid_of(&instance.name)
        );
    }
    println!("Ctrl-C stops everything.");
    println!();
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

/// The status of a bare `GET path`, or `None` when nothing answers.
async fn probe(addr: std::net::SocketAddr, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
    };
    timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
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
        if started.elapsed() >= STABLE_AFTER {
            backoff = FIRST_BACKOFF;
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
