//! The proxy's admin dashboard in real headless Chromium, against the whole stack: it
//! lists every instance, shows a killed one go down without a reload, and drains one from
//! the page so that no new request reaches it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;
use shared::testing::wait_until;

use super::driver::{Browser, Chromedriver, ready_stack};
use super::{ENTER, ONE_AT_A_TIME};
use crate::helpers::client;

/// How long the page may take to show a killed instance as down: the proxy's checks need
/// two failures a second apart, then the page's stream carries the change.
const DOWN_ON_PAGE: Duration = Duration::from_secs(3);

/// The address the banner printed for `name` (`app-1`, …).
async fn addr_of(stack: &super::driver::Stack, name: &str) -> SocketAddr {
    let line = stack
        .wait_for_line(&format!("  {name} "), Duration::from_secs(30))
        .await;
    line.split_whitespace()
        .find_map(|word| word.strip_prefix("http://"))
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
}

/// The row's state word on the page, if the row is there.
async fn state_on_page(page: &Browser, addr: SocketAddr) -> Option<String> {
    let value = page
        .js_value(&format!(
            "const row = document.querySelector('tr[data-backend$=\"/{addr}\"]');\
             return row ? row.dataset.state : null"
        ))
        .await;
    value.as_str().map(str::to_owned)
}

#[tokio::test]
async fn the_dashboard_lists_the_fleet_shows_a_kill_live_and_drains_from_the_page() {
    let Some(driver) = Chromedriver::start().await else {
        return;
    };
    let _serial = ONE_AT_A_TIME.lock().await;
    let stack = ready_stack(3, &["--no-restart"]).await;
    let instances = [
        addr_of(&stack, "app-1").await,
        addr_of(&stack, "app-2").await,
        addr_of(&stack, "app-3").await,
    ];
    let page = Browser::open_admin(&driver, &stack, (1280, 900)).await;
    page.goto("").await;

    // Every instance listed, up.
    page.wait_js(
        "three backends up",
        "return [...document.querySelectorAll('tr[data-backend]')]\
         .filter((row) => row.dataset.state === 'up').length === 3",
    )
    .await;
    for addr in instances {
        assert_eq!(state_on_page(&page, addr).await.as_deref(), Some("up"));
    }
    assert!(page.text("#connection").await.contains("live"));
    // Some traffic, so the figures and sparklines have something to show.
    let client = client();
    // (A query of its own per request: the proxy's cache would answer repeats itself.)
    for probe in 0..30 {
        let _ = client
            .get(format!(
                "http://{}/api/datasets?probe=a{probe}",
                stack.public
            ))
            .send()
            .await;
    }
    page.assert_every_control_labelled("the dashboard").await;
    page.assert_no_policy_violations().await;
    page.screenshot("admin-dashboard").await;

    // Kill app-3: the page shows it down within seconds, with no reload.
    page.js_value("window.__sameDocument = true; return true")
        .await;
    let victim = instances[2];
    let pid = stack.pid_of("app-3").await;
    let killed = Instant::now();
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill app-3");
    wait_until("app-3 down on the page", DOWN_ON_PAGE, || async {
        (state_on_page(&page, victim).await.as_deref() == Some("down")).then_some(())
    })
    .await
    .unwrap_or_else(|error| panic!("{error} ({:?} after the kill)", killed.elapsed()));
    assert_eq!(
        page.js_value("return window.__sameDocument === true").await,
        json!(true),
        "the page did not reload"
    );
    page.screenshot("admin-instance-down").await;

    // Drain app-1 from the page, by keyboard, confirming the dialog.
    let drained = instances[0];
    let button = page
        .find(&format!("tr[data-backend$=\"/{drained}\"] button.drain"))
        .await;
    assert_eq!(button.text().await.expect("label"), "Drain");
    button
        .send_keys(&ENTER.to_string())
        .await
        .expect("press Enter");
    page.client.accept_alert().await.expect("confirm the drain");
    page.wait_js(
        "app-1 draining on the page",
        &format!(
            "const row = document.querySelector('tr[data-backend$=\"/{drained}\"]');\
             return row && row.dataset.state === 'draining'"
        ),
    )
    .await;
    let flash = page.text("#flash").await;
    assert!(flash.contains("draining"), "{flash}");
    page.screenshot("admin-drained").await;

    // With app-3 dead and app-1 drained, every request goes to app-2.
    let mut answered = Vec::new();
    for probe in 0..20 {
        let response = client
            .get(format!(
                "http://{}/api/datasets?probe=b{probe}",
                stack.public
            ))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        answered.push(
            response
                .headers()
                .get("x-instance")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert!(
        answered.iter().all(|i| i == "app-2"),
        "app-2 served all: {answered:?}"
    );
    let status: serde_json::Value = client
        .get(format!("http://{}/status", stack.admin))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("status json");
    let entry = status["upstreams"][0]["backends"]
        .as_array()
        .expect("backends")
        .iter()
        .find(|b| b["addr"] == drained.to_string())
        .cloned()
        .expect("app-1 listed");
    assert_eq!(entry["operator_drain"], true, "{entry}");

    // Put it back from the page.
    page.click(&format!("tr[data-backend$=\"/{drained}\"] button.drain"))
        .await;
    page.client
        .accept_alert()
        .await
        .expect("confirm the undrain");
    page.wait_js(
        "app-1 back on the page",
        &format!(
            "const row = document.querySelector('tr[data-backend$=\"/{drained}\"]');\
             return row && row.dataset.state !== 'draining'"
        ),
    )
    .await;

    // Purge the first thirty reads (their own cache entries) by prefix, from the page.
    page.fill(
        "#purge-target",
        &format!("http://{}/api/datasets?probe=a", stack.public),
    )
    .await;
    page.js_value("document.getElementById('purge-kind').value = 'prefix'; return true")
        .await;
    page.click("#purge-button").await;
    page.client.accept_alert().await.expect("confirm the purge");
    let flash = page
        .wait_js(
            "the purge's answer",
            "const text = document.getElementById('flash').textContent;\
             return text.startsWith('Purged') ? text : null",
        )
        .await;
    assert_eq!(flash, json!("Purged 30 cached response(s)."));
    let again = client
        .get(format!("http://{}/api/datasets?probe=a0", stack.public))
        .send()
        .await
        .expect("request");
    assert_eq!(
        again.headers().get("x-cache").and_then(|v| v.to_str().ok()),
        Some("MISS"),
        "a purged URL goes to the app again"
    );
    page.close().await;

    // A phone-sized window: everything still fits and is labelled.
    let narrow = Browser::open_admin(&driver, &stack, (360, 800)).await;
    narrow.goto("").await;
    narrow.find("tr[data-backend]").await;
    narrow
        .assert_every_control_labelled("the narrow dashboard")
        .await;
    narrow.assert_fits("admin-dashboard-narrow").await;
    narrow.close().await;
}
