//! Every client connection has a deadline and a bounded share: heads, keep-alive idling
//! and bodies are timed, and one client's idle connections cannot starve another.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::helpers::{Origin, Proxy, metric, upstream};
use crate::raw::{closed_within, connect_from, get, read_response};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const OTHER_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// Raises this test process's own open-file limit, which the idle connections need.
fn raise_own_open_files() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("setrlimit");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_idle_connections_do_not_lock_out_another_client() {
    raise_own_open_files();
    let origin = Origin::start("a").await;
    let body = upstream("app", &[&origin]);
    // 1,600 descriptors: the 2,000 idle connections would exhaust them without the
    // per-address limit (default 1,000), as on a host with a low default limit.
    let proxy = match Proxy::start_with_open_files(&body, 1600).await {
        Some(proxy) => proxy,
        None => {
            eprintln!("prlimit not installed: running with the inherited open-file limit");
            Proxy::start(&body).await
        }
    };

    let mut idle = Vec::new();
    let started = Instant::now();
    for _ in 0..2000 {
        if started.elapsed() > Duration::from_secs(30) {
            break;
        }
        match connect_from(LOCAL, proxy.addr).await {
            Ok(stream) => idle.push(stream),
            Err(error) => panic!("connect {} failed: {error}", idle.len()),
        }
    }
    assert_eq!(idle.len(), 2000, "opened only {} connections", idle.len());

    let started = Instant::now();
    let mut other = connect_from(OTHER_CLIENT, proxy.addr)
        .await
        .expect("connect from 127.0.0.2");
    let response = tokio::time::timeout(Duration::from_secs(1), get(&mut other, "/"))
        .await
        .ok()
        .flatten();
    let elapsed = started.elapsed();
    assert_eq!(
        response.as_ref().map(|r| r.status),
        Some(200),
        "another client's request after {elapsed:?}: {response:?}"
    );

    // The connections past the per-address limit were answered 503 and counted.
    let last = idle.last_mut().expect("connections");
    let refused = read_response(last, Duration::from_secs(2)).await;
    assert_eq!(refused.as_ref().map(|r| r.status), Some(503), "{refused:?}");
    assert!(
        refused.is_some_and(|r| r.head.to_ascii_lowercase().contains("retry-after: 1")),
        "503 without Retry-After"
    );
    let rejected = metric(
        &proxy.metrics().await,
        "proxy_connections_rejected_total",
        &[("reason", "max_connections_per_ip")],
    );
    assert!(rejected >= 900.0, "rejected {rejected}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_total_connection_limit_answers_503() {
    let origin = Origin::start("a").await;
    let proxy = Proxy::start(&format!(
        "[limits]\nmax_connections = 5\nmax_connections_per_ip = 5\n\n{}",
        upstream("app", &[&origin])
    ))
    .await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(connect_from(LOCAL, proxy.addr).await.expect("connect"));
    }
    // The five are admitted; wait until the proxy has counted them all.
    shared::testing::wait_until("five open", Duration::from_secs(5), || async {
        let open = metric(&proxy.metrics().await, "proxy_open_connections", &[]);
        (open >= 5.0).then_some(())
    })
    .await
    .expect("five connections open");

    let mut sixth = connect_from(OTHER_CLIENT, proxy.addr)
        .await
        .expect("connect");
    let refused = read_response(&mut sixth, Duration::from_secs(2)).await;
    assert_eq!(refused.map(|r| r.status), Some(503));
    let rejected = metric(
        &proxy.metrics().await,
        "proxy_connections_rejected_total",
        &[("reason", "max_connections")],
    );
    assert_eq!(rejected, 1.0);

    drop(held);
    shared::testing::wait_until("a free slot", Duration::from_secs(5), || async {
        let mut stream = connect_from(OTHER_CLIENT, proxy.addr).await.ok()?;
        (get(&mut stream, "/").await?.status == 200).then_some(())
    })
    .await
    .expect("served once the others left");
}

async fn proxy_with_client_timeouts(origin: &Origin) -> Proxy {
    Proxy::start(&format!(
        "[timeouts]\nclient_header_ms = 500\nclient_idle_ms = 500\nclient_body_idle_ms = 500\n\n{}",
        upstream("app", &[origin])
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_request_head_trickled_byte_by_byte_is_cut() {
    let origin = Origin::start("a").await;
    let proxy = Proxy::start(&format!(
        "[timeouts]\nclient_header_ms = 500\n\n{}",
        upstream("app", &[&origin])
    ))
    .await;
    let mut stream = connect_from(LOCAL, proxy.addr).await.expect("connect");
    assert_eq!(get(&mut stream, "/").await.map(|r| r.status), Some(200));

    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: app.test\r\n")
        .await
        .expect("write");
    // One byte every 100 ms: every read() succeeds, so only a whole-head deadline ends it.
    let started = Instant::now();
    let mut cut = false;
    for _ in 0..50 {
        if stream.write_all(b"X").await.is_err()
            || closed_within(&mut stream, Duration::from_millis(100)).await
        {
            cut = true;
            break;
        }
    }
    assert!(cut, "still open after {:?}", started.elapsed());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cut after {:?}",
        started.elapsed()
    );
    let cuts = metric(
        &proxy.metrics().await,
        "proxy_client_faults_total",
        &[("reason", "head_deadline")],
    );
    assert_eq!(cuts, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() {
    let origin = Origin::start("a").await;
    let proxy = proxy_with_client_timeouts(&origin).await;
    let mut stream = connect_from(LOCAL, proxy.addr).await.expect("connect");
    assert_eq!(get(&mut stream, "/").await.map(|r| r.status), Some(200));
    // A second request at once is served on the same connection.
    assert_eq!(get(&mut stream, "/").await.map(|r| r.status), Some(200));

    let started = Instant::now();
    assert!(
        closed_within(&mut stream, Duration::from_secs(5)).await,
        "an idle connection stayed open"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "closed too early"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_gets_408_and_the_connection_closes() {
    let origin = Origin::start("a").await;
    let proxy = proxy_with_client_timeouts(&origin).await;
    let mut stream = connect_from(LOCAL, proxy.addr).await.expect("connect");
    stream
        .write_all(
            b"POST /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100\r\n\r\n0123456789",
        )
        .await
        .expect("write");

    let response = read_response(&mut stream, Duration::from_secs(5)).await;
    assert_eq!(
        response.as_ref().map(|r| r.status),
        Some(408),
        "{response:?}"
    );
    assert!(
        closed_within(&mut stream, Duration::from_secs(2)).await,
        "the connection stayed open after the 408"
    );
    let faults = metric(
        &proxy.metrics().await,
        "proxy_client_faults_total",
        &[("reason", "body_idle")],
    );
    assert_eq!(faults, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_file_limit_is_raised_to_the_hard_limit_at_start() {
    let origin = Origin::start("a").await;
    // A host whose soft limit is the common 1,024 while the hard limit allows more.
    let Some(proxy) =
        Proxy::start_with_open_file_limits(&upstream("app", &[&origin]), 1024, 4096).await
    else {
        eprintln!("skipped: prlimit is not installed");
        return;
    };
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", proxy.pid()))
        .expect("read the proxy's limits");
    let open_files = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .expect("an open-files line");
    let figures: Vec<&str> = open_files.split_whitespace().skip(3).take(2).collect();
    assert_eq!(figures, ["4096", "4096"], "{open_files}");
}
