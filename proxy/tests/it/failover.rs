//! Failure behaviour: killed, hung and recovered backends; no healthy backend; POSTs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use shared::testing::wait_until;

use crate::helpers::{Origin, Proxy, SETTLE, client, instance, metric, scratch_dir, upstream};

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
    // Which failure the kill shows up as is a race: requests in flight at the kill break
    // (and passively eject the backend at once), later ones are refused. Either way each
    // failed attempt must have been recorded and retried elsewhere.
    let failures = ["connect_failed", "broken"]
        .iter()
        .map(|outcome| {
            metric(
                &text,
                "proxy_upstream_requests_total",
                &[("backend", &backend), ("outcome", outcome)],
            )
        })
        .sum::<f64>();
    let retried = ["connect", "broken"]
        .iter()
        .map(|reason| {
            metric(
                &text,
                "proxy_retries_total",
                &[("upstream", "app"), ("reason", reason)],
            )
        })
        .sum::<f64>();
    assert!(failures >= 1.0, "no failed attempt recorded:\n{text}");
    assert!(
        retried >= failures,
        "{failures} failed attempts but {retried} retries:\n{text}"
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
    let dir = scratch_dir();
    let logs: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|id| dir.join(format!("{id}.log")))
        .collect();
    let mut a = Origin::start_logging("a", &logs[0]).await;
    let b = Origin::start_logging("b", &logs[1]).await;
    let c = Origin::start_logging("c", &logs[2]).await;
    let proxy = Proxy::start(&upstream("app", &[&a, &b, &c])).await;
    let sent = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..6)
        .map(|worker| {
            let (url, sent, stop) = (proxy.url("/slow"), sent.clone(), stop.clone());
            tokio::spawn(async move {
                let client = client();
                let mut answered = Vec::new();
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let id = format!("post-{worker}-{n}");
                    sent.fetch_add(1, Ordering::Relaxed);
                    let response = client
                        .post(&url)
                        .header("x-request-id", &id)
                        .body("payload")
                        .send()
                        .await;
                    if response.is_ok_and(|r| r.status() == 200) {
                        answered.push(id);
                    }
                }
                answered
            })
        })
        .collect();
    let progress = |target: usize| {
        let sent = sent.clone();
        async move {
            wait_until("POSTs sent", SETTLE, || async {
                (sent.load(Ordering::Relaxed) >= target).then_some(())
            })
            .await
            .expect("load makes progress");
        }
    };
    progress(30).await;
    a.kill();
    progress(sent.load(Ordering::Relaxed) + 100).await;
    stop.store(true, Ordering::Relaxed);
    let mut answered = Vec::new();
    for worker in workers {
        answered.extend(worker.await.expect("worker"));
    }

    // Every backend logged each request as it arrived, the killed one included.
    let mut received: BTreeMap<String, usize> = BTreeMap::new();
    for log in &logs {
        let text = std::fs::read_to_string(log).expect("origin log");
        for id in text.lines().filter_map(|line| line.strip_prefix("POST ")) {
            *received.entry(id.to_owned()).or_default() += 1;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let twice: Vec<_> = received.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "POSTs delivered more than once: {twice:?}"
    );
    for id in &answered {
        assert_eq!(
            received.get(id),
            Some(&1),
            "{id} was answered 200 but not received once"
        );
    }
    assert!(
        answered.len() >= 100,
        "only {} POSTs answered",
        answered.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hanging_up_mid_request_does_not_eject_the_backend() {
    use tokio::io::AsyncWriteExt;

    let origin = Origin::start("a").await;
    let proxy = Proxy::start(&upstream("app", &[&origin])).await;

    // A client sends a request the backend is slow to answer, then goes away.
    let mut client_socket = tokio::net::TcpStream::connect(proxy.addr)
        .await
        .expect("connect");
    client_socket
        .write_all(b"GET /hang HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("send request");
    wait_until(
        "the request to be in flight at the backend",
        SETTLE,
        || async {
            let entry = proxy.backend_status("app", origin.addr).await?;
            (entry["inflight"] == 1).then_some(())
        },
    )
    .await
    .expect("request at the backend");
    drop(client_socket);
    wait_until("the abandoned attempt to end", SETTLE, || async {
        let entry = proxy.backend_status("app", origin.addr).await?;
        (entry["inflight"] == 0).then_some(())
    })
    .await
    .expect("attempt released");

    // The backend did nothing wrong: it stays eligible and serves the next request.
    let entry = proxy
        .backend_status("app", origin.addr)
        .await
        .expect("backend in /status");
    assert_eq!(entry["eligible"], true, "{entry}");
    assert_eq!(entry["ejected"], false, "{entry}");
    let response = client()
        .get(proxy.url("/"))
        .send()
        .await
        .expect("next request");
    assert_eq!(response.status(), 200);
}

/// The proxy closes the client's connection after an answer it writes itself on a failed
/// attempt, so it must say so: a client that reused the connection would otherwise meet a
/// reset, and a POST on it would fail outright.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_answer_that_ends_the_connection_says_connection_close() {
    let (mut a, mut b) = (Origin::start("a").await, Origin::start("b").await);
    let proxy = Proxy::start(&upstream("app", &[&a, &b])).await;
    a.kill();
    b.kill();

    let mut stream = tokio::net::TcpStream::connect(proxy.addr)
        .await
        .expect("connect");
    let response = crate::raw::get(&mut stream, "/").await.expect("an answer");

    assert_eq!(response.status, 503);
    assert!(
        response
            .head
            .to_ascii_lowercase()
            .contains("connection: close"),
        "{}",
        response.head
    );
    assert!(crate::raw::closed_within(&mut stream, Duration::from_secs(5)).await);
}
