//! The admin dashboard's API against the real binary: drain and undrain, the live event
//! stream and its bound, the page's files, and the public port serving none of it.

use std::time::{Duration, Instant};

use futures::StreamExt;
use shared::testing::wait_until;

use crate::helpers::{Origin, Proxy, client, instance, upstream};

const TOKEN: &str = "dashboard-s3cret";

fn drain_url(proxy: &Proxy, origin: &Origin, action: &str) -> String {
    proxy.admin_url(&format!("/backends/app/{}/{action}", origin.addr))
}

/// Which instances answered `count` GETs of `/`.
async fn answered_by(proxy: &Proxy, count: usize) -> Vec<String> {
    let client = client();
    let mut instances = Vec::with_capacity(count);
    for _ in 0..count {
        let response = client.get(proxy.url("/")).send().await.expect("request");
        assert_eq!(response.status(), 200);
        instances.push(instance(&response));
    }
    instances
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_backend_gets_no_new_request_and_finishes_the_one_in_flight() {
    let (a, b) = (Origin::start("a").await, Origin::start("b").await);
    let proxy =
        Proxy::start_with_admin(&format!("token = \"{TOKEN}\""), &upstream("app", &[&a, &b])).await;
    let client = client();

    // A slow request that round robin sends to each backend in turn: one of them lands on b.
    let slow = |client: reqwest::Client, url: String| {
        tokio::spawn(async move {
            let response = client.get(url).send().await.expect("slow request");
            (response.status(), instance(&response))
        })
    };
    let in_flight = [
        slow(client.clone(), proxy.url("/cache/slow?delay_ms=1500")),
        slow(client.clone(), proxy.url("/cache/slow?delay_ms=1500")),
    ];
    wait_until(
        "b has a request in flight",
        Duration::from_secs(5),
        || async {
            let entry = proxy.backend_status("app", b.addr).await?;
            (entry["inflight"] == 1).then_some(())
        },
    )
    .await
    .expect("in flight on b");

    let drained = client
        .post(drain_url(&proxy, &b, "drain"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("drain");
    assert_eq!(drained.status(), 200);
    let body: serde_json::Value = drained.json().await.expect("json");
    assert_eq!(body["operator_drain"], true);
    assert_eq!(body["changed"], true);

    let started = Instant::now();
    let mut finished = Vec::new();
    for task in in_flight {
        finished.push(task.await.expect("task"));
    }
    assert!(
        finished.contains(&(reqwest::StatusCode::OK, "b".to_owned())),
        "the request in flight on b finished there: {finished:?}"
    );
    assert!(
        finished.iter().all(|(status, _)| *status == 200),
        "{finished:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    let b_before = b.count("GET").await;
    let instances = answered_by(&proxy, 20).await;
    assert!(instances.iter().all(|i| i == "a"), "{instances:?}");
    assert_eq!(b.count("GET").await, b_before, "b got no new request");
    let entry = proxy.backend_status("app", b.addr).await.expect("listed");
    assert_eq!(entry["draining"], true);
    assert_eq!(entry["operator_drain"], true);
    assert_eq!(entry["eligible"], false);

    let undrained = client
        .post(drain_url(&proxy, &b, "undrain"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("undrain");
    assert_eq!(undrained.status(), 200);
    let instances = answered_by(&proxy, 20).await;
    assert!(instances.iter().any(|i| i == "b"), "{instances:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_need_post_the_token_and_a_known_backend() {
    let (a, b) = (Origin::start("a").await, Origin::start("b").await);
    let proxy =
        Proxy::start_with_admin(&format!("token = \"{TOKEN}\""), &upstream("app", &[&a, &b])).await;
    let client = client();
    let url = drain_url(&proxy, &b, "drain");

    let get = client
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(get.status(), 405);
    let anonymous = client.post(&url).send().await.expect("anonymous");
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    let wrong = client
        .post(&url)
        .bearer_auth("dashboard-s3creT")
        .send()
        .await
        .expect("wrong token");
    assert_eq!(wrong.status(), 401);
    for path in [
        "/backends/app/127.0.0.1:1/drain".to_owned(),
        format!("/backends/nope/{}/drain", b.addr),
        format!("/backends/app/{}/remove", b.addr),
        "/backends/app/not-an-address/drain".to_owned(),
    ] {
        let response = client
            .post(proxy.admin_url(&path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 404, "{path}");
    }
    let entry = proxy.backend_status("app", b.addr).await.expect("listed");
    assert_eq!(entry["eligible"], true, "nothing was drained");
    let purge = client
        .post(proxy.admin_url("/cache/purge?prefix=http://x/"))
        .send()
        .await
        .expect("purge");
    assert_eq!(purge.status(), 401, "purging takes the same token");
}

/// The events of one `/events` stream, parsed as far as `wanted` of them.
async fn read_events(proxy: &Proxy, wanted: usize) -> Vec<(String, serde_json::Value)> {
    let response = client()
        .get(proxy.admin_url("/events"))
        .send()
        .await
        .expect("events");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "{:?}",
        response.headers()
    );
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while events.len() < wanted {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("events in time")
            .expect("stream open")
            .expect("chunk");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let name = frame.lines().find_map(|l| l.strip_prefix("event: "));
            let data = frame.lines().find_map(|l| l.strip_prefix("data: "));
            if let (Some(name), Some(data)) = (name, data) {
                events.push((
                    name.to_owned(),
                    serde_json::from_str(data).expect("json data"),
                ));
            }
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_sends_history_then_a_snapshot_a_second_with_traffic() {
    let (a, b) = (Origin::start("a").await, Origin::start("b").await);
    let proxy = Proxy::start(&upstream("app", &[&a, &b])).await;
    answered_by(&proxy, 10).await;

    let started = Instant::now();
    let events = read_events(&proxy, 4).await;
    assert_eq!(events[0].0, "history");
    assert!(events[1..].iter().all(|(name, _)| name == "snapshot"));
    // The first snapshot comes at once, the next ones a second apart.
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );

    let (_, last) = events.last().expect("a snapshot");
    let group = &last["upstreams"][0];
    assert_eq!(group["name"], "app");
    let backends = group["backends"].as_array().expect("backends");
    assert_eq!(backends.len(), 2);
    for backend in backends {
        assert_eq!(backend["state"], "up", "{backend}");
        assert!(backend["since"].as_str().is_some_and(|s| s.ends_with('Z')));
        assert!(
            backend["last_check_at"]
                .as_str()
                .is_some_and(|s| s.contains('T'))
        );
        assert!(backend["share"].as_f64().is_some(), "{backend}");
    }
    let rps: f64 = backends.iter().filter_map(|b| b["rps"].as_f64()).sum();
    assert!(rps > 0.0, "the ten requests show as traffic: {last}");
    assert!(last["proxy"]["rss_bytes"].as_u64().is_some_and(|b| b > 0));
    assert!(last["at"].as_str().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_past_the_bound_get_503_with_retry_after() {
    let origin = Origin::start("a").await;
    let proxy =
        Proxy::start_with_admin("max_event_streams = 2", &upstream("app", &[&origin])).await;
    let client = client();
    let mut open = Vec::new();
    for _ in 0..2 {
        let response = client
            .get(proxy.admin_url("/events"))
            .send()
            .await
            .expect("stream");
        assert_eq!(response.status(), 200);
        open.push(response);
    }
    let refused = client
        .get(proxy.admin_url("/events"))
        .send()
        .await
        .expect("third stream");
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "5");

    drop(open);
    wait_until("a slot comes back", Duration::from_secs(5), || async {
        let response = client.get(proxy.admin_url("/events")).send().await.ok()?;
        (response.status() == 200).then_some(())
    })
    .await
    .expect("a stream opens once the others closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_served_with_a_strict_policy_on_the_admin_port_only() {
    let origin = Origin::start("a").await;
    let proxy = Proxy::start(&upstream("app", &[&origin])).await;
    let client = client();

    for (path, kind, marker) in [
        ("/", "text/html", "<script src=\"/dashboard.js\""),
        ("/dashboard.js", "text/javascript", "EventSource"),
        ("/dashboard.css", "text/css", ".state-down"),
    ] {
        let response = client
            .get(proxy.admin_url(path))
            .send()
            .await
            .expect("page");
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert!(
            headers["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with(kind)
        );
        let policy = headers["content-security-policy"].to_str().expect("ascii");
        assert!(policy.contains("script-src 'self'"), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        let body = response.text().await.expect("body");
        assert!(body.contains(marker), "{path}");
        if path == "/" {
            assert!(!body.contains("<script>"), "no inline script");
            assert!(!body.contains("style="), "no inline style");
        }
    }

    // The public port forwards those paths to the app; none of the dashboard comes back.
    let before = origin.count("GET").await;
    for path in ["/", "/dashboard.js", "/dashboard.css", "/events"] {
        let response = client.get(proxy.url(path)).send().await.expect("public");
        let body = response.text().await.expect("body");
        assert!(
            !body.contains("EventSource") && !body.contains("Flotilla proxy"),
            "{path}: {body}"
        );
        assert!(!body.contains("upstreams"), "{path}: {body}");
    }
    assert_eq!(
        origin.count("GET").await,
        before + 4,
        "all four reached the app"
    );
    let drain = client
        .post(proxy.url(&format!("/backends/app/{}/drain", origin.addr)))
        .send()
        .await
        .expect("public drain");
    let body = drain.text().await.expect("body");
    assert!(
        !body.contains("operator_drain"),
        "no action on the public port: {body}"
    );
    let entry = proxy
        .backend_status("app", origin.addr)
        .await
        .expect("listed");
    assert_eq!(entry["eligible"], true);
}
