//! Quick mode, a graceful stop on SIGTERM within the configured grace period, and the
//! in-process `run` that returns on its own shutdown signal.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use nix::sys::signal::Signal;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use proxy::config::Config;
use proxy::server::Launch;
use shared::testing::{ChildGuard, READY_DEADLINE, free_port, wait_for_status, wait_until};

use crate::helpers::{Origin, client, instance};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_mode_balances_and_stops_gracefully_on_sigterm() {
    let (a, b) = (Origin::start("a").await, Origin::start("b").await);
    let public = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let admin = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut proxy = ChildGuard::spawn(
        Command::new(env!("CARGO_BIN_EXE_proxy"))
            .args(["--listen", &public.to_string()])
            .args([
                "--backend",
                &a.addr.to_string(),
                "--backend",
                &b.addr.to_string(),
            ])
            .args(["--admin", &admin.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_for_status(admin, "/healthz", 200, READY_DEADLINE)
        .await
        .expect("admin ready");
    wait_for_status(public, "/", 200, READY_DEADLINE)
        .await
        .expect("proxy ready");

    let client = client();
    let mut seen = Vec::new();
    for _ in 0..4 {
        let response = client
            .get(format!("http://{public}/"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        seen.push(instance(&response));
    }
    assert!(
        seen.contains(&"a".to_owned()) && seen.contains(&"b".to_owned()),
        "{seen:?}"
    );

    let asked = Instant::now();
    proxy.signal(Signal::SIGTERM).expect("SIGTERM");
    let status = proxy
        .wait_exit(Duration::from_secs(15))
        .await
        .expect("the proxy exits");
    // Quick mode's grace period is the default 5 s, plus up to 3 s of runtime shutdown.
    assert!(status.success(), "{status:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "took {:?}",
        asked.elapsed()
    );
}

/// Stops an in-process server when notified.
struct StopOnNotify(Arc<tokio::sync::Notify>);

#[async_trait::async_trait]
impl ShutdownSignalWatch for StopOnNotify {
    async fn recv(&self) -> ShutdownSignal {
        self.0.notified().await;
        ShutdownSignal::FastShutdown
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_in_process_and_returns_on_its_shutdown_signal() {
    let origin = Origin::start("a").await;
    let public = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = Config::quick(public, vec![origin.addr], Some(admin), None).expect("quick config");
    let stop = Arc::new(tokio::sync::Notify::new());
    let signal = StopOnNotify(stop.clone());
    let server = std::thread::spawn(move || {
        proxy::server::run(Launch {
            config,
            config_path: None,
            upgrade: false,
            shutdown: Some(Box::new(signal)),
        })
    });
    wait_for_status(public, "/", 200, READY_DEADLINE)
        .await
        .expect("in-process proxy serves");

    stop.notify_one();
    wait_until("run() to return", Duration::from_secs(10), || async {
        server.is_finished().then_some(())
    })
    .await
    .expect("run returns after its shutdown signal");
    server.join().expect("server thread").expect("run ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_in_flight_stream_finish_and_refuses_new_connections() {
    let origin = Origin::start("a").await;
    let mut proxy =
        crate::helpers::Proxy::start(&crate::helpers::upstream("app", &[&origin])).await;
    let response = client()
        .get(proxy.url("/sse"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("request");
    let mut body = response.bytes_stream();
    let first = body.next().await.expect("first chunk").expect("chunk ok");
    assert!(String::from_utf8_lossy(&first).contains("event: first"));

    proxy.signal(Signal::SIGTERM);
    wait_until("the listener to close", Duration::from_secs(5), || async {
        tokio::net::TcpStream::connect(proxy.addr)
            .await
            .is_err()
            .then_some(())
    })
    .await
    .expect("no new connections during the grace period");
    let mut rest = Vec::new();
    while let Some(chunk) = body.next().await {
        rest.extend_from_slice(&chunk.expect("the in-flight stream is not cut"));
    }
    assert!(String::from_utf8_lossy(&rest).contains("event: second"));

    // Grace period 5 s plus 1 s of runtime shutdown in the test config.
    let status = proxy
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("the proxy exits");
    assert!(status.success(), "{status:?}");
}

/// The `proxy starting` line of a quick-mode proxy started under `taskset -c cpus`.
fn starting_line_under(cpus: &str, backend: SocketAddr) -> String {
    let public = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut proxy = ChildGuard::spawn(
        Command::new("taskset")
            .args(["-c", cpus])
            .arg(env!("CARGO_BIN_EXE_proxy"))
            .args(["--listen", &public.to_string()])
            .args(["--backend", &backend.to_string()])
            .args(["--admin", &admin.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    // Log lines go to standard error.
    let stderr = proxy.inner().stderr.take().expect("piped stderr");
    let (lines, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + READY_DEADLINE;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match seen.recv_timeout(left) {
            Ok(line) if line.contains("proxy starting") => return line,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    panic!("no `proxy starting` line under taskset -c {cpus}");
}

/// Quick mode takes as many worker threads as the CPUs it may run on (its affinity mask),
/// not a fixed number: one CPU, one thread; all of this machine's, that many.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_mode_threads_follow_the_cpus_it_may_use() {
    let taskset = Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .status();
    if !taskset.is_ok_and(|s| s.success()) {
        eprintln!("skipped: taskset (util-linux) is not installed");
        return;
    }
    let origin = Origin::start("a").await;
    let one = starting_line_under("0", origin.addr);
    assert!(one.contains("threads=1"), "{one}");
    let all = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let every = format!("0-{}", all - 1);
    let line = starting_line_under(&every, origin.addr);
    assert!(line.contains(&format!("threads={all}")), "{line}");
}
