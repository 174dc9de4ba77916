//! Live updates by long polling, forced with `?live=poll`: the page says "Live (polling)"
//! and still shows a second session's upload without a reload.

use serde_json::json;

use super::driver::{Browser, Chromedriver, ready_stack};
use super::{ONE_AT_A_TIME, WEATHER_CSV, sign_up, upload, write_file};
use crate::helpers::TempDir;

#[tokio::test]
async fn a_page_forced_to_poll_sees_a_second_sessions_upload() {
    let Some(driver) = Chromedriver::start().await else {
        return;
    };
    let _serial = ONE_AT_A_TIME.lock().await;
    let stack = ready_stack(2, &[]).await;
    let files = TempDir::new();
    let csv = write_file(&files, "polled.csv", WEATHER_CSV);
    let watcher = Browser::open(&driver, &stack, (1280, 900)).await;
    let uploader = Browser::open(&driver, &stack, (1280, 900)).await;

    sign_up(&watcher, "poller@example.com").await;
    // The session survives the reload; the flag switches the page to polling.
    watcher.goto("?live=poll#/").await;
    watcher.find("#upload-form").await;
    watcher.live_stream().await;
    assert_eq!(
        watcher
            .js_value("const el = document.getElementById('live-status'); return [el.dataset.mode, el.querySelector('.live-status__label').textContent]")
            .await,
        json!(["poll", "Live (polling)"])
    );
    watcher.js_value("window.flotillaNoReload = true").await;

    sign_up(&uploader, "uploader@example.com").await;
    upload(&uploader, &csv, "Seen by polling", "public").await;
    uploader.find("#stats-table").await;
    watcher.wait_for_item("Seen by polling").await;
    watcher.screenshot("live-polling").await;
    assert_eq!(
        watcher.js_value("return window.flotillaNoReload").await,
        json!(true),
        "the polling page updated without reloading"
    );

    uploader.close().await;
    watcher.close().await;
}
