//! The access log never holds a request up: with nobody reading the proxy's log, lines are
//! dropped and counted once the writer's queue is full, and requests go on as before.

use std::time::Duration;

use crate::helpers::{Origin, Proxy, client, metric, upstream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_log_reader_drops_lines_and_never_slows_requests() {
    let origin = Origin::start("a").await;
    let proxy =
        Proxy::start_with_stalled_log("log_queue_lines = 16", &upstream("app", &[&origin])).await;
    let client = client();

    // Each access line is a few hundred bytes: 3,000 of them are several times what a pipe
    // holds (64 KiB), so a writer that blocked would have stalled the proxy long before.
    let requests = 3_000;
    let all = async {
        for n in 0..requests {
            let response = client
                .get(proxy.url(&format!("/echo?n={n}")))
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), 200);
        }
    };
    tokio::time::timeout(Duration::from_secs(120), all)
        .await
        .expect("every request answered while nobody reads the log");

    let text = proxy.metrics().await;
    let dropped = metric(&text, "proxy_access_log_dropped_total", &[]);
    assert!(dropped > 0.0, "lines were dropped and counted:\n{text}");
    assert!(dropped <= f64::from(requests) + 100.0, "{dropped}");
}
