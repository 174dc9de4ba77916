//! Failure behaviour: killed, hung and recovered backends; no healthy backend; POSTs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use shared::testing::wait_until;

use crate::helpers::{Origin, Proxy, SETTLE, client, instance, metric, upstream};

/// Load from `workers` tasks until `stop`; returns (ok, failed, per-instance ok counts).
struct Load {
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Vec<(String, u16)>>>,
}

impl Load {
    fn start(url: String, method: reqwest::Method, workers: usize) -> Self {
        let ok = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..workers)
            .map(|_| {
                let (url, method, ok, failed, stop) = (
                    url.clone(),
                    method.clone(),
                    ok.clone(),
                    failed.clone(),
                    stop.clone(),
                );
                tokio::spawn(async move {
                    let client = client();
                    let mut seen = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let mut request = client.request(method.clone(), &url);
                        if method == reqwest::Method::POST {
                            request = request.body("payload");
                        }
                        match request.send().await {
                            Ok(response) if response.status().is_success() => {
                                ok.fetch_add(1, Ordering::Relaxed);
                                seen.push((instance(&response), response.status().as_u16()));
                            }
                            Ok(response) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                seen.push((instance(&response), response.status().as_u16()));
                            }
                            Err(_) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    seen
                })
            })
            .collect();
        Self {
            ok,
            failed,
            stop,
            tasks,
        }
    }

    async fn wait_for_more(&self, more: usize) {
        let target = self.ok.load(Ordering::Relaxed) + more;
        wait_until("more successful requests", SETTLE, || async {
            (self.ok.load(Ordering::Relaxed) >= target).then_some(())
        })
        .await
        .expect("load makes progress");
    }

    async fn finish(self) -> (usize, usize, Vec<(String, u16)>) {
        self.stop.store(true, Ordering::Relaxed);
        let mut seen = Vec::new();
        for task in self.tasks {
            seen.extend(task.await.expect("load task"));
        }
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            seen,
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_backend_costs_no_get() {
    let (mut a, b, c) = (
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    );
    let proxy = Proxy::start(&upstream("app", &[&a, &b, &c])).await;
    let load = Load::start(proxy.url("/"), reqwest::Method::GET, 8);
    load.wait_for_more(100).await;

    a.kill();
    load.wait_for_more(300).await;
    let (ok, failed, _) = load.finish().await;

    assert_eq!(failed, 0, "{failed} of {} GETs failed", ok + failed);
    let text = proxy.metrics().await;
    let backend = a.addr.to_string();
    let refused = metric(
        &text,
        "proxy_upstream_requests_total",
        &[("backend", &backend), ("outcome", "connect_failed")],
    );
    let retried = metric(
        &text,
        "proxy_retries_total",
        &[("upstream", "app"), ("reason", "connect")],
    );
    assert!(refused >= 1.0, "no connect failure recorded:\n{text}");
    assert!(
        retried >= refused,
        "{refused} connect failures but {retried} retries:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hung_backend_is_routed_around_and_marked_down() {
    let (a, b, c) = (
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    );
    let body = format!(
        "[timeouts]\nresponse_header_ms = 500\n\n{}",
        upstream("app", &[&a, &b, &c])
    );
    let proxy = Proxy::start(&body).await;

    a.signal(Signal::SIGSTOP);
    let stopped = Instant::now();
    let client = client();
    for _ in 0..12 {
        let started = Instant::now();
        let response = client.get(proxy.url("/")).send().await.expect("request");
        assert_eq!(response.status(), 200);
        assert_ne!(instance(&response), "a");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
    }
    // interval 200 ms × fall 2, plus the 300 ms check timeout each, plus slack.
    proxy
        .wait_health("app", a.addr, false, Duration::from_secs(3))
        .await
        .expect("marked down");
    assert!(stopped.elapsed() < Duration::from_secs(5));
    a.signal(Signal::SIGCONT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recovered_backend_is_readmitted() {
    let (a, b) = (Origin::start("a").await, Origin::start("b").await);
    let proxy = Proxy::start(&upstream("app", &[&a, &b])).await;
    a.signal(Signal::SIGSTOP);
    proxy
        .wait_health("app", a.addr, false, SETTLE)
        .await
        .expect("marked down");

    a.signal(Signal::SIGCONT);
    proxy
        .wait_health("app", a.addr, true, SETTLE)
        .await
        .expect("readmitted");

    let client = client();
    let mut reached_a = false;
    for _ in 0..10 {
        let response = client.get(proxy.url("/")).send().await.expect("request");
        assert_eq!(response.status(), 200);
        reached_a |= instance(&response) == "a";
    }
    assert!(reached_a, "traffic goes to the readmitted backend again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_backend_left_gives_a_fast_503_with_retry_after() {
    let (mut a, mut b) = (Origin::start("a").await, Origin::start("b").await);
    let proxy = Proxy::start(&upstream("app", &[&a, &b])).await;
    a.kill();
    b.kill();

    let started = Instant::now();
    let response = client().get(proxy.url("/")).send().await.expect("request");

    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(response.headers().contains_key("x-request-id"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    let body: serde_json::Value = response.json().await.expect("json body");
    assert_eq!(body["error"]["code"], "service_unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn posts_are_never_duplicated_when_a_backend_dies() {
    let (mut a, b, c) = (
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    );
    let proxy = Proxy::start(&upstream("app", &[&a, &b, &c])).await;
    let load = Load::start(proxy.url("/submit"), reqwest::Method::POST, 6);
    load.wait_for_more(60).await;

    a.kill();
    load.wait_for_more(200).await;
    let (_, _, seen) = load.finish().await;

    // Every POST a surviving backend counted was answered exactly once by it.
    for origin in [&b, &c] {
        let answered = seen
            .iter()
            .filter(|(id, status)| id == &origin.id && *status == 200)
            .count() as u64;
        assert_eq!(
            origin.count("POST").await,
            answered,
            "backend {} counted a POST twice",
            origin.id
        );
    }
}
