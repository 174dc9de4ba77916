//! Hostile requests get a clear 4xx: a `Host` that is not an authority cannot reach a
//! backend or pose as another URL in the cache; and `--cache 0` means no cache.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::Duration;

use shared::testing::{ChildGuard, READY_DEADLINE, free_port, wait_for_status};
use tokio::io::AsyncWriteExt;

use crate::helpers::{Origin, Proxy, client, upstream};
use crate::raw::{RawResponse, connect_from, read_response};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

async fn send(proxy: &Proxy, host: &str, path: &str) -> Option<RawResponse> {
    let mut stream = connect_from(LOCAL, proxy.addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    read_response(&mut stream, Duration::from_secs(5)).await
}

fn header<'a>(response: &'a RawResponse, name: &str) -> Option<&'a str> {
    response.head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_is_not_an_authority_gets_400() {
    let origin = Origin::start("a").await;
    let proxy = Proxy::start(&upstream("app", &[&origin])).await;

    for host in [
        "app.test/js",
        "user@app.test",
        "app.test:99999",
        "app.test:x",
        "[::1",
    ] {
        let response = send(&proxy, host, "/").await;
        assert_eq!(
            response.as_ref().map(|r| r.status),
            Some(400),
            "Host: {host}: {response:?}"
        );
    }
    let slashed = send(&proxy, "app.test/js", "/").await.expect("response");
    let body = String::from_utf8_lossy(&slashed.body).into_owned();
    assert!(body.contains("not a valid authority"), "{body}");
    let fine = send(&proxy, "App.Test:8080", "/").await;
    assert_eq!(fine.map(|r| r.status), Some(200));
    assert_eq!(
        origin.count("GET").await,
        1,
        "only the valid request reached the backend"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absolute_form_target_with_a_bad_authority_gets_400() {
    let origin = Origin::start("a").await;
    let proxy = Proxy::start(&upstream("app", &[&origin])).await;

    for target in ["http://user@app.test/", "http://app.test:99999/"] {
        let response = send(&proxy, "app.test", target).await;
        assert_eq!(
            response.as_ref().map(|r| r.status),
            Some(400),
            "GET {target}: {response:?}"
        );
    }
    let fine = send(&proxy, "app.test", "http://app.test/x").await;
    assert_eq!(fine.map(|r| r.status), Some(200));
    assert_eq!(
        origin.count("GET").await,
        1,
        "only the valid request reached the backend"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_with_a_path_cannot_share_another_urls_cache_entry() {
    let origin = Origin::start("a").await;
    let proxy = Proxy::start(&format!(
        "[cache]\nenabled = true\n\n{}",
        upstream("app", &[&origin])
    ))
    .await;

    let stored = send(&proxy, "app.test", "/cache/js/app.js?cc=max-age%3D60")
        .await
        .expect("response");
    assert_eq!(stored.status, 200);
    assert_eq!(header(&stored, "x-cache"), Some("MISS"), "{stored:?}");
    let again = send(&proxy, "app.test", "/cache/js/app.js?cc=max-age%3D60")
        .await
        .expect("response");
    assert_eq!(header(&again, "x-cache"), Some("HIT"), "{again:?}");

    // Joined up, `app.test/cache` + `/js/app.js` spells the same URL.
    let forged = send(&proxy, "app.test/cache", "/js/app.js?cc=max-age%3D60")
        .await
        .expect("response");
    assert_eq!(forged.status, 400, "{forged:?}");
    assert_ne!(header(&forged, "x-cache"), Some("HIT"));
}

/// Quick mode with `--cache 0`: starts, serves, and nothing is cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_mode_cache_zero_turns_the_cache_off() {
    let origin = Origin::start("a").await;
    let listen: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let admin: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let _proxy = ChildGuard::spawn(
        Command::new(env!("CARGO_BIN_EXE_proxy"))
            .args(["--listen", &listen.to_string()])
            .args(["--backend", &origin.addr.to_string()])
            .args(["--admin", &admin.to_string()])
            .args(["--cache", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_for_status(admin, "/healthz", 200, READY_DEADLINE)
        .await
        .expect("the proxy starts with --cache 0");
    wait_for_status(listen, "/", 200, READY_DEADLINE)
        .await
        .expect("and serves");
    let client = client();
    for _ in 0..2 {
        let response = client
            .get(format!("http://{listen}/cache/x?cc=max-age%3D60"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("x-cache").is_none());
    }
    assert_eq!(
        origin.path_count("/cache/x").await,
        2,
        "both reached the origin"
    );
}
