//! The three origins `lab compare` runs its proxies in front of: `proxy-test-origin`
//! processes, each naming itself in `X-Instance` (`o1`, `o2`, `o3`) and draining for
//! [`DRAIN_MS`] on SIGTERM, as an app instance does.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// How long an origin keeps answering, with the draining header, after SIGTERM.
pub const DRAIN_MS: u64 = 1000;
/// The least time an origin stays down before it is started again, as a real process
/// takes to start: two of the proxies' 1 s health-check intervals, so every proxy can see
/// that the old process went away.
pub const RESTART_DOWN: Duration = Duration::from_secs(2);

/// One origin process and how to start it again.
pub struct Origin {
    /// `o1`, `o2`, `o3`.
    pub id: String,
    /// Where it listens.
    pub addr: SocketAddr,
    bin: PathBuf,
    log: PathBuf,
    cpu: Option<usize>,
    child: Option<Child>,
    exited: Option<Instant>,
}

/// A loopback port that was free a moment ago, for a child process to bind; another
/// process could take it in between, a race the lab accepts.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind a loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// `command`, prefixed with `taskset -c CPU` when pinned.
pub fn pinned(program: &Path, cpu: Option<usize>) -> Command {
    match cpu {
        Some(cpu) => {
            let mut command = Command::new("taskset");
            command.arg("-c").arg(cpu.to_string()).arg(program);
            command
        }
        None => Command::new(program),
    }
}

impl Origin {
    /// Starts origin `id` on a free port, logging to `dir/ID.log`, and waits until it answers.
    pub async fn start(
        bin: &Path,
        id: &str,
        dir: &Path,
        cpu: Option<usize>,
    ) -> anyhow::Result<Self> {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let mut origin = Self {
            id: id.to_owned(),
            addr,
            bin: bin.to_owned(),
            log: dir.join(format!("{id}.log")),
            cpu,
            child: None,
            exited: None,
        };
        origin.restart().await?;
        Ok(origin)
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<Pid> {
        self.child
            .as_ref()
            .and_then(Child::id)
            .map(|id| Pid::from_raw(id as i32))
    }

    /// Starts the process again on the same address (after a kill or a drain), no sooner
    /// than [`RESTART_DOWN`] after it went away.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await;
        if let Some(exited) = self.exited.take() {
            tokio::time::sleep_until((exited + RESTART_DOWN).into()).await;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut command = pinned(&self.bin, self.cpu);
        command
            .args(["--listen", &self.addr.to_string(), "--id", &self.id])
            .args(["--drain-ms", &DRAIN_MS.to_string()])
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        self.child = Some(
            command
                .spawn()
                .with_context(|| format!("start {}", self.bin.display()))?,
        );
        wait_ready(self.addr, Duration::from_secs(10))
            .await
            .with_context(|| format!("origin {} on {}", self.id, self.addr))
    }

    /// Sends `signal`.
    pub fn signal(&self, signal: Signal) -> anyhow::Result<()> {
        let pid = self
            .pid()
            .with_context(|| format!("origin {} is not running", self.id))?;
        kill(pid, signal).with_context(|| format!("signal origin {}", self.id))
    }

    /// Waits for the process to exit by itself (after SIGTERM), at most `deadline`.
    pub async fn wait_exit(&mut self, deadline: Duration) -> anyhow::Result<()> {
        if let Some(child) = self.child.as_mut() {
            tokio::time::timeout(deadline, child.wait())
                .await
                .with_context(|| {
                    format!("origin {} still running after {deadline:?}", self.id)
                })??;
            self.exited = Some(Instant::now());
        }
        self.child = None;
        Ok(())
    }

    /// Whether it is running and answering.
    pub async fn healthy(&mut self) -> bool {
        let exited = match self.child.as_mut() {
            Some(child) => child.try_wait().ok().flatten().is_some(),
            None => true,
        };
        !exited && http_status(self.addr, "/healthz", Duration::from_millis(500)).await == Some(200)
    }

    /// Resumes, kills and reaps the process.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = self.signal_raw(&child, Signal::SIGCONT);
            let _ = child.kill().await;
            self.exited = Some(Instant::now());
        }
    }

    fn signal_raw(&self, child: &Child, signal: Signal) -> anyhow::Result<()> {
        let pid = child.id().context("exited")?;
        Ok(kill(Pid::from_raw(pid as i32), signal)?)
    }
}

/// The status of `GET path` on `addr` (a fresh connection), or `None` within `timeout`.
pub async fn http_status(addr: SocketAddr, path: &str, timeout: Duration) -> Option<u16> {
    request(addr, "GET", path, timeout)
        .await
        .map(|(status, _)| status)
}

/// `METHOD path` on `addr` over a fresh connection: its status and `X-Instance`.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Option<(u16, Option<String>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let work = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.ok()?;
        let mut text = Vec::new();
        stream.read_to_end(&mut text).await.ok()?;
        let text = String::from_utf8_lossy(&text);
        let status = text.split_whitespace().nth(1)?.parse().ok()?;
        let instance = text.lines().take_while(|l| !l.is_empty()).find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("x-instance:")
                .map(|v| v.trim().to_owned())
        });
        Some((status, instance))
    };
    tokio::time::timeout(timeout, work).await.ok().flatten()
}

/// Polls `/healthz` on `addr` until it answers 200, for at most `deadline`.
pub async fn wait_ready(addr: SocketAddr, deadline: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if http_status(addr, "/healthz", Duration::from_millis(500)).await == Some(200) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("not answering /healthz after {deadline:?}")
}
