//! The harness: origin servers and the proxy as real child processes on loopback ports,
//! readiness by polling with deadlines, and small request helpers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use shared::testing::{ChildGuard, READY_DEADLINE, free_port, wait_for_status, wait_until};

mod origin;
mod pebble;

pub(crate) use origin::Origin;
pub(crate) use pebble::Pebble;

/// How long a test waits for a state it expects (health flips, reloads).
pub(crate) const SETTLE: Duration = Duration::from_secs(15);

fn output() -> Stdio {
    if std::env::var_os("TEST_LOG").is_some() {
        Stdio::inherit()
    } else {
        Stdio::null()
    }
}

/// The TOML for one upstream group over `origins`, health-checked every 200 ms.
pub(crate) fn upstream(name: &str, origins: &[&Origin]) -> String {
    let backends: Vec<String> = origins
        .iter()
        .map(|o| format!("{{ addr = \"{}\" }}", o.addr))
        .collect();
    upstream_with(name, &backends.join(", "))
}

/// The TOML for one upstream group with the `backends` array body given verbatim.
pub(crate) fn upstream_with(name: &str, backends: &str) -> String {
    format!(
        "[upstreams.{name}]\nbackends = [{backends}]\n\
         health = {{ path = \"/healthz\", interval_ms = 200, timeout_ms = 300, rise = 2, fall = 2 }}\n"
    )
}

/// A running proxy process.
pub(crate) struct Proxy {
    /// The public listener.
    pub(crate) addr: SocketAddr,
    /// The admin listener.
    pub(crate) admin: SocketAddr,
    /// The config file it was started with (rewrite it, then [`Proxy::reload`]).
    pub(crate) config_path: PathBuf,
    child: ChildGuard,
    dir: PathBuf,
}

impl Proxy {
    /// Starts the proxy with `body` appended to a base config (server, one listener,
    /// admin), waits until both listeners answer.
    pub(crate) async fn start(body: &str) -> Self {
        Self::start_with_server("", body).await
    }

    /// Like [`Proxy::start`], with `server` (lines such as `trusted_proxies = [...]`)
    /// added to the base config's `[server]` table.
    pub(crate) async fn start_with_server(server: &str, body: &str) -> Self {
        Self::start_with(server, body, Command::new(env!("CARGO_BIN_EXE_proxy"))).await
    }

    /// Like [`Proxy::start`], with `admin` (lines such as `token = "..."`) added to the
    /// base config's `[admin]` table.
    pub(crate) async fn start_with_admin(admin: &str, body: &str) -> Self {
        // The base config's `[admin]` table comes last, so these lines land in it.
        Self::start(&format!("{admin}\n\n{body}")).await
    }

    /// As [`Proxy::start`], with the process's open-file limit (soft and hard) set to
    /// `open_files` by `prlimit`, as on a host with a low default; `None` when `prlimit`
    /// is not installed.
    pub(crate) async fn start_with_open_files(body: &str, open_files: u32) -> Option<Self> {
        Self::start_with_open_file_limits(body, open_files, open_files).await
    }

    /// As [`Proxy::start_with_open_files`], with the soft and hard limits apart.
    pub(crate) async fn start_with_open_file_limits(
        body: &str,
        soft: u32,
        hard: u32,
    ) -> Option<Self> {
        let available = Command::new("prlimit")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !available {
            return None;
        }
        let mut command = Command::new("prlimit");
        command
            .arg(format!("--nofile={soft}:{hard}"))
            .arg(env!("CARGO_BIN_EXE_proxy"));
        Some(Self::start_with("", body, command).await)
    }

    /// Starts `command` (the proxy binary, or a wrapper that execs it) with `--config`.
    async fn start_with(server: &str, body: &str, command: Command) -> Self {
        Self::start_logging_to(server, body, command, output()).await
    }

    /// Like [`Proxy::start_with_server`], with the proxy's standard error (its log) a pipe
    /// that nobody reads: once the pipe's buffer is full, every log write would block.
    pub(crate) async fn start_with_stalled_log(server: &str, body: &str) -> Self {
        let command = Command::new(env!("CARGO_BIN_EXE_proxy"));
        Self::start_logging_to(server, body, command, Stdio::piped()).await
    }

    async fn start_logging_to(server: &str, body: &str, command: Command, log: Stdio) -> Self {
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        Self::launch(server, body, command, log, addr).await
    }

    /// Like [`Proxy::start`], with the base config's plain listener on `addr` and the
    /// proxy's log (standard error) written to the file `log`.
    pub(crate) async fn start_at(addr: SocketAddr, body: &str, log: &Path) -> Self {
        let log = std::fs::File::create(log).expect("create log file");
        let command = Command::new(env!("CARGO_BIN_EXE_proxy"));
        Self::launch("", body, command, Stdio::from(log), addr).await
    }

    async fn launch(
        server: &str,
        body: &str,
        mut command: Command,
        log: Stdio,
        addr: SocketAddr,
    ) -> Self {
        let dir = scratch_dir();
        let admin: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let config_path = dir.join("proxy.toml");
        std::fs::write(&config_path, config_text(&dir, addr, admin, server, body))
            .expect("write config");
        let child = ChildGuard::spawn(
            command
                .arg("--config")
                .arg(&config_path)
                .stdout(output())
                .stderr(log),
        );
        wait_for_status(admin, "/healthz", 200, READY_DEADLINE)
            .await
            .expect("admin ready");
        shared::testing::wait_for_tcp(addr, READY_DEADLINE)
            .await
            .expect("public listener ready");
        let proxy = Self {
            addr,
            admin,
            config_path,
            child,
            dir,
        };
        proxy.wait_all_eligible().await;
        proxy
    }

