//! The integration-test harness: real servers on port 0, readiness polling with a deadline,
//! and child processes that cannot outlive the test that started them.
//!
//! No fixed ports and no sleeps as synchronisation: tests bind port 0 when they run the
//! server in-process, reserve a port with [`free_port`] when a child process must bind it,
//! and wait with [`wait_until`] for the condition they need.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

pub mod load;

/// How long tests wait for a process or server to become ready before failing.
pub const READY_DEADLINE: Duration = Duration::from_secs(30);

/// A listener on 127.0.0.1 with a port chosen by the kernel, and its address.
///
/// # Panics
///
/// If loopback cannot be bound, which means the test machine is broken.
pub async fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("listener address");
    (listener, addr)
}

/// A loopback port that was free a moment ago, for a child process to bind.
///
/// Another process could take it in between; tests that use it accept that small race
/// because a child process cannot be handed a listener by port 0 and report it back
/// without parsing its output.
///
/// # Panics
///
/// If loopback cannot be bound.
pub fn free_port() -> u16 {
    // The kernel may hand the same port out again once it is released, and two test
    // servers that set `SO_REUSEPORT` (Pingora's listeners do) would then share it without
    // an error, each answering the other's requests. So within one test process a port
    // is never handed out twice.
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("listener address").port();
        let mut handed_out = HANDED_OUT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if handed_out.insert(port) {
            return port;
        }
    }
}

/// The first of `count` loopback ports in a row that were free a moment ago, for a child
/// that takes a first port and counts up (the stack's `--instance-port`). The same race as
/// [`free_port`].
///
/// # Panics
///
/// If no such run turns up in 100 tries.
pub fn free_ports_in_a_row(count: u16) -> u16 {
    for _ in 0..100 {
        let first = free_port();
        if first.checked_add(count).is_none() {
            continue;
        }
        let all_free = (0..count)
            .all(|offset| std::net::TcpListener::bind(("127.0.0.1", first + offset)).is_ok());
        if all_free {
            return first;
        }
    }
    panic!("no run of {count} free ports on loopback");
}

/// Polls `check` every 20 ms until it yields `Some`, or fails after `deadline` with `what`.
///
/// # Errors
///
/// A message naming `what` and the deadline, when the condition never held.
pub async fn wait_until<T, F, Fut>(
    what: &str,
    deadline: Duration,
    mut check: F,
) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if started.elapsed() >= deadline {
            return Err(format!("timed out after {deadline:?} waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The environment variable that turns a missing component from a skip into a failure.
///
/// It holds a comma-separated list of [`Component`] names (`postgres,chromium,prometheus`).
/// CI sets it, so a machine that lost a component cannot pass by skipping the tests that
/// need it; a developer's machine without it leaves it unset and sees the skips.
pub const REQUIRE_VAR: &str = "FLOTILLA_REQUIRE";

/// Something outside the workspace that some tests need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// A PostgreSQL server at `TEST_DATABASE_URL`.
    Postgres,
    /// PostgreSQL's server binaries (`initdb`, `pg_ctl`) on this machine, for tests that
    /// stop and start a server of their own.
    PostgresServer,
    /// Headless Chromium and its chromedriver.
    Chromium,
    /// The `prometheus` server binary.
    Prometheus,
    /// Node.js, for the real test peers it serves.
    Node,
    /// Pebble, the RFC 8555 test CA, and `pebble-challtestsrv`, its DNS server (Debian's
    /// `pebble` package), for the ACME tests.
    Pebble,
}

impl Component {
    /// The name [`REQUIRE_VAR`] lists it by.
    pub fn name(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::PostgresServer => "postgres-server",
            Self::Chromium => "chromium",
            Self::Prometheus => "prometheus",
            Self::Node => "node",
            Self::Pebble => "pebble",
        }
    }

    /// Whether [`REQUIRE_VAR`] names this component.
    pub fn is_required(self) -> bool {
        std::env::var(REQUIRE_VAR).is_ok_and(|list| self.is_listed_in(&list))
    }

    /// Whether a comma-separated `list` of names includes this component's.
    fn is_listed_in(self, list: &str) -> bool {
        list.split(',')
            .any(|name| name.trim().eq_ignore_ascii_case(self.name()))
    }
}

/// Reports that `test` did not run because `component` is missing, and why.
///
/// # Panics
///
/// When [`REQUIRE_VAR`] names the component: there a skip would be a silent pass.
pub fn skip(component: Component, test: &str, why: &str) {
    assert!(
        !component.is_required(),
        "{test} needs {component}, which {REQUIRE_VAR} requires, but {why}",
        component = component.name(),
    );
    eprintln!("skipped {test}: {why}");
}

/// Waits until something accepts TCP connections at `addr`.
///
/// # Errors
///
/// When nothing listens within `deadline`.
pub async fn wait_for_tcp(addr: SocketAddr, deadline: Duration) -> Result<(), String> {
    wait_until(&format!("a listener on {addr}"), deadline, || async move {
        TcpStream::connect(addr).await.ok().map(|_| ())
    })
    .await
}

/// Waits until `GET path` at `addr` answers with `status`.
///
/// # Errors
///
/// When it never does within `deadline`.
pub async fn wait_for_status(
    addr: SocketAddr,
    path: &str,
    status: u16,
    deadline: Duration,
) -> Result<(), String> {
    wait_until(
        &format!("GET http://{addr}{path} to answer {status}"),
        deadline,
        || async move { (get_status(addr, path).await.ok() == Some(status)).then_some(()) },
    )
    .await
}

/// The status code of a bare `GET path` over a new HTTP/1.1 connection ([`crate::probe`]).
///
/// # Errors
///
/// On connection failure or a response that is not HTTP.
pub async fn get_status(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    crate::probe::status(addr, path)
        .await
        .map_err(std::io::Error::other)
}

/// A child process killed (SIGKILL) and reaped when dropped, so a failing test leaves
/// nothing running.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
}

