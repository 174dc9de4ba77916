//! A client's fault is never a backend's: stalled bodies, single 5xx answers and claimed
//! upgrades do not eject healthy backends or switch timeouts off.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::helpers::{Origin, Proxy, client, upstream};
use crate::raw::{connect_from, read_response};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// (eligible backends, ejections so far) over every group in `/status`.
async fn eligible_and_ejections(proxy: &Proxy) -> (usize, u64) {
    let status = proxy.status().await;
    let backends: Vec<serde_json::Value> = status["upstreams"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|group| group["backends"].as_array().cloned().unwrap_or_default())
        .collect();
    let eligible = backends.iter().filter(|b| b["eligible"] == true).count();
    let ejections = backends
        .iter()
        .filter_map(|b| b["ejections_total"].as_u64())
        .sum();
    (eligible, ejections)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_clients_stalling_bodies_leave_every_backend_eligible() {
    let a = Origin::start("a").await;
    let b = Origin::start("b").await;
    // The backend read timeout fires first (client_body_idle_ms is 15 s by default),
    // while the backends wait for the bodies.
    let proxy = Proxy::start(&format!(
        "[timeouts]\nresponse_header_ms = 300\n\n{}",
        upstream("app", &[&a, &b])
    ))
    .await;
    let addr = proxy.addr;

    let clients = (0..20).map(|_| {
        tokio::spawn(async move {
            let mut stream = connect_from(LOCAL, addr).await.expect("connect");
            stream
                .write_all(b"POST /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: 1000\r\n\r\n0123456789")
                .await
                .expect("write");
            read_response(&mut stream, Duration::from_secs(8))
                .await
                .map(|r| r.status)
        })
    });
    let statuses: Vec<Option<u16>> = futures::future::join_all(clients)
        .await
        .into_iter()
        .map(|r| r.expect("client task"))
        .collect();

    assert!(
        statuses.iter().all(|s| *s == Some(408)),
        "statuses: {statuses:?}"
    );
    assert_eq!(eligible_and_ejections(&proxy).await, (2, 0));
    // And the group still serves.
    let response = client().get(proxy.url("/")).send().await.expect("request");
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_answers_one_500_stays_in_and_a_run_of_them_ejects() {
    let a = Origin::start("a").await;
    let b = Origin::start("b").await;
    let proxy = Proxy::start(&upstream("app", &[&a, &b])).await;
    let client = client();

    let one = client
        .get(proxy.url("/cache/fails?status=500"))
        .send()
        .await
        .expect("request");
    assert_eq!(one.status(), 500);
    assert_eq!(eligible_and_ejections(&proxy).await, (2, 0));

    // Five in a row at each backend (round robin) ejects one of them.
    for _ in 0..10 {
        let response = client
            .get(proxy.url("/cache/fails?status=500"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 500);
    }
    let (eligible, ejections) = eligible_and_ejections(&proxy).await;
    assert!(ejections >= 1, "no ejection after a run of 500s");
    assert_eq!(eligible, 1);
}

/// Sends `head` to `/hang` (a backend that never answers) and returns the status and how
/// long it took.
async fn hanging_request(proxy: &Proxy, extra_headers: &str) -> (Option<u16>, Duration) {
    let mut stream = connect_from(LOCAL, proxy.addr).await.expect("connect");
    let request = format!("GET /hang HTTP/1.1\r\nHost: app.test\r\n{extra_headers}\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let started = Instant::now();
    let response = read_response(&mut stream, Duration::from_secs(8)).await;
    (response.map(|r| r.status), started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claimed_upgrade_or_event_stream_keeps_the_backend_timeout() {
    let origin = Origin::start("a").await;
    let proxy = Proxy::start(&format!(
        "[timeouts]\nresponse_header_ms = 500\n\n{}",
        upstream("app", &[&origin])
    ))
    .await;

    let plain = hanging_request(&proxy, "").await;
    let upgrade = hanging_request(
        &proxy,
        "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
    )
    .await;
    let event_stream = hanging_request(&proxy, "Accept: text/event-stream\r\n").await;

    // A plain GET is retried once elsewhere; with no other backend that ends in 503.
    assert!(matches!(plain.0, Some(503 | 504)), "plain: {plain:?}");
    for (name, (status, elapsed)) in [
        ("plain", plain),
        ("upgrade", upgrade),
        ("event stream", event_stream),
    ] {
        assert!(elapsed < Duration::from_secs(5), "{name} after {elapsed:?}");
        if name != "plain" {
            assert_eq!(status, Some(504), "{name} after {elapsed:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_event_stream_outlives_the_backend_timeout() {
    let origin = Origin::start("a").await;
    // The origin's events are 2 s apart, four times the response-header timeout.
    let proxy = Proxy::start(&format!(
        "[timeouts]\nresponse_header_ms = 500\n\n{}",
        upstream("app", &[&origin])
    ))
    .await;
    let response = client()
        .get(proxy.url("/sse"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut text = String::new();
    while let Some(chunk) = body.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.expect("chunk ok")));
    }
    assert!(text.contains("event: first"), "{text}");
    assert!(text.contains("event: second"), "{text}");
}
