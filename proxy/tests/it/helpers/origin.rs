//! The origin servers: `proxy-test-origin` processes, and where their binary comes from.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use nix::sys::signal::Signal;
use shared::testing::{ChildGuard, READY_DEADLINE, free_port, wait_for_status};

use super::{client, output};

/// The `proxy-test-origin` binary, built on first use.
///
/// It lives in the `test-origin` crate, so that `cargo build -p proxy` builds the product
/// alone, and Cargo tells integration tests where only their own package's binaries are.
/// So the first test that starts an origin runs `cargo build -p test-origin` into this test
/// binary's own target directory and profile: a no-op after `cargo test --workspace`, one
/// small build after `cargo test -p proxy`. The other test threads wait for it in the
/// `OnceLock`; Cargo's lock on the target directory orders it against other processes.
fn origin_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| shared::testing::workspace_bin("test-origin", "proxy-test-origin"))
}

/// A `proxy-test-origin` process.
pub(crate) struct Origin {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    child: Option<ChildGuard>,
}

impl Origin {
    /// Starts an origin on a free loopback port and waits until it answers.
    pub(crate) async fn start(id: &str) -> Self {
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        Self::start_on(id, addr).await
    }

    /// Starts an origin that logs every request's method and id to `log`.
    pub(crate) async fn start_logging(id: &str, log: &Path) -> Self {
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        Self::spawn(id, addr, Some(log), &[]).await
    }

    /// Starts an origin with extra command-line flags (e.g. `--keep-alive-ms 1000`).
    pub(crate) async fn start_with(id: &str, flags: &[&str]) -> Self {
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        Self::spawn(id, addr, None, flags).await
    }

    /// Starts an origin on `addr` (e.g. to bring a killed one back).
    pub(crate) async fn start_on(id: &str, addr: SocketAddr) -> Self {
        Self::spawn(id, addr, None, &[]).await
    }

    async fn spawn(id: &str, addr: SocketAddr, log: Option<&Path>, flags: &[&str]) -> Self {
        let mut command = Command::new(origin_bin());
        command.args(["--listen", &addr.to_string(), "--id", id]);
        command.args(flags);
        if let Some(log) = log {
            command.arg("--log").arg(log);
        }
        let child = ChildGuard::spawn(command.stdout(output()).stderr(output()));
        wait_for_status(addr, "/healthz", 200, READY_DEADLINE)
            .await
            .expect("origin ready");
        Self {
            addr,
            child: Some(child),
        }
    }

    /// Sends `signal` to the origin process.
    pub(crate) fn signal(&self, signal: Signal) {
        if let Some(child) = &self.child {
            child.signal(signal).expect("signal origin");
        }
    }

    /// SIGKILLs the origin and reaps it; its port then refuses connections.
    pub(crate) fn kill(&mut self) {
        self.child = None;
    }

    /// The origin's `/__stats` document.
    async fn stats(&self) -> serde_json::Value {
        client()
            .get(format!("http://{}/__stats", self.addr))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats json")
    }

    /// Requests per method the origin has counted (health checks and stats excluded).
    pub(crate) async fn counts(&self) -> BTreeMap<String, u64> {
        serde_json::from_value(self.stats().await["requests"].clone()).expect("counts map")
    }

    /// Requests of `method` the origin has counted.
    pub(crate) async fn count(&self, method: &str) -> u64 {
        self.counts().await.get(method).copied().unwrap_or(0)
    }

    /// Requests the origin's `/cache/...` handler served for `path`.
    pub(crate) async fn path_count(&self, path: &str) -> u64 {
        self.stats().await["paths"][path].as_u64().unwrap_or(0)
    }
}
