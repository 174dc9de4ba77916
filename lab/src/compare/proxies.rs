//! The proxies `lab compare` puts in front of the origins: Flotilla (the workspace's
//! `proxy` binary), and nginx and HAProxy when they are on `PATH`. Their configurations are
//! the benchmark's (`bench/templates/`), rendered into a temporary directory, so the two
//! tools measure the same settings: one worker, the same timeouts, health checks and retries.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::Child;

use crate::compare::origins::{free_port, pinned};

const FLOTILLA_TOML: &str = include_str!("../../../bench/templates/flotilla.toml");
const NGINX_CONF: &str = include_str!("../../../bench/templates/nginx.conf");
const HAPROXY_CFG: &str = include_str!("../../../bench/templates/haproxy.cfg");

/// A proxy the lab knows how to configure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The workspace's `proxy`.
    Flotilla,
    /// nginx OSS (passive health checks only).
    Nginx,
    /// HAProxy.
    Haproxy,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 3] = [Kind::Flotilla, Kind::Nginx, Kind::Haproxy];

    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Flotilla => "flotilla",
            Kind::Nginx => "nginx",
            Kind::Haproxy => "haproxy",
        }
    }

    /// Parses a name.
    pub fn parse(name: &str) -> anyhow::Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .with_context(|| format!("unknown proxy {name:?} (flotilla, nginx, haproxy)"))
    }
}

/// Where things are.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The temporary directory for configs, logs and nginx's files.
    pub dir: PathBuf,
    /// The `proxy` binary.
    pub flotilla_bin: PathBuf,
    /// The origins' addresses, three of them.
    pub origins: Vec<SocketAddr>,
    /// CPU to pin the proxy to.
    pub cpu: Option<usize>,
}

/// A running proxy.
pub struct Proxy {
    /// Which.
    pub kind: Kind,
    /// Where clients reach it.
    pub addr: SocketAddr,
    child: Child,
}

/// Finds `program` on `PATH`.
pub fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    })
}

fn render(template: &str, setup: &Setup, port: u16, admin_port: u16) -> String {
    let run = setup.dir.display().to_string();
    let mut text = template
        .replace("@RUN@", &run)
        .replace("@SHM@", &run)
        .replace("@FLOTILLA_ADMIN_PORT@", &admin_port.to_string());
    for name in ["FLOTILLA_PORT", "NGINX_PORT", "HAPROXY_PORT"] {
        text = text.replace(&format!("@{name}@"), &port.to_string());
    }
    for (i, origin) in setup.origins.iter().enumerate() {
        text = text.replace(
            &format!("@ORIGIN{}_PORT@", i + 1),
            &origin.port().to_string(),
        );
    }
    text
}

impl Proxy {
    /// Writes `kind`'s config, checks it, starts the proxy and waits until it listens.
    pub async fn start(kind: Kind, setup: &Setup) -> anyhow::Result<Self> {
        let port = free_port()?;
        let dir = &setup.dir;
        let log = std::fs::File::create(dir.join(format!("{}.log", kind.name())))?;
        let mut command = match kind {
            Kind::Flotilla => {
                let config = dir.join("flotilla.toml");
                std::fs::write(&config, render(FLOTILLA_TOML, setup, port, free_port()?))?;
                check(
                    std::process::Command::new(&setup.flotilla_bin)
                        .arg("check")
                        .arg("--config")
                        .arg(&config),
                )?;
                let mut command = pinned(&setup.flotilla_bin, setup.cpu);
                command.arg("--config").arg(&config);
                command.env("RUST_LOG", "info,proxy::access=off");
                command
            }
            Kind::Nginx => {
                let config = dir.join("nginx.conf");
                std::fs::create_dir_all(dir.join("nginx-tmp"))?;
                std::fs::write(&config, render(NGINX_CONF, setup, port, 0))?;
                let nginx = on_path("nginx").context("nginx is not on PATH")?;
                let error_log = dir.join("nginx-error.log");
                check(
                    std::process::Command::new(&nginx)
                        .arg("-t")
                        .arg("-q")
                        .arg("-p")
                        .arg(dir)
                        .arg("-c")
                        .arg(&config)
                        .arg("-e")
                        .arg(&error_log),
                )?;
                let mut command = pinned(&nginx, setup.cpu);
                command
                    .arg("-p")
                    .arg(dir)
                    .arg("-c")
                    .arg(&config)
                    .arg("-e")
                    .arg(&error_log);
                command
            }
            Kind::Haproxy => {
                let config = dir.join("haproxy.cfg");
                std::fs::write(&config, render(HAPROXY_CFG, setup, port, 0))?;
                let haproxy = on_path("haproxy").context("haproxy is not on PATH")?;
                check(
                    std::process::Command::new(&haproxy)
                        .arg("-c")
                        .arg("-q")
                        .arg("-f")
                        .arg(&config),
                )?;
                let mut command = pinned(&haproxy, setup.cpu);
                command.arg("-db").arg("-f").arg(&config);
                command
            }
        };
        command
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        let child = command
            .spawn()
            .with_context(|| format!("start {}", kind.name()))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let proxy = Self { kind, addr, child };
        let start = std::time::Instant::now();
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            if start.elapsed() > Duration::from_secs(10) {
                bail!(
                    "{} is not listening on {addr} after 10 s (see its log in {})",
                    kind.name(),
                    dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(proxy)
    }

    /// Stops it (SIGTERM, then SIGKILL after 5 s) and reaps it.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

fn check(command: &mut std::process::Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("run {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} rejected the config: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Whether `path` exists as a file; the proxies `lab compare` can use.
pub fn available(flotilla_bin: &Path) -> Vec<Kind> {
    Kind::ALL
        .into_iter()
        .filter(|kind| match kind {
            Kind::Flotilla => flotilla_bin.is_file(),
            Kind::Nginx => on_path("nginx").is_some(),
            Kind::Haproxy => on_path("haproxy").is_some(),
        })
        .collect()
}
