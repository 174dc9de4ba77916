//! `hsts_max_age_secs`: which responses carry `Strict-Transport-Security`, and that a
//! reload leaves it as the process started.

use std::time::Duration;

use reqwest::header::STRICT_TRANSPORT_SECURITY;
use reqwest::redirect::Policy;
use shared::testing::wait_until;

use super::{HEALTH_PATH, Https, client, listeners};
use crate::helpers::{Origin, SETTLE, upstream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_goes_on_every_response_of_the_listener_that_sets_it() {
    let mut origin = Origin::start("a").await;
    let https = Https::start(&origin).await;
    let http = client(Policy::none());
    let sts = |response: &reqwest::Response| {
        response
            .headers()
            .get(STRICT_TRANSPORT_SECURITY)
            .map(|v| v.to_str().expect("text").to_owned())
    };
    let hsts_url = |path: &str| format!("https://localhost:{}{path}", https.hsts);

    let proxied = http.get(hsts_url("/echo")).send().await.expect("proxied");
    assert_eq!(proxied.status(), 200);
    assert_eq!(sts(&proxied).as_deref(), Some("max-age=600"));

    let denied = http.get(hsts_url("/metrics")).send().await.expect("denied");
    assert_eq!(denied.status(), 404, "the proxy's own error page");
    assert_eq!(sts(&denied).as_deref(), Some("max-age=600"));

    let health = http
        .get(hsts_url(HEALTH_PATH))
        .send()
        .await
        .expect("health");
    assert_eq!(sts(&health).as_deref(), Some("max-age=600"));

    for url in [
        format!("https://localhost:{}/echo", https.bare),
        https.proxy.url("/echo"),
    ] {
        let response = http.get(&url).send().await.expect("no hsts");
        assert_eq!(response.status(), 200);
        assert_eq!(sts(&response), None, "{url}");
    }

    origin.kill();
    https
        .proxy
        .wait_health("app", origin.addr, false, SETTLE)
        .await
        .expect("origin marked down");
    let unavailable = http.get(hsts_url("/echo")).send().await.expect("503");
    assert!(
        matches!(unavailable.status().as_u16(), 502 | 503),
        "{}",
        unavailable.status()
    );
    assert_eq!(sts(&unavailable).as_deref(), Some("max-age=600"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_refused_on_the_hsts_listener_still_carries_hsts() {
    let origin = Origin::start("a").await;
    let limits = "[limits]\nmax_connections = 100\nmax_connections_per_ip = 1\n";
    let https = Https::start_with(&origin, limits).await;
    let url = format!("https://localhost:{}/echo", https.hsts);
    // HTTP/1.1: a refused HTTP/2 client is only closed on.
    let http1 = || {
        reqwest::Client::builder()
            .no_proxy()
            .danger_accept_invalid_certs(true)
            .http1_only()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client")
    };
    // The first client's connection stays open in its pool; the readiness probes' may
    // take a moment to be counted closed.
    let holder = http1();
    let mut held = None;
    for _ in 0..50 {
        match holder.get(&url).send().await {
            Ok(response) if response.status() == 200 => {
                held = Some(response);
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let held = held.expect("a first connection admitted");
    held.text()
        .await
        .expect("the body, so the connection goes back to the pool");

    // The proxy answers before reading the request and closes, so a client still
    // writing may meet a reset instead of the answer: ask until one is read.
    let mut refused = None;
    for _ in 0..20 {
        match http1().get(&url).send().await {
            Ok(response) => {
                refused = Some(response);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let refused = refused.expect("a refusal read within 20 tries");
    assert_eq!(refused.status(), 503, "one connection per address");
    assert_eq!(
        refused.headers()[STRICT_TRANSPORT_SECURITY],
        "max-age=600",
        "the refusal is the proxy's page too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_does_not_change_what_the_listeners_do() {
    let (a, b) = (Origin::start("a").await, Origin::start("b").await);
    let https = Https::start(&a).await;
    let without_keys = listeners(https.redirect, https.hsts, https.bare, &https.tls, false);
    https
        .proxy
        .reload(&format!("{without_keys}{}", upstream("app", &[&b])));
    let http = client(Policy::none());
    let hsts_url = format!("https://localhost:{}/echo", https.hsts);
    wait_until("the reload applies to the upstreams", SETTLE, || {
        let (http, url) = (http.clone(), hsts_url.clone());
        async move {
            let response = http.get(url).send().await.ok()?;
            (response.headers().get("x-instance")? == "b").then_some(())
        }
    })
    .await
    .expect("reloaded");

    let response = http.get(&hsts_url).send().await.expect("hsts");
    assert_eq!(response.headers()[STRICT_TRANSPORT_SECURITY], "max-age=600");
    let redirect = http
        .get(format!("http://localhost:{}/x", https.redirect))
        .send()
        .await
        .expect("redirect");
    assert_eq!(redirect.status(), 308, "listeners wait for a restart");
}
