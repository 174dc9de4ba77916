//! Hung and slow backends with the defaults: hedged GETs, re-dispatch when a backend goes
//! down, the draining header, POSTs never sent twice, and hedging turned off.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use shared::testing::load::Load;
use shared::testing::wait_until;

use crate::helpers::{Origin, Proxy, SETTLE, client, instance, metric, scratch_dir, upstream_with};

/// One group over `origins` with `health` and `retry` tables given verbatim.
pub(crate) fn group(origins: &[&Origin], health: &str, retry: &str) -> String {
    let backends: Vec<String> = origins
        .iter()
        .map(|o| format!("{{ addr = \"{}\" }}", o.addr))
        .collect();
    format!(
        "[upstreams.app]\nbackends = [{}]\nhealth = {health}\nretry = {retry}\n",
        backends.join(", ")
    )
}

/// Enough requests for the adaptive delay to have samples.
async fn warm_up(proxy: &Proxy) {
    let client = client();
    for _ in 0..30 {
        let response = client.get(proxy.url("/")).send().await.expect("warm-up");
        assert_eq!(response.status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hung_backend_costs_a_get_only_the_hedge_delay() {
    let (a, b, c) = (
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    );
    // Checks off: the hung backend stays in rotation, so every third GET meets it and
    // only hedging saves it. The response-header timeout is the default 30 s.
    let proxy = Proxy::start(&group(&[&a, &b, &c], "{ enabled = false }", "{}")).await;
    warm_up(&proxy).await;

    a.signal(Signal::SIGSTOP);
    let client = client();
    let mut slowest = Duration::ZERO;
    for _ in 0..30 {
        let started = Instant::now();
        let response = client.get(proxy.url("/")).send().await.expect("request");
        slowest = slowest.max(started.elapsed());
        assert_eq!(response.status(), 200);
        assert_ne!(instance(&response), "a");
    }
    a.signal(Signal::SIGCONT);

    assert!(
        slowest < Duration::from_secs(2),
        "slowest GET took {slowest:?}"
    );
    let text = proxy.metrics().await;
    let won = metric(
        &text,
        "proxy_hedges_total",
        &[("upstream", "app"), ("result", "won")],
    );
    assert!(
        won >= 5.0,
        "about a third of 30 GETs were hedged and won:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_hedging_off_a_hung_backend_costs_the_response_timeout() {
    let (a, b, c) = (
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    );
    let body = format!(
        "[timeouts]\nresponse_header_ms = 1500\n\n{}",
        group(&[&a, &b, &c], "{ enabled = false }", "{ hedge = false }")
    );
    let proxy = Proxy::start(&body).await;
    warm_up(&proxy).await;

    a.signal(Signal::SIGSTOP);
    let client = client();
    let mut slowest = Duration::ZERO;
    for _ in 0..6 {
        let started = Instant::now();
        let response = client.get(proxy.url("/")).send().await.expect("request");
        slowest = slowest.max(started.elapsed());
        assert_eq!(
            response.status(),
            200,
            "retried elsewhere after the timeout"
        );
    }
    a.signal(Signal::SIGCONT);

    // The old behaviour: the GET that met the hung backend waited out the timeout.
    assert!(
        slowest >= Duration::from_millis(1400),
        "slowest GET took {slowest:?}"
    );
    let text = proxy.metrics().await;
    assert_eq!(metric(&text, "proxy_hedges_total", &[]), 0.0, "{text}");
    assert!(metric(&text, "proxy_retries_total", &[("reason", "timeout")]) >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gets_waiting_on_a_backend_that_goes_down_are_redispatched() {
    let (a, b, c) = (
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    );
    // A hedge that never comes in time, so only the checks can rescue the request.
    let proxy = Proxy::start(&group(
        &[&a, &b, &c],
        "{ path = \"/healthz\", interval_ms = 200, timeout_ms = 300, rise = 2, fall = 2 }",
        "{ hedge_after_ms = 60000 }",
    ))
    .await;

    a.signal(Signal::SIGSTOP);
    let started = Instant::now();
    let requests: Vec<_> = (0..3)
        .map(|_| {
            let url = proxy.url("/");
            tokio::spawn(async move { client().get(url).send().await })
        })
        .collect();
    for request in requests {
        let response = request.await.expect("join").expect("answered");
        assert_eq!(response.status(), 200);
        assert_ne!(instance(&response), "a");
    }
    a.signal(Signal::SIGCONT);

    // Marked down within interval × fall plus a check timeout; the 30 s response timeout
    // and the 60 s hedge delay never came into it.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let text = proxy.metrics().await;
    assert!(
        metric(&text, "proxy_retries_total", &[("reason", "redispatch")]) >= 1.0,
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_draining_backend_leaves_rotation_at_its_first_answer() {
    let (a, b, c) = (
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    );
    // Checks too slow to notice anything during the test.
    let proxy = Proxy::start(&group(
        &[&a, &b, &c],
        "{ path = \"/healthz\", interval_ms = 60000 }",
        "{}",
    ))
    .await;
    let drained = client()
        .post(format!("http://{}/__drain", a.addr))
        .send()
        .await
        .expect("drain a");
    assert_eq!(drained.status(), 204);

    let client = client();
    let mut from_a = 0;
    for n in 0..30 {
        let request = if n % 2 == 0 {
            client.get(proxy.url("/"))
        } else {
            client.post(proxy.url("/")).body("x")
        };
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), 200);
        assert!(
            !response
                .headers()
                .contains_key(shared::shutdown::DRAINING_HEADER),
            "the draining mark is for the proxy, not the client"
        );
        if instance(&response) == "a" {
            from_a += 1;
        }
    }
    assert!(
        from_a <= 1,
        "{from_a} of 30 requests went to the draining backend"
    );
    let entry = proxy
        .backend_status("app", a.addr)
        .await
        .expect("a in /status");
    assert_eq!(entry["draining"], true, "{entry}");
    assert_eq!(entry["eligible"], false, "{entry}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_post_to_a_hung_backend_is_never_sent_twice() {
    let dir = scratch_dir();
    let logs: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|id| dir.join(format!("{id}.log")))
        .collect();
    let a = Origin::start_logging("a", &logs[0]).await;
    let b = Origin::start_logging("b", &logs[1]).await;
    let c = Origin::start_logging("c", &logs[2]).await;
    let body = format!(
        "[timeouts]\nresponse_header_ms = 1000\n\n{}",
        upstream_with(
            "app",
            &[&a, &b, &c]
                .iter()
                .map(|o| format!("{{ addr = \"{}\" }}", o.addr))
                .collect::<Vec<_>>()
                .join(", ")
        )
    );
    let proxy = Proxy::start(&body).await;

    a.signal(Signal::SIGSTOP);
    let mut timed_out = Vec::new();
    for n in 0..6 {
        let id = format!("hung-post-{n}");
        // A client per request: the proxy closes a connection after an error answer.
        let response = client()
            .post(proxy.url("/"))
            .header("x-request-id", &id)
            .body("payload")
            .send()
            .await
            .expect("answered");
        if response.status() == 504 {
            timed_out.push(id);
        } else {
            assert_eq!(response.status(), 200);
        }
    }
    // The hung backend runs again and reads whatever is still queued for it.
    a.signal(Signal::SIGCONT);
    let client = client();
    wait_until("the hung backend to answer again", SETTLE, || async {
        client
            .get(format!("http://{}/__stats", a.addr))
            .send()
            .await
            .ok()
            .filter(|r| r.status() == 200)
    })
    .await
    .expect("a runs again");
    let count = |log: &std::path::Path, id: &str| -> usize {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.strip_prefix("POST ") == Some(id))
            .count()
    };
    assert!(!timed_out.is_empty(), "one POST met the hung backend");
    for n in 0..6 {
        let id = format!("hung-post-{n}");
        let total: usize = logs.iter().map(|log| count(log, &id)).sum();
        assert!(total <= 1, "{id} reached the backends {total} times");
    }
    for id in &timed_out {
        let elsewhere = count(&logs[1], id) + count(&logs[2], id);
        assert_eq!(
            elsewhere, 0,
            "{id} timed out on the hung backend and was sent on"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGSTOP, SIGKILL or nothing to one of three origins under 200 GETs a second for 10 s,
/// with the proxy in quick mode and nothing configured.
async fn quick_mode_under_load(fault: Option<Signal>) -> shared::testing::load::Report {
    let (mut a, b, c) = (
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    );
    let proxy = Proxy::quick(&[&a, &b, &c]).await;
    let load = Load::start(
        proxy.addr,
        "/",
        200,
        Duration::from_secs(10),
        Duration::from_secs(10),
    );
    wait_until("two seconds of load", SETTLE, || async {
        (load.sent() >= 400).then_some(())
    })
    .await
    .expect("load runs");
    match fault {
        Some(Signal::SIGKILL) => a.kill(),
        Some(signal) => a.signal(signal),
        None => {}
    }
    let report = load.finish().await;
    if fault == Some(Signal::SIGSTOP) {
        a.signal(Signal::SIGCONT);
    }
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quick_mode_a_sigstopped_instance_costs_no_get() {
    let report = quick_mode_under_load(Some(Signal::SIGSTOP)).await;
    assert!(report.failed().is_empty(), "{}", report.summary());
    assert!(
        report.slowest() < Duration::from_secs(3),
        "{}",
        report.summary()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quick_mode_a_sigkilled_instance_costs_no_get() {
    let report = quick_mode_under_load(Some(Signal::SIGKILL)).await;
    assert!(report.failed().is_empty(), "{}", report.summary());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_mode_lets_a_slow_post_take_seconds() {
    let origin = Origin::start("a").await;
    let proxy = Proxy::quick(&[&origin]).await;
    // A legitimately slow upload: the backend takes 3 s over its answer, longer than any
    // hedge delay or health-check timeout, far under `response_header_ms` (30 s).
    let response = client()
        .post(proxy.url("/cache/upload?delay_ms=3000"))
        .body("a,b\n1,2\n")
        .send()
        .await
        .expect("slow POST");
    assert_eq!(
        response.status(),
        200,
        "the slow POST was answered, not cut"
    );
    assert_eq!(origin.count("POST").await, 1, "and sent exactly once");
}
