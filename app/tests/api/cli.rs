//! The real binary: refuses to start without a secret; serves, and exits 0 on SIGTERM, even
//! while a client holds a request open.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use nix::sys::signal::Signal;
use shared::testing::{ChildGuard, free_port, wait_for_status};

use crate::helpers::{DEADLINE, SECRET, TestDb};

fn app_command(db: &TestDb) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_app"));
    command
        .env_remove("JWT_SECRET")
        .env_remove("APP_LISTEN")
        .env_remove("APP_INSTANCE")
        .env("DATABASE_URL", db.url())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

#[test]
fn without_a_secret_the_binary_refuses_to_start() {
    let db = TestDb::sqlite();
    for args in [vec![], vec!["--jwt-secret", "too-short"]] {
        let output = app_command(&db)
            .args(["--listen", "127.0.0.1:0"])
            .args(&args)
            .output()
            .expect("run app");
        assert!(!output.status.success(), "{args:?} must fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--jwt-secret"), "{args:?}: {stderr}");
        assert!(stderr.contains("JWT_SECRET"), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("too-short"),
            "the secret is never printed: {stderr}"
        );
    }
}

#[tokio::test]
async fn the_binary_serves_then_exits_zero_on_sigterm() {
    let db = TestDb::sqlite();
    let port = free_port();
    let mut child = ChildGuard::spawn(
        app_command(&db)
            .env("JWT_SECRET", SECRET)
            .env("APP__DRAIN_SECS", "0")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--instance-id", "from-cli"]),
    );
    let addr = ([127, 0, 0, 1], port).into();
    wait_for_status(addr, "/readyz", 200, DEADLINE)
        .await
        .expect("ready");
    child.signal(Signal::SIGTERM).expect("SIGTERM");
    let status = child
        .wait_exit(Duration::from_secs(20))
        .await
        .expect("exits after SIGTERM");
    assert!(status.success(), "{status:?}");
}

/// A client that stops sending its body halfway does not keep a stopping instance alive:
/// once the drain is over, requests in flight get `shutdown_timeout_secs` (here 1 s, while
/// the body's own idle timeout is 15 s), then the instance exits 0 anyway.
#[tokio::test]
async fn a_stalled_request_does_not_keep_a_stopping_instance_alive() {
    let db = TestDb::sqlite();
    let port = free_port();
    let mut child = ChildGuard::spawn(
        app_command(&db)
            .env("JWT_SECRET", SECRET)
            .env("APP__DRAIN_SECS", "0")
            .env("APP__SHUTDOWN_TIMEOUT_SECS", "1")
            .args(["--listen", &format!("127.0.0.1:{port}")]),
    );
    let addr = ([127, 0, 0, 1], port).into();
    wait_for_status(addr, "/readyz", 200, DEADLINE)
        .await
        .expect("ready");
    let mut stalled = tokio::net::TcpStream::connect(addr).await.expect("connect");
    // `Expect: 100-continue`: the instance says `100 Continue` once the handler starts
    // reading the body, so the request is known to be in flight before the SIGTERM.
    stalled
        .write_all(
            b"POST /api/auth/login HTTP/1.1\r\nHost: app\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n",
        )
        .await
        .expect("send the head");
    let mut answer = Vec::new();
    tokio::time::timeout(DEADLINE, async {
        while !String::from_utf8_lossy(&answer).contains("100 Continue") {
            let mut chunk = [0u8; 256];
            let read = stalled.read(&mut chunk).await.expect("read");
            assert!(read > 0, "closed before 100 Continue");
            answer.extend_from_slice(&chunk[..read]);
        }
    })
    .await
    .expect("the handler starts reading the body");
    stalled
        .write_all(b"{\"email\":")
        .await
        .expect("send a tenth of the body");

    let signalled = Instant::now();
    child.signal(Signal::SIGTERM).expect("SIGTERM");
    let status = child
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("exits though a request body is stalled");
    assert!(status.success(), "{status:?}");
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "{:?}",
        signalled.elapsed()
    );
    drop(stalled);
}

#[test]
fn a_zero_database_timeout_or_breaker_setting_is_refused_by_name() {
    let db = TestDb::sqlite();
    for key in [
        "DB_ACQUIRE_TIMEOUT_MS",
        "DB_BREAKER_FAILURES_TO_OPEN",
        "DB_BREAKER_PROBE_INTERVAL_MS",
    ] {
        let output = app_command(&db)
            .args(["--listen", "127.0.0.1:0"])
            .env("JWT_SECRET", SECRET)
            .env(format!("APP__{key}"), "0")
            .output()
            .expect("run app");
        assert!(!output.status.success(), "{key}=0 must fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&key.to_lowercase()) && stderr.contains("must be above 0"),
            "{key}: {stderr}"
        );
    }
}

#[test]
fn an_unreachable_database_is_reported_with_its_real_cause() {
    // Nothing listens on the port a moment after it was free: the connection is refused.
    let url = format!("postgres://postgres@127.0.0.1:{}/flotilla", free_port());
    let db = TestDb::sqlite();
    let started = std::time::Instant::now();
    let output = app_command(&db)
        .env("DATABASE_URL", &url)
        .env("JWT_SECRET", SECRET)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .output()
        .expect("run the app");

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr).to_lowercase();
    assert!(stderr.contains("refused"), "the real cause: {stderr}");
    assert!(!stderr.contains("pool timed out"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "it gives up after its start-up wait: {:?}",
        started.elapsed()
    );
}
