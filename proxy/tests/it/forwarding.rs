//! Forwarding headers, request ids, Via, hop-by-hop stripping and Host preservation.

use crate::helpers::{Origin, Proxy, client, upstream};

fn header<'a>(echo: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    echo["headers"][name][0].as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_are_added_and_hop_by_hop_ones_stripped() {
    let origin = Origin::start("a").await;
    let proxy = Proxy::start(&upstream("app", &[&origin])).await;

    let response = client()
        .get(proxy.url("/echo"))
        .header("host", "shop.example:8080")
        .header("x-forwarded-for", "203.0.113.7")
        .header("connection", "x-hop")
        .header("x-hop", "secret")
        .header("keep-alive", "timeout=5")
        .header("proxy-connection", "keep-alive")
        .header("x-request-id", "req-123")
        .send()
        .await
        .expect("request");

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "req-123");
    assert!(
        response.headers()["via"]
            .to_str()
            .expect("via")
            .contains("1.1 flotilla")
    );
    let echo: serde_json::Value = response.json().await.expect("echo json");
    assert_eq!(
        header(&echo, "x-forwarded-for"),
        Some("203.0.113.7, 127.0.0.1")
    );
    assert_eq!(header(&echo, "x-forwarded-proto"), Some("http"));
    assert_eq!(header(&echo, "x-forwarded-host"), Some("shop.example:8080"));
    assert_eq!(header(&echo, "host"), Some("shop.example:8080"));
    assert_eq!(header(&echo, "x-request-id"), Some("req-123"));
    assert!(header(&echo, "via").is_some_and(|v| v.contains("1.1 flotilla")));
    for hop in ["x-hop", "keep-alive", "proxy-connection"] {
        assert!(
            echo["headers"].get(hop).is_none(),
            "{hop} was forwarded: {echo}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_is_generated_when_the_client_sends_none() {
    let origin = Origin::start("a").await;
    let proxy = Proxy::start(&upstream("app", &[&origin])).await;

    let response = client()
        .get(proxy.url("/echo"))
        .send()
        .await
        .expect("request");

    let returned = response.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let echo: serde_json::Value = response.json().await.expect("echo json");
    assert_eq!(returned.len(), 36, "a UUID: {returned}");
    assert_eq!(header(&echo, "x-request-id"), Some(returned.as_str()));
}
