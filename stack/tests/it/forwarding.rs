//! The forwarding contract end to end: the real proxy in front of a real app instance.
//! A client's forged `X-Forwarded-For` neither charges its failed logins to someone else's
//! address nor lets it escape the per-address login limit (20 failures by default).
//!
//! Clients connect from 127.0.0.1 (the attacker) and 127.0.0.2 (the victim); on Linux
//! both are loopback, so the proxy sees two distinct client addresses.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde_json::json;
use shared::testing::wait_until;

use crate::helpers::{START_DEADLINE, TestStack};

const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const VICTIM: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// The app's default `login_max_failures_per_ip`.
const PER_IP: usize = 20;
const PASSWORD: &str = "correct horse battery";

fn client_from(source: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(source))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}

async fn login(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> u16 {
    let mut request = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({ "email": email, "password": password }));
    if let Some(forged) = forwarded_for {
        request = request.header("x-forwarded-for", forged);
    }
    request.send().await.expect("login").status().as_u16()
}

#[tokio::test]
async fn forged_forwarded_for_through_the_proxy_neither_locks_out_others_nor_escapes_the_limit() {
    let stack = TestStack::start(1, &[]);
    stack.wait_for_line("ready at", START_DEADLINE).await;
    let base = format!("http://{}", stack.public);
    let attacker = client_from(ATTACKER);
    let victim = client_from(VICTIM);

    let ready_base = base.clone();
    let registering = victim.clone();
    wait_until("the victim registers", START_DEADLINE, || {
        let (http, base) = (registering.clone(), ready_base.clone());
        async move {
            let response = http
                .post(format!("{base}/api/auth/register"))
                .json(&json!({ "email": "victim@example.org", "password": PASSWORD }))
                .send()
                .await
                .ok()?;
            (response.status() == 201).then_some(())
        }
    })
    .await
    .unwrap_or_else(|error| panic!("{error}\n{}", stack.output()));

    // The attacker names the victim's address: every failure is charged to the attacker.
    let victims_address = VICTIM.to_string();
    for n in 0..PER_IP {
        let status = login(
            &attacker,
            &base,
            &format!("guess{n}@example.org"),
            "wrong",
            Some(&victims_address),
        )
        .await;
        assert_eq!(status, 401, "failure {n}\n{}", stack.output());
    }
    let status = login(&victim, &base, "victim@example.org", PASSWORD, None).await;
    assert_eq!(status, 200, "the victim is not locked out");

    // The attacker is now over the limit, and a fresh forged address each time, or one
    // hop ahead of its own, does not reset it.
    for n in 0..5 {
        let forged = [
            format!("198.51.100.{n}"),
            format!("198.51.100.{n}, 203.0.113.{n}"),
        ];
        for header in &forged {
            let status = login(
                &attacker,
                &base,
                &format!("fresh{n}@example.org"),
                "wrong",
                Some(header),
            )
            .await;
            assert_eq!(status, 429, "{header} escaped the limit");
        }
    }
    // The victim still gets in.
    let status = login(&victim, &base, "victim@example.org", PASSWORD, None).await;
    assert_eq!(status, 200);
}
