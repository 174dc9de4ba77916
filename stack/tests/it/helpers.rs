use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use nix::sys::signal::Signal;
use shared::testing::{ChildGuard, free_port, free_ports_in_a_row, wait_until};

/// How long a stack gets to come up on a busy test machine.
pub(crate) const START_DEADLINE: Duration = Duration::from_secs(60);

/// A running `stack` process with its output captured line by line.
pub(crate) struct TestStack {
    pub(crate) child: ChildGuard,
    pub(crate) public: SocketAddr,
    pub(crate) admin: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
    _data: TempDir,
    /// This stack's turn; dropped last, after its processes are gone.
    _turn: MutexGuard<'static, ()>,
}

/// Stacks run one at a time. Each picks free ports and binds them later, so two stacks
/// starting together can pick the same port, and a stack's processes would then fail for
/// reasons no user sees.
static STACK_TURN: Mutex<()> = Mutex::new(());

impl TestStack {
    /// Starts a stack of `instances` app processes on free loopback ports.
    pub(crate) fn start(instances: u16, extra: &[&str]) -> Self {
        Self::start_with_ports(instances, instances, extra)
    }

    /// Starts a split stack: `instances` app processes and `auth` more as the auth group
    /// (`--split-auth`), all on free loopback ports in a row.
    pub(crate) fn start_split(instances: u16, auth: u16) -> Self {
        let auth_flag = auth.to_string();
        Self::start_with_ports(instances, instances + auth, &["--split-auth", &auth_flag])
    }

    /// A stack of `instances` (and whatever `extra` adds) with `row` instance ports.
    fn start_with_ports(instances: u16, row: u16, extra: &[&str]) -> Self {
        // A test that failed while holding the turn poisoned nothing this one relies on.
        let turn = STACK_TURN.lock().unwrap_or_else(PoisonError::into_inner);
        let data = TempDir::new();
        let (public, admin) = (free_port(), free_port());
        let first = free_ports_in_a_row(row);
        let mut command = Command::new(env!("CARGO_BIN_EXE_stack"));
        command
            .args(["--instances", &instances.to_string()])
            .args(["--port", &public.to_string()])
            .args(["--admin-port", &admin.to_string()])
            .args(["--instance-port", &first.to_string()])
            .arg("--data-dir")
            .arg(&data.0)
            .args(extra)
            .env_remove("DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = ChildGuard::spawn(&mut command);
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .inner()
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .inner()
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if std::env::var_os("TEST_LOG").is_some() {
                        eprintln!("[stack] {line}");
                    }
                    lines.lock().expect("lines lock").push(line);
                }
            });
        }
        let loopback = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        Self {
            child,
            public: loopback(public),
            admin: loopback(admin),
            lines,
            _data: data,
            _turn: turn,
        }
    }

    /// Everything printed so far.
    pub(crate) fn output(&self) -> String {
        self.lines.lock().expect("lines lock").join("\n")
    }

    /// Waits for a printed line containing `needle`, returning it.
    pub(crate) async fn wait_for_line(&self, needle: &str, deadline: Duration) -> String {
        let lines = Arc::clone(&self.lines);
        wait_until(&format!("a line containing {needle:?}"), deadline, || {
            let lines = Arc::clone(&lines);
            let needle = needle.to_owned();
            async move {
                lines
                    .lock()
                    .expect("lines lock")
                    .iter()
                    .find(|line| line.contains(&needle))
                    .cloned()
            }
        })
        .await
        .unwrap_or_else(|error| panic!("{error}; output so far:\n{}", self.output()))
    }

    /// The PID the banner printed for `name` (`proxy`, `app-1`, …).
    pub(crate) async fn pid_of(&self, name: &str) -> i32 {
        let line = self
            .wait_for_line(&format!("  {name} "), START_DEADLINE)
            .await;
        pid_in(&line).unwrap_or_else(|| panic!("no pid in {line:?}"))
    }

    pub(crate) fn signal(&self, signal: Signal) {
        self.child.signal(signal).expect("signal the stack");
    }
}

impl Drop for TestStack {
    /// Takes every process the stack started with it, even when a test fails: first the
    /// launcher, so nothing is restarted, then each instance and the proxy by the PIDs it
    /// printed. Killing only the launcher would orphan those.
    fn drop(&mut self) {
        let _ = self.child.signal(Signal::SIGKILL);
        let _ = self.child.inner().wait();
        for pid in self.output().lines().filter_map(pid_in) {
            if pid > 0 && alive(pid) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

/// The number after "pid " in a line.
pub(crate) fn pid_in(line: &str) -> Option<i32> {
    line.split("pid ")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Whether a process with this PID still exists.
pub(crate) fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

/// A directory removed on drop.
pub(crate) struct TempDir(pub PathBuf);

impl TempDir {
    pub(crate) fn new() -> Self {
        let path = std::env::temp_dir().join(format!(
            "flotilla-stack-test-{}-{}",
            std::process::id(),
            uuid_like()
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn uuid_like() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A plain client for requests through the proxy.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}
