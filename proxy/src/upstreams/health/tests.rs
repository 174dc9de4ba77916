//! Active checks against real loopback servers. `TestServer` answers 200, 500 or hangs
//! (accepts and never writes), switchable while checks run.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use shared::testing::wait_until;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::probe;
use crate::config::upstream::{HealthConfig, UpstreamConfig};
use crate::upstreams::Upstream;

pub(crate) const OK: u8 = 0;
pub(crate) const FAIL: u8 = 1;
pub(crate) const HANG: u8 = 2;

/// A backend whose answer to every request is set by `mode`.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    pub(crate) mode: Arc<AtomicU8>,
}

impl TestServer {
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mode = Arc::new(AtomicU8::new(OK));
        let shared = mode.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mode = shared.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut read = 0;
                    while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf[read..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => read += n,
                        }
                    }
                    let status = match mode.load(Ordering::SeqCst) {
                        OK => "200 OK",
                        FAIL => "500 Internal Server Error",
                        _ => {
                            std::future::pending::<()>().await;
                            return;
                        }
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        Self { addr, mode }
    }

    pub(crate) fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }
}

fn fast_health() -> HealthConfig {
    HealthConfig {
        interval_ms: 50,
        timeout_ms: 100,
        ..HealthConfig::default()
    }
}

#[tokio::test]
async fn a_probe_passes_on_200_and_names_the_reason_otherwise() {
    let server = TestServer::start().await;
    let health = fast_health();
    assert_eq!(probe(server.addr, &health).await, Ok(()));

    server.set(FAIL);
    let err = probe(server.addr, &health).await.expect_err("500 fails");
    assert!(err.contains("status 500"), "{err}");

    server.set(HANG);
    let started = Instant::now();
    let err = probe(server.addr, &health).await.expect_err("hang fails");
    assert!(err.contains("no response within 100 ms"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));

    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let err = probe(addr, &health).await.expect_err("refused");
    assert!(err.starts_with("connect:"), "{err}");
}

#[tokio::test]
async fn checks_take_a_failing_backend_down_and_bring_it_back() {
    let server = TestServer::start().await;
    let steady = TestServer::start().await;
    let mut config = UpstreamConfig::from_addrs(vec![server.addr, steady.addr]);
    config.health = fast_health();
    let upstream = Upstream::new("app", &config);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(upstream.clone().run(shutdown.clone()));
    let status_of = |up: &Upstream| {
        up.snapshot()
            .into_iter()
            .find(|s| s.addr == server.addr)
            .expect("member")
    };
    let deadline = Duration::from_secs(5);

    // Passing checks are counted and keep it up.
    wait_until("two passed checks", deadline, || async {
        (status_of(&upstream).checks_ok_total >= 2).then_some(())
    })
    .await
    .expect("checks run");
    assert!(status_of(&upstream).healthy);

    // 500: down after `fall` (2) failures, i.e. within interval × fall + timeout.
    server.set(FAIL);
    let started = Instant::now();
    wait_until("down on 500", deadline, || async {
        (!status_of(&upstream).healthy).then_some(())
    })
    .await
    .expect("marked down");
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    let status = status_of(&upstream);
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("status 500"))
    );
    assert_eq!(upstream.eligible_count(), 1);
    for _ in 0..10 {
        let pick = upstream.select(None, &[]).expect("the steady one");
        assert_eq!(pick.addr(), steady.addr);
    }

    // Recovers after `rise` (2) passes.
    server.set(OK);
    wait_until("up again", deadline, || async {
        status_of(&upstream).healthy.then_some(())
    })
    .await
    .expect("marked up");
    assert_eq!(upstream.eligible_count(), 2);

    // Hangs (accepts, never answers): down by timeout.
    server.set(HANG);
    let started = Instant::now();
    wait_until("down on hang", deadline, || async {
        (!status_of(&upstream).healthy).then_some(())
    })
    .await
    .expect("marked down");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let error = status_of(&upstream).last_error.expect("error");
    assert!(error.contains("no response within"), "{error}");

    shutdown.cancel();
    tokio::time::timeout(deadline, task)
        .await
        .expect("run stops")
        .expect("no panic");
}

#[tokio::test]
async fn a_reload_starts_checks_for_added_members_and_keeps_the_others_state() {
    let kept = TestServer::start().await;
    let added = TestServer::start().await;
    added.set(FAIL);
    let mut config = UpstreamConfig::from_addrs(vec![kept.addr]);
    config.health = fast_health();
    let upstream = Upstream::new("app", &config);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(upstream.clone().run(shutdown.clone()));
    let deadline = Duration::from_secs(5);
    let status_of =
        |up: &Upstream, addr: SocketAddr| up.snapshot().into_iter().find(|s| s.addr == addr);

    wait_until("kept checked", deadline, || async {
        status_of(&upstream, kept.addr)
            .is_some_and(|s| s.checks_ok_total >= 2)
            .then_some(())
    })
    .await
    .expect("checks run");

    let mut reloaded = UpstreamConfig::from_addrs(vec![kept.addr, added.addr]);
    reloaded.health = fast_health();
    upstream.reconfigure(&reloaded);
    wait_until("added member checked and down", deadline, || async {
        status_of(&upstream, added.addr)
            .is_some_and(|s| !s.healthy)
            .then_some(())
    })
    .await
    .expect("added member checked");
    let kept_status = status_of(&upstream, kept.addr).expect("kept");
    assert!(
        kept_status.healthy && kept_status.checks_ok_total >= 2,
        "state kept"
    );

    shutdown.cancel();
    tokio::time::timeout(deadline, task)
        .await
        .expect("run stops")
        .expect("no panic");
}
