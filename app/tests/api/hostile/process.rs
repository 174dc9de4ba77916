//! The real `app` binary as a child process, so a test can read its peak memory.

use std::net::SocketAddr;
use std::process::{Command, Stdio};

use shared::testing::{ChildGuard, free_port, wait_for_status};

use crate::helpers::{DEADLINE, SECRET, TestDb};

/// A running `app` process on a free loopback port.
pub(crate) struct Instance {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    child: ChildGuard,
}

impl Instance {
    /// Starts the binary on `db` with `APP__*` settings from `env`, and waits until ready.
    pub(crate) async fn start(db: &TestDb, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_app"));
        command
            .env("JWT_SECRET", SECRET)
            .env("DATABASE_URL", db.url())
            .env("APP__DRAIN_SECS", "0")
            .env("RUST_LOG", "error")
            .env_remove("APP_INSTANCE")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let child = ChildGuard::spawn(&mut command);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_for_status(addr, "/readyz", 200, DEADLINE)
            .await
            .expect("the app becomes ready");
        Self { addr, child }
    }

    /// An absolute URL for `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The process's open file descriptors (sockets included).
    pub(crate) fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.pid()))
            .map(Iterator::count)
            .unwrap_or(0)
    }

    /// The process's peak resident set size so far (`VmHWM`), in bytes.
    pub(crate) fn peak_rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.pid()))
            .expect("read /proc/PID/status");
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status");
        kib * 1024
    }
}

/// Megabytes, for messages.
pub(crate) fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}