impl ChildGuard {
    /// Spawns `command`.
    ///
    /// # Panics
    ///
    /// If the process cannot be started.
    pub fn spawn(command: &mut Command) -> Self {
        let child = command.spawn().expect("spawn child process");
        Self { child }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to the child.
    ///
    /// # Errors
    ///
    /// When the process no longer exists.
    pub fn signal(&self, signal: nix::sys::signal::Signal) -> nix::Result<()> {
        let pid = i32::try_from(self.child.id()).map_err(|_| nix::Error::ESRCH)?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal)
    }

    /// Waits up to `deadline` for the child to exit by itself, returning its status.
    pub async fn wait_exit(&mut self, deadline: Duration) -> Option<std::process::ExitStatus> {
        let child = &mut self.child;
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if started.elapsed() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The underlying child, e.g. to take its stdout.
    pub fn inner(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds `bin` of the workspace package `package` as this test binary was built (same
/// target directory, same profile) and returns its path.
///
/// Cargo tells an integration test where its own package's binaries are, not another's; a
/// test that runs another package's binary as a real process builds it with this: a no-op
/// after `cargo test --workspace`, one small build otherwise.
///
/// # Panics
///
/// If the build fails or the binary is not where Cargo puts it.
pub fn workspace_bin(package: &str, bin: &str) -> PathBuf {
    // A test binary is TARGET/PROFILE_DIR/deps/NAME-HASH; PROFILE_DIR is `debug` for the
    // dev and test profiles and the profile's own name otherwise.
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary is in PROFILE_DIR/deps");
    let target_dir = profile_dir
        .parent()
        .expect("PROFILE_DIR is in a target directory");
    let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") => "dev",
        Some(name) => name,
        None => panic!("no profile directory above {}", exe.display()),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let built = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            package,
            "--bin",
            bin,
            "--profile",
            profile,
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo build");
    assert!(
        built.status.success(),
        "cargo build -p {package} --bin {bin} failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let path = profile_dir.join(bin);
    assert!(path.is_file(), "cargo built no {}", path.display());
    path
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn wait_until_reports_what_it_waited_for() {
        let error = wait_until("the impossible", Duration::from_millis(50), || async {
            None::<()>
        })
        .await
        .expect_err("never holds");
        assert!(error.contains("the impossible"), "{error}");
    }

    #[tokio::test]
    async fn get_status_reads_the_status_line() {
        let (listener, addr) = listener().await;
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            let _ = socket
                .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                .await;
        });
        assert_eq!(get_status(addr, "/").await.expect("status"), 204);
    }

    #[test]
    fn a_component_is_required_only_when_listed_by_name() {
        assert!(Component::Postgres.is_listed_in("postgres"));
        assert!(Component::Chromium.is_listed_in("postgres, Chromium ,prometheus"));
        assert!(!Component::Prometheus.is_listed_in("postgres,chromium"));
        assert!(!Component::Postgres.is_listed_in(""));
        assert!(!Component::Node.is_listed_in("nodejs"));
        assert!(!Component::PostgresServer.is_listed_in("postgres"));
        assert!(Component::PostgresServer.is_listed_in("postgres,postgres-server"));
    }
}
