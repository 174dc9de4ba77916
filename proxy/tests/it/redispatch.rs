//! Which requests are raced, and what racing leaves behind: re-dispatch with hedging off
//! and for every idempotent bodiless method, a route's own `hedge` switch, and the attempts
//! that lose a race.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use reqwest::Method;

use crate::hedging::group;
use crate::helpers::{Origin, Proxy, client, instance, metric};

/// Checks that notice a stopped backend within about a second.
const FAST_CHECKS: &str =
    "{ path = \"/healthz\", interval_ms = 200, timeout_ms = 300, rise = 2, fall = 2 }";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_hedging_off_bodiless_idempotent_requests_are_still_redispatched() {
    let (a, b, c) = (
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    );
    let proxy = Proxy::start(&group(&[&a, &b, &c], FAST_CHECKS, "{ hedge = false }")).await;

    a.signal(Signal::SIGSTOP);
    let started = Instant::now();
    // Three of each, so that whatever the rotation, each method meets the hung backend.
    let methods = [Method::GET, Method::DELETE, Method::OPTIONS, Method::PUT];
    let requests: Vec<_> = methods
        .iter()
        .flat_map(|method| std::iter::repeat_n(method.clone(), 3))
        .map(|method| {
            let url = proxy.url("/");
            tokio::spawn(async move {
                let response = client().request(method.clone(), url).send().await;
                (method, response)
            })
        })
        .collect();
    for request in requests {
        let (method, response) = request.await.expect("join");
        let response = response.expect("answered");
        assert_eq!(response.status(), 200, "{method}");
        assert_ne!(instance(&response), "a", "{method}");
    }
    a.signal(Signal::SIGCONT);

    // Rescued when the checks took `a` down, not by the 30 s response timeout.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let text = proxy.metrics().await;
    assert!(
        metric(&text, "proxy_retries_total", &[("reason", "redispatch")]) >= 4.0,
        "one request of each method met the hung backend:\n{text}"
    );
    assert_eq!(metric(&text, "proxy_hedges_total", &[]), 0.0, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_route_turns_hedging_on_or_off_whatever_its_group_says() {
    let (a, b, c) = (
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    );
    // Checks off, so only hedging (or the 1.5 s timeout) gets a GET past the hung `a`.
    let routes = "[timeouts]\nresponse_header_ms = 1500\n\n\
        [[routes]]\npath_prefix = \"/plain\"\nupstream = \"app\"\nhedge = false\n\n\
        [[routes]]\npath_prefix = \"/\"\nupstream = \"app\"\n\n";
    let body = format!(
        "{routes}{}",
        group(
            &[&a, &b, &c],
            "{ enabled = false }",
            "{ hedge_after_ms = 100 }"
        )
    );
    let proxy = Proxy::start(&body).await;
    a.signal(Signal::SIGSTOP);
    let client = client();

    let mut hedged_slowest = Duration::ZERO;
    for _ in 0..6 {
        let started = Instant::now();
        let response = client.get(proxy.url("/hedged")).send().await.expect("get");
        hedged_slowest = hedged_slowest.max(started.elapsed());
        assert_eq!(response.status(), 200);
    }
    let after_hedged = proxy.metrics().await;
    let won = metric(&after_hedged, "proxy_hedges_total", &[("result", "won")]);

    let mut plain_slowest = Duration::ZERO;
    for _ in 0..6 {
        let started = Instant::now();
        let response = client.get(proxy.url("/plain")).send().await.expect("get");
        plain_slowest = plain_slowest.max(started.elapsed());
        assert_eq!(response.status(), 200);
    }
    a.signal(Signal::SIGCONT);
    let after_plain = proxy.metrics().await;

    assert!(won >= 1.0, "the group's GETs were hedged:\n{after_hedged}");
    assert!(
        hedged_slowest < Duration::from_secs(1),
        "a hedged GET took {hedged_slowest:?}"
    );
    assert_eq!(
        metric(&after_plain, "proxy_hedges_total", &[]),
        metric(&after_hedged, "proxy_hedges_total", &[]),
        "the `hedge = false` route sent no hedge:\n{after_plain}"
    );
    assert!(
        plain_slowest >= Duration::from_millis(1400),
        "the unhedged GET that met `a` waited out the timeout, took {plain_slowest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_losing_attempts_are_counted_and_their_connections_closed() {
    let (a, b) = (Origin::start("a").await, Origin::start("b").await);
    // `/slow` answers after 50 ms; a hedge goes after 20 ms. With `b` stopped, a GET that
    // starts on `a` is hedged to `b` and `a` still wins (the hedge lost); one that starts
    // on `b`, if any, is hedged to `a`, which wins.
    let proxy = Proxy::start(&group(
        &[&a, &b],
        "{ enabled = false }",
        "{ hedge_after_ms = 20, budget_min_retries_per_sec = 100 }",
    ))
    .await;
    b.signal(Signal::SIGSTOP);
    let client = client();
    for _ in 0..10 {
        let response = client.get(proxy.url("/slow")).send().await.expect("get");
        assert_eq!(response.status(), 200);
        assert_eq!(instance(&response), "a");
    }
    let text = proxy.metrics().await;
    let established = established_to(b.addr);
    b.signal(Signal::SIGCONT);

    // Every GET outlived the hedge delay, so every one was hedged, whichever way it went.
    let won = metric(&text, "proxy_hedges_total", &[("result", "won")]);
    let lost = metric(&text, "proxy_hedges_total", &[("result", "lost")]);
    assert_eq!(won + lost, 10.0, "{text}");
    assert!(lost >= 1.0, "{text}");
    assert_eq!(
        established, 0,
        "every attempt on the stopped backend was dropped with its connection, none pooled"
    );

    // A group of one has nobody to hedge to: the hedge is skipped.
    let alone = Proxy::start(&group(
        &[&a],
        "{ enabled = false }",
        "{ hedge_after_ms = 20 }",
    ))
    .await;
    for _ in 0..3 {
        let response = client.get(alone.url("/slow")).send().await.expect("get");
        assert_eq!(response.status(), 200);
    }
    let text = alone.metrics().await;
    assert!(
        metric(&text, "proxy_hedges_total", &[("result", "skipped")]) >= 3.0,
        "{text}"
    );
}

/// Open client-side TCP connections on this host to `addr` (the proxy's, since no other
/// process here connects to that origin): `/proc/net/tcp` rows in state ESTABLISHED whose
/// remote end is `addr`.
fn established_to(addr: SocketAddr) -> usize {
    let SocketAddr::V4(addr) = addr else {
        panic!("the test origins listen on IPv4");
    };
    let remote = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(addr.ip().octets()),
        addr.port()
    );
    std::fs::read_to_string("/proc/net/tcp")
        .expect("read /proc/net/tcp")
        .lines()
        .skip(1)
        .filter(|row| {
            let fields: Vec<&str> = row.split_whitespace().collect();
            fields.get(2) == Some(&remote.as_str()) && fields.get(3) == Some(&"01")
        })
        .count()
}
