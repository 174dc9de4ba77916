//! The admin `/metrics` values match the traffic sent.

use crate::helpers::{Origin, Proxy, SETTLE, client, metric, upstream};

/// `/metrics` once `settled` holds for it, or as it stands after [`SETTLE`], for the
/// assertions to show. The gateway records a request in its logging phase, after the client
/// has the response, so the last request's sample can trail its response by a moment.
async fn metrics_when(proxy: &Proxy, settled: impl Fn(&str) -> bool) -> String {
    let settled = &settled;
    let polled = shared::testing::wait_until("the last request's sample", SETTLE, || async move {
        let text = proxy.metrics().await;
        settled(&text).then_some(text)
    })
    .await;
    match polled {
        Ok(text) => text,
        Err(_) => proxy.metrics().await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_values_match_the_requests_sent() {
    let (a, b) = (Origin::start("a").await, Origin::start("b").await);
    let proxy = Proxy::start(&upstream("app", &[&a, &b])).await;
    let client = client();
    for _ in 0..7 {
        assert_eq!(
            client
                .get(proxy.url("/x"))
                .send()
                .await
                .expect("get")
                .status(),
            200
        );
    }
    for _ in 0..3 {
        assert_eq!(
            client
                .post(proxy.url("/x"))
                .body("p")
                .send()
                .await
                .expect("post")
                .status(),
            200
        );
    }
    for _ in 0..2 {
        assert_eq!(
            client
                .get(proxy.url("/metrics"))
                .send()
                .await
                .expect("denied")
                .status(),
            404
        );
    }

    let requests = "proxy_requests_total";
    let text = metrics_when(&proxy, |text| {
        metric(text, requests, &[("route", "internal"), ("code", "4xx")]) >= 2.0
            && metric(
                text,
                "proxy_request_duration_seconds_count",
                &[("route", "/")],
            ) >= 10.0
    })
    .await;
    assert_eq!(
        metric(
            &text,
            requests,
            &[
                ("route", "/"),
                ("upstream", "app"),
                ("method", "GET"),
                ("code", "2xx")
            ]
        ),
        7.0,
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            requests,
            &[
                ("route", "/"),
                ("upstream", "app"),
                ("method", "POST"),
                ("code", "2xx")
            ]
        ),
        3.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, requests, &[("route", "internal"), ("code", "4xx")]),
        2.0,
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "proxy_request_duration_seconds_count",
            &[("route", "/"), ("upstream", "app")]
        ),
        10.0,
        "{text}"
    );
    for origin in [&a, &b] {
        let backend = origin.addr.to_string();
        assert_eq!(
            metric(
                &text,
                "proxy_upstream_requests_total",
                &[
                    ("upstream", "app"),
                    ("backend", &backend),
                    ("outcome", "success")
                ]
            ),
            5.0,
            "{text}"
        );
        assert_eq!(
            metric(
                &text,
                "proxy_upstream_up",
                &[("upstream", "app"), ("backend", &backend)]
            ),
            1.0,
            "{text}"
        );
        assert!(
            text.contains(&format!("proxy_upstream_inflight{{backend=\"{backend}\"")),
            "{text}"
        );
    }
    assert!(text.contains("proxy_open_connections "), "{text}");
    assert!(text.contains("process_cpu_seconds_total "), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_methods_are_labelled_other_in_every_series() {
    let origin = Origin::start("a").await;
    let proxy = Proxy::start(&upstream("app", &[&origin])).await;
    let client = client();
    for n in 0..5 {
        let invented =
            reqwest::Method::from_bytes(format!("INVENTED{n}").as_bytes()).expect("a token method");
        let response = client
            .request(invented, proxy.url("/x"))
            .send()
            .await
            .expect("invented method");
        assert_eq!(response.status(), 200, "the origin answers any method");
    }

    let text = metrics_when(&proxy, |text| {
        metric(
            text,
            shared::metrics::names::PROXY_REQUESTS_TOTAL,
            &[("method", "OTHER")],
        ) >= 5.0
    })
    .await;
    assert!(
        !text.contains("INVENTED"),
        "an invented method is a label:\n{text}"
    );
    assert_eq!(
        metric(
            &text,
            shared::metrics::names::PROXY_REQUESTS_TOTAL,
            &[("method", "OTHER"), ("code", "2xx")]
        ),
        5.0,
        "{text}"
    );
}

/// A stream's lifetime is the client's choice: it goes to the stream histogram and leaves
/// the request latency histogram (and so its p99 and the latency alert) alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stream_counts_in_the_stream_histogram_not_the_latency_one() {
    let origin = Origin::start("a").await;
    let proxy = Proxy::start(&upstream("app", &[&origin])).await;
    let client = client();
    assert_eq!(
        client
            .get(proxy.url("/x"))
            .send()
            .await
            .expect("get")
            .status(),
        200
    );
    // The origin's event stream sends two events 2 s apart, then ends.
    let stream = client
        .get(proxy.url("/sse"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("event stream");
    assert_eq!(stream.status(), 200);
    let body = stream.text().await.expect("the whole stream");
    assert!(body.contains("event: second"), "{body}");

    let streams = "proxy_stream_duration_seconds_count";
    let latency = "proxy_request_duration_seconds_count";
    let text = metrics_when(&proxy, |text| {
        metric(text, streams, &[("route", "/")]) >= 1.0 && metric(text, latency, &[]) >= 1.0
    })
    .await;
    assert_eq!(
        metric(&text, streams, &[("route", "/"), ("upstream", "app")]),
        1.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, latency, &[("route", "/"), ("upstream", "app")]),
        1.0,
        "only the plain GET is a latency sample:\n{text}"
    );
    assert_eq!(
        metric(
            &text,
            shared::metrics::names::PROXY_REQUESTS_TOTAL,
            &[("route", "/"), ("code", "2xx")]
        ),
        2.0,
        "a stream is still a request:\n{text}"
    );
}
