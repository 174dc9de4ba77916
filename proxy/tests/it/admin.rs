//! The admin listener, and what the public port refuses to expose.

use crate::helpers::{Origin, Proxy, client, upstream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_serves_healthz_status_and_service_discovery() {
    let (a, b) = (Origin::start("a").await, Origin::start("b").await);
    let proxy = Proxy::start(&upstream("app", &[&a, &b])).await;
    let client = client();

    let healthz = client
        .get(proxy.admin_url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(healthz.status(), 200);

    let status = proxy.status().await;
    let group = &status["upstreams"][0];
    assert_eq!(group["name"], "app");
    let backends = group["backends"].as_array().expect("backends");
    assert_eq!(backends.len(), 2);
    for backend in backends {
        for field in ["addr", "healthy", "inflight", "last_check", "last_error"] {
            assert!(backend.get(field).is_some(), "{field} missing in {backend}");
        }
    }

    let sd: serde_json::Value = client
        .get(proxy.admin_url("/sd"))
        .send()
        .await
        .expect("sd")
        .json()
        .await
        .expect("sd json");
    assert_eq!(sd[0]["labels"]["upstream"], "app");
    let mut targets: Vec<String> = sd[0]["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t.as_str().unwrap_or_default().to_owned())
        .collect();
    targets.sort();
    let mut expected = vec![a.addr.to_string(), b.addr.to_string()];
    expected.sort();
    assert_eq!(targets, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_port_exposes_neither_admin_nor_app_internals() {
    let origin = Origin::start("a").await;
    let proxy = Proxy::start(&upstream("app", &[&origin])).await;
    let client = client();

    for path in ["/metrics", "/healthz", "/readyz"] {
        let response = client.get(proxy.url(path)).send().await.expect("request");
        assert_eq!(response.status(), 404, "{path}");
        let body = response.text().await.expect("body");
        assert!(!body.contains("app_secret_metric"), "{path}: {body}");
        assert!(!body.contains("proxy_requests_total"), "{path}: {body}");
    }
    for path in ["/status", "/sd"] {
        let body = client
            .get(proxy.url(path))
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("body");
        assert!(
            !body.contains("upstreams") && !body.contains("targets"),
            "{path} leaked admin data: {body}"
        );
    }
    assert_eq!(
        origin.count("GET").await,
        2,
        "only /status and /sd reached the app"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_answers_its_own_public_health_path_whatever_the_fleet() {
    let mut origin = Origin::start("a").await;
    let proxy = Proxy::start(&upstream("app", &[&origin])).await;
    let gets_before = origin.count("GET").await;
    let ask = |method: reqwest::Method| {
        client()
            .request(method, proxy.url("/.flotilla/health"))
            .send()
    };

    let health = ask(reqwest::Method::GET).await.expect("health");
    assert_eq!(health.status(), 200);
    assert_eq!(health.headers()["cache-control"], "no-store");
    assert_eq!(health.text().await.expect("body"), "ok\n");
    let head = ask(reqwest::Method::HEAD).await.expect("head");
    assert_eq!(head.status(), 200);
    let post = ask(reqwest::Method::POST).await.expect("post");
    assert_eq!(post.status(), 405);
    assert_eq!(origin.count("GET").await, gets_before, "never forwarded");
    assert_eq!(origin.count("POST").await, 0, "never forwarded");

    // With the only backend gone the proxy is still up: the platform must not restart it.
    origin.kill();
    let health = ask(reqwest::Method::GET).await.expect("health");
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_health_path_turns_it_off_and_the_path_is_forwarded() {
    let origin = Origin::start("a").await;
    let proxy = Proxy::start(&format!(
        "[public]\nhealth_path = \"\"\n\n{}",
        upstream("app", &[&origin])
    ))
    .await;
    let gets_before = origin.count("GET").await;
    let response = client()
        .get(proxy.url("/.flotilla/health"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-instance"], "a", "the app answered");
    assert_eq!(origin.count("GET").await, gets_before + 1);
}
