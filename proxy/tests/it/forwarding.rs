//! Forwarding headers, request ids, Via, hop-by-hop stripping and Host preservation.
//!
//! Forwarding headers follow the shared rule: replaced for a client outside `[server]
//! trusted_proxies`, kept and appended to for one inside. Tests pick which by the source
//! address they connect from (127.0.0.1 or 127.0.0.2, both loopback on Linux).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::helpers::{Origin, Proxy, client, upstream};

fn header<'a>(echo: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    echo["headers"][name][0].as_str()
}

/// A client whose connections come from `source`.
fn client_from(source: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(IpAddr::V4(source))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

const TRUSTED_SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// `/echo` through `proxy` from `source` with forged forwarding headers.
async fn forged_echo(proxy: &Proxy, source: Ipv4Addr) -> serde_json::Value {
    let response = client_from(source)
        .get(proxy.url("/echo"))
        .header("host", "shop.example:8080")
        .header("x-forwarded-for", "198.51.100.7")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "evil.example")
        .header("forwarded", "for=198.51.100.7;proto=https")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    response.json().await.expect("echo json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_are_added_and_hop_by_hop_ones_stripped() {
    let origin = Origin::start("a").await;
    // The test client is trusted here, so its X-Forwarded-For is appended to.
    let proxy = Proxy::start_with_server(
        "trusted_proxies = [\"127.0.0.1\"]",
        &upstream("app", &[&origin]),
    )
    .await;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_forwarding_headers_from_an_untrusted_client_are_replaced() {
    let origin = Origin::start("a").await;
    // The default: nobody is trusted.
    let proxy = Proxy::start(&upstream("app", &[&origin])).await;

    let echo = forged_echo(&proxy, Ipv4Addr::LOCALHOST).await;

    assert_eq!(
        header(&echo, "x-forwarded-for"),
        Some("127.0.0.1"),
        "{echo}"
    );
    assert_eq!(header(&echo, "x-forwarded-proto"), Some("http"));
    assert_eq!(header(&echo, "x-forwarded-host"), Some("shop.example:8080"));
    assert_eq!(
        header(&echo, "forwarded"),
        Some("for=127.0.0.1;proto=http;host=\"shop.example:8080\"")
    );
    for name in ["x-forwarded-for", "forwarded"] {
        assert_eq!(
            echo["headers"][name].as_array().map(Vec::len),
            Some(1),
            "one {name} line: {echo}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_client_keeps_its_headers_and_is_appended_to() {
    let origin = Origin::start("a").await;
    let proxy = Proxy::start_with_server(
        &format!("trusted_proxies = [\"{TRUSTED_SOURCE}/32\"]"),
        &upstream("app", &[&origin]),
    )
    .await;

    let trusted = forged_echo(&proxy, TRUSTED_SOURCE).await;
    assert_eq!(
        header(&trusted, "x-forwarded-for"),
        Some("198.51.100.7, 127.0.0.2"),
        "{trusted}"
    );
    assert_eq!(header(&trusted, "x-forwarded-proto"), Some("https"));
    assert_eq!(header(&trusted, "x-forwarded-host"), Some("evil.example"));
    assert_eq!(
        header(&trusted, "forwarded"),
        Some("for=198.51.100.7;proto=https, for=127.0.0.2;proto=http;host=\"shop.example:8080\"")
    );

    // The same proxy, another source: not in the list, so replaced.
    let untrusted = forged_echo(&proxy, Ipv4Addr::LOCALHOST).await;
    assert_eq!(
        header(&untrusted, "x-forwarded-for"),
        Some("127.0.0.1"),
        "{untrusted}"
    );
    assert_eq!(
        header(&untrusted, "x-forwarded-host"),
        Some("shop.example:8080")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_the_app_would_refuse_are_replaced_so_ids_correlate() {
    let origin = Origin::start("a").await;
    let proxy = Proxy::start(&upstream("app", &[&origin])).await;

    for refused in ["a/b", "id;drop", "x=1", &"x".repeat(129)] {
        let response = client()
            .get(proxy.url("/echo"))
            .header("x-request-id", refused)
            .send()
            .await
            .expect("request");
        let returned = response.headers()["x-request-id"]
            .to_str()
            .expect("id")
            .to_owned();
        let echo: serde_json::Value = response.json().await.expect("echo json");
        assert_ne!(returned, refused);
        assert!(
            shared::forwarding::is_valid_request_id(returned.as_bytes()),
            "{returned}"
        );
        assert_eq!(header(&echo, "x-request-id"), Some(returned.as_str()));
    }
}
