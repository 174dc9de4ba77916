//! The whole sign-in once in headless Chromium: the page's "Sign in with" button, the
//! provider's redirects, the callback, and the page trading its one-time code.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use shared::testing::{ChildGuard, Component, READY_DEADLINE, free_port, skip, wait_for_status};

use super::World;
use crate::helpers::TestDb;

const UI_DEADLINE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_in_with_the_provider_button() {
    let driver = PathBuf::from(
        std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into()),
    );
    if !driver.is_file() {
        skip(
            Component::Chromium,
            "chromium_signs_in_with_the_provider_button",
            "no chromedriver",
        );
        return;
    }
    let db = TestDb::sqlite();
    let Some(world) = World::start(&db, "chromium_signs_in_with_the_provider_button").await else {
        return;
    };
    let port = free_port();
    let _driver = ChildGuard::spawn(
        Command::new(driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_for_status(addr, "/status", 200, READY_DEADLINE)
        .await
        .expect("chromedriver answers");
    let profile = std::env::temp_dir().join(format!("flotilla-oauth-{}", uuid::Uuid::new_v4()));
    let mut options = json!({ "args": [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", format!("--user-data-dir={}", profile.display()),
    ]});
    let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if std::path::Path::new(&binary).is_file() {
        options["binary"] = json!(binary);
    }
    let capabilities = json!({ "browserName": "chrome", "goog:chromeOptions": options });
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities.as_object().cloned().unwrap_or_default())
        .connect(&format!("http://{addr}"))
        .await
        .expect("a Chromium session");

    client
        .goto(&format!("{}/#/signin", world.public_url))
        .await
        .expect("open the sign-in page");
    let button = client
        .wait()
        .at_most(UI_DEADLINE)
        .for_element(Locator::Css("[data-provider='test']"))
        .await
        .expect("a Sign in with button");
    assert_eq!(button.text().await.expect("text"), "Sign in with Test OIDC");
    button.click().await.expect("click");
    let who = client
        .wait()
        .at_most(UI_DEADLINE)
        .for_element(Locator::Css(".account__who"))
        .await
        .expect("signed in");
    assert_eq!(who.text().await.expect("text"), "alice@example.org");
    client
        .wait()
        .at_most(UI_DEADLINE)
        .for_element(Locator::Css("#upload-form"))
        .await
        .expect("the signed-in home page");
    let url = client.current_url().await.expect("url");
    assert!(
        !url.as_str().contains("/oauth/"),
        "the one-time code left the address: {url}"
    );
    let _ = client.close().await;
    let _ = std::fs::remove_dir_all(profile);
}