    /// The process id (`prlimit` execs the proxy, so it is the proxy's either way).
    pub(crate) fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Starts the proxy in quick mode (`--listen --backend … --admin`), with its defaults.
    pub(crate) async fn quick(origins: &[&Origin]) -> Self {
        let dir = scratch_dir();
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let admin: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let mut command = Command::new(env!("CARGO_BIN_EXE_proxy"));
        command.args(["--listen", &addr.to_string(), "--admin", &admin.to_string()]);
        for origin in origins {
            command.args(["--backend", &origin.addr.to_string()]);
        }
        let child = ChildGuard::spawn(command.stdout(output()).stderr(output()));
        wait_for_status(admin, "/healthz", 200, READY_DEADLINE)
            .await
            .expect("admin ready");
        shared::testing::wait_for_tcp(addr, READY_DEADLINE)
            .await
            .expect("public listener ready");
        let proxy = Self {
            addr,
            admin,
            config_path: dir.join("none.toml"),
            child,
            dir,
        };
        proxy.wait_all_eligible().await;
        proxy
    }

    /// Waits until every backend of every upstream is eligible for traffic, so a test's
    /// first request does not race the first health checks.
    pub(crate) async fn wait_all_eligible(&self) {
        wait_until("every backend eligible", READY_DEADLINE, || async move {
            let status = self.status().await;
            let all = status["upstreams"].as_array()?.iter().all(|group| {
                let total = group["backends"].as_array().map_or(0, Vec::len);
                group["eligible"].as_u64() == Some(total as u64)
            });
            all.then_some(())
        })
        .await
        .expect("backends eligible");
    }

    /// Rewrites the config body (same listeners, base `[server]`) and sends SIGHUP.
    pub(crate) fn reload(&self, body: &str) {
        std::fs::write(
            &self.config_path,
            config_text(&self.dir, self.addr, self.admin, "", body),
        )
        .expect("rewrite config");
        self.child.signal(Signal::SIGHUP).expect("SIGHUP");
    }

    /// Writes `text` verbatim as the config file and sends SIGHUP.
    pub(crate) fn reload_raw(&self, text: &str) {
        std::fs::write(&self.config_path, text).expect("rewrite config");
        self.child.signal(Signal::SIGHUP).expect("SIGHUP");
    }

    /// Sends `signal` to the proxy process.
    pub(crate) fn signal(&self, signal: Signal) {
        self.child.signal(signal).expect("signal proxy");
    }

    /// Waits up to `deadline` for the proxy to exit.
    pub(crate) async fn wait_exit(
        &mut self,
        deadline: Duration,
    ) -> Option<std::process::ExitStatus> {
        self.child.wait_exit(deadline).await
    }

    /// `http://public/path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `http://admin/path`.
    pub(crate) fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// The admin `/status` document.
    pub(crate) async fn status(&self) -> serde_json::Value {
        client()
            .get(self.admin_url("/status"))
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("status json")
    }

    /// One backend's entry in `/status`.
    pub(crate) async fn backend_status(
        &self,
        upstream: &str,
        addr: SocketAddr,
    ) -> Option<serde_json::Value> {
        let status = self.status().await;
        status["upstreams"]
            .as_array()?
            .iter()
            .find(|u| u["name"] == upstream)?["backends"]
            .as_array()?
            .iter()
            .find(|b| b["addr"] == addr.to_string())
            .cloned()
    }

    /// Waits until `/status` says the backend's `healthy` is `healthy`.
    pub(crate) async fn wait_health(
        &self,
        upstream: &str,
        addr: SocketAddr,
        healthy: bool,
        deadline: Duration,
    ) -> Result<(), String> {
        wait_until(
            &format!("{addr} healthy={healthy}"),
            deadline,
            || async move {
                let entry = self.backend_status(upstream, addr).await?;
                (entry["healthy"] == healthy).then_some(())
            },
        )
        .await
    }

    /// The admin `/metrics` text.
    pub(crate) async fn metrics(&self) -> String {
        client()
            .get(self.admin_url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config_text(
    dir: &Path,
    addr: SocketAddr,
    admin: SocketAddr,
    server: &str,
    body: &str,
) -> String {
    format!(
        "[server]\nthreads = 2\ngrace_period_secs = 5\ngraceful_shutdown_timeout_secs = 1\n\
         upgrade_sock = \"{}\"\n{server}\n\n[[listeners]]\naddr = \"{addr}\"\n\n[admin]\naddr = \"{admin}\"\n\n{body}",
        dir.join("upgrade.sock").display()
    )
}

/// A fresh directory for one test's files.
pub(crate) fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flotilla-proxy-it-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// An HTTP client that never uses a system proxy and gives up after 10 s.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// The `X-Instance` of a response.
pub(crate) fn instance(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-instance")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The value of the series `name` whose labels include every pair in `labels`, summed.
pub(crate) fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| {
            line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
        })
        .filter(|line| {
            labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Runs `proxy check --config FILE` with `text` as the file; returns (success, stdout+stderr).
pub(crate) fn check(text: &str) -> (bool, String) {
    let dir = scratch_dir();
    let path = dir.join("check.toml");
    std::fs::write(&path, text).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_proxy"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .expect("run proxy check");
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
