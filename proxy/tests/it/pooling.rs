//! A backend closing idle pooled connections (Node, uvicorn: after 5 s) never costs a
//! request: requests spaced about the backend's keep-alive timeout apart land on
//! connections it is closing at that moment.

use std::time::Duration;

use crate::helpers::{Origin, Proxy, client, metric, upstream};

/// `workers` clients, each sending `per_worker` requests about `gap` apart (spread so some
/// land just before and some just after the backend's timer); returns the failures.
async fn spaced(
    proxy: &Proxy,
    workers: usize,
    per_worker: usize,
    gap: Duration,
    posts: bool,
) -> Vec<String> {
    let tasks: Vec<_> = (0..workers)
        .map(|worker| {
            let url = proxy.url("/");
            tokio::spawn(async move {
                // One client per worker: its own connection to the proxy, so the proxy's
                // pooled connections to the backend are what gets reused.
                let client = client();
                let mut failures = Vec::new();
                for n in 0..per_worker {
                    // The spacing is the load pattern: it is what makes the race.
                    let jitter = Duration::from_millis(((worker * 7 + n * 13) % 40) as u64);
                    tokio::time::sleep(gap - Duration::from_millis(20) + jitter).await;
                    let request = if !posts || n % 2 == 0 {
                        client.get(&url)
                    } else {
                        client.post(&url).body("payload")
                    };
                    match request.send().await {
                        Ok(response) if response.status() == 200 => {}
                        Ok(response) => failures.push(format!("status {}", response.status())),
                        Err(error) => failures.push(error.to_string()),
                    }
                }
                failures
            })
        })
        .collect();
    let mut failures = Vec::new();
    for task in tasks {
        failures.extend(task.await.expect("worker"));
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backend_advertising_a_short_keep_alive_costs_no_request() {
    // Its close always crosses a request sent after its timeout: only pooling for less
    // than the advertised timeout saves the POSTs, which may not be sent again.
    let origin = Origin::start_with(
        "a",
        &[
            "--keep-alive-ms",
            "1000",
            "--keep-alive-header",
            "--late-close",
        ],
    )
    .await;
    let proxy = Proxy::start(&upstream("app", &[&origin])).await;

    // 1,000 requests, GET and POST alternating, about 1 s apart on each of 50 clients.
    let failures = spaced(&proxy, 50, 20, Duration::from_millis(1000), true).await;
    assert!(
        failures.is_empty(),
        "{} of 1000 requests failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backend_closing_idle_connections_silently_costs_no_get() {
    // Like uvicorn: a 1 s keep-alive timeout it does not advertise, under the proxy's 4 s
    // pool idle time; and its close always crosses the next request on the connection.
    let origin = Origin::start_with("a", &["--keep-alive-ms", "1000", "--late-close"]).await;
    let proxy = Proxy::start(&upstream("app", &[&origin])).await;

    // 1,000 GETs about 1.2 s apart on each of 50 clients: pooled connections idle past
    // the backend's timeout but within the pool's.
    let failures = spaced(&proxy, 50, 20, Duration::from_millis(1200), false).await;
    assert!(
        failures.is_empty(),
        "{} of 1000 requests failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    // The race did happen: requests met connections the backend had closed, and went
    // again on fresh ones instead of failing.
    let text = proxy.metrics().await;
    assert!(
        metric(
            &text,
            "proxy_retries_total",
            &[("reason", "stale_connection")]
        ) >= 1.0,
        "{text}"
    );
}
