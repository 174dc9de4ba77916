//! The client address behind the login limits, by the forwarding rule shared with the
//! proxy: forged `X-Forwarded-For` hops neither escape the per-address limit nor charge
//! failures to someone else; and invented methods share one metric label.

use reqwest::{Method, StatusCode};
use shared::forwarding::TrustedProxies;

use crate::helpers::{PASSWORD, TestApp, TestDb, db_test};

/// The address the proxy saw: what it appends after whatever the client sent.
const ATTACKER: &str = "203.0.113.9";
/// Someone else's address, which the attacker writes as the first hop.
const VICTIM: &str = "198.51.100.7";
/// Failures allowed per address in these tests.
const PER_IP: u32 = 5;

fn per_ip_limit(config: &mut app::config::Config) {
    config.login_max_failures_per_account = 1000;
    config.login_max_failures_per_ip = PER_IP;
    config.login_window_secs = 600;
}

/// A failed login for a fresh account name, so only the per-address limit can apply.
async fn wrong_login(app: &TestApp, n: u32, forwarded_for: &str) -> StatusCode {
    app.login_from(&format!("guess{n}@example.org"), "wrong", forwarded_for)
        .await
        .status()
}

async fn forged_first_hops_from_a_trusted_proxy_cannot_escape_the_per_ip_limit(db: &TestDb) {
    let app = TestApp::spawn_with(db, per_ip_limit).await;
    let mut statuses = Vec::new();
    for n in 0..PER_IP + 3 {
        // A new forged hop each time, then the address a proxy appended.
        let header = format!("198.51.100.{n}, {ATTACKER}");
        statuses.push(wrong_login(&app, n, &header).await);
    }
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        statuses[..PER_IP as usize]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert_eq!(
        limited, 3,
        "the attacker's own address is limited: {statuses:?}"
    );
}
db_test!(forged_first_hops_from_a_trusted_proxy_cannot_escape_the_per_ip_limit);

async fn failures_under_a_forged_hop_do_not_lock_out_its_owner(db: &TestDb) {
    let app = TestApp::spawn_with(db, per_ip_limit).await;
    app.user("owner@example.org").await;
    for n in 0..PER_IP + 2 {
        wrong_login(&app, n, &format!("{VICTIM}, {ATTACKER}")).await;
    }
    // The attacker is limited...
    assert_eq!(
        wrong_login(&app, 99, &format!("{VICTIM}, {ATTACKER}")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // ...and the owner of the forged address, arriving through the proxy, is not.
    let response = app.login_from("owner@example.org", PASSWORD, VICTIM).await;
    assert_eq!(response.status(), StatusCode::OK);
}
db_test!(failures_under_a_forged_hop_do_not_lock_out_its_owner);

async fn an_untrusted_peer_is_the_client_whatever_the_header_says(db: &TestDb) {
    // The test client connects from loopback; trusting nobody makes it an untrusted peer.
    let app = TestApp::spawn_with(db, |config| {
        per_ip_limit(config);
        config.trusted_proxies = TrustedProxies::none();
    })
    .await;
    app.user("owner@example.org").await;
    let mut statuses = Vec::new();
    for n in 0..PER_IP + 2 {
        statuses.push(wrong_login(&app, n, &format!("198.51.100.{n}")).await);
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "rotating the header does not help: {statuses:?}"
    );
    // The address the attacker named was never charged: a trusting instance on the same
    // database lets its owner in.
    let trusting = TestApp::spawn(db).await;
    let response = trusting
        .login_from("owner@example.org", PASSWORD, "198.51.100.0")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}
db_test!(an_untrusted_peer_is_the_client_whatever_the_header_says);

async fn trusted_proxies_can_be_narrowed_to_the_proxy_itself(db: &TestDb) {
    // Only loopback is trusted: a private hop is now a client like any other, so a forged
    // private first hop is as useless as a public one.
    let app = TestApp::spawn_with(db, |config| {
        per_ip_limit(config);
        config.trusted_proxies =
            TrustedProxies::parse(["127.0.0.0/8", "::1"]).expect("loopback blocks");
    })
    .await;
    let mut statuses = Vec::new();
    for n in 0..PER_IP + 1 {
        statuses.push(wrong_login(&app, n, &format!("10.0.0.{n}, 10.9.9.9")).await);
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "10.9.9.9 is the client: {statuses:?}"
    );
}
db_test!(trusted_proxies_can_be_narrowed_to_the_proxy_itself);

async fn invented_methods_are_counted_as_other(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let invented = Method::from_bytes(b"BREWCOFFEE").expect("a token method");
    for _ in 0..3 {
        app.client
            .request(invented.clone(), app.url("/api/datasets"))
            .send()
            .await
            .expect("request with an invented method");
    }
    let text = app
        .get("/metrics", None)
        .await
        .text()
        .await
        .expect("metrics");
    assert!(
        !text.contains("BREWCOFFEE"),
        "the invented name is a label:\n{text}"
    );
    let other = text
        .lines()
        .find(|line| {
            line.starts_with(shared::metrics::names::APP_HTTP_REQUESTS_TOTAL)
                && line.contains("method=\"OTHER\"")
        })
        .unwrap_or_else(|| panic!("no OTHER series:\n{text}"));
    let count: f64 = other
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("a count");
    assert_eq!(count, 3.0, "{other}");
}
db_test!(invented_methods_are_counted_as_other);

async fn request_ids_follow_the_shared_rule(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let kept = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-1:a.b_c")
        .send()
        .await
        .expect("request");
    assert_eq!(kept.headers()["x-request-id"], "trace-1:a.b_c");
    for hostile in ["a/b", "a b", "x".repeat(129).as_str()] {
        let replaced = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", hostile)
            .send()
            .await
            .expect("request");
        let id = replaced.headers()["x-request-id"].to_str().expect("ascii");
        assert_ne!(id, hostile);
        assert!(
            shared::forwarding::is_valid_request_id(id.as_bytes()),
            "{id}"
        );
    }
}
db_test!(request_ids_follow_the_shared_rule);
