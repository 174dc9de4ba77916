//! The web frontend in a real headless Chromium, driven over WebDriver, against the whole
//! running stack: pages served by the app instances through the proxy, live events
//! included.
//!
//! Each test starts its own stack and its own chromedriver. They need Chromium and its
//! driver (Debian's `chromium` and `chromium-driver`); without `CHROMEDRIVER` or
//! `/usr/bin/chromedriver` they print that they were skipped. Screenshots of every page
//! land in `target/browser-artifacts/` (or `BROWSER_ARTIFACTS`).

mod dashboard;
mod driver;
mod polling;
mod relations;

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use shared::testing::wait_until;

use self::driver::{Browser, Chromedriver, ready_stack, status_of};
use crate::helpers::TempDir;

/// How long a page whose stream's instance died gets to reconnect and catch up.
const FAILOVER_DEADLINE: Duration = Duration::from_secs(60);
const PASSWORD: &str = "correct horse battery";

/// One browser test at a time: each runs a stack and Chromium, and the machine is shared.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A small CSV with one column of each type, five rows, one missing temperature.
const WEATHER_CSV: &str = "\
city,temperature,rainy,observed
Oslo,3.5,true,2024-01-05
Lima,22.25,false,2024-02-11
Cairo,30,false,2024-03-17
Oslo,,true,2024-04-23
Lima,19.5,false,2024-05-30
";

/// Line 3 has one field where the header has two.
const RAGGED_CSV: &str = "a,b\n1,2\n3\n4,5\n";

#[tokio::test]
async fn signs_up_signs_in_uploads_and_reads_statistics_and_a_histogram() {
    let Some(driver) = Chromedriver::start().await else {
        return;
    };
    let _serial = ONE_AT_A_TIME.lock().await;
    let stack = ready_stack(2, &[]).await;
    let files = TempDir::new();
    let weather = write_file(&files, "weather.csv", WEATHER_CSV);
    let page = Browser::open(&driver, &stack, (1280, 900)).await;

    // Sign up, then out, then back in using the keyboard alone.
    page.goto("#/signup").await;
    page.find("#email").await;
    page.screenshot("sign-up").await;
    page.assert_every_control_labelled("sign-up").await;
    sign_up(&page, "ada@example.com").await;
    page.assert_every_control_labelled("datasets").await;
    assert!(page.text("#account").await.contains("ada@example.com"));
    page.click("#sign-out").await;
    let flash = page.text("#flash").await;
    assert!(flash.contains("signed out"), "{flash}");
    page.screenshot("sign-in").await;
    let email = page.find("#email").await;
    email.click().await.expect("focus the email field");
    email
        .send_keys(&format!("ada@example.com{TAB}{PASSWORD}{ENTER}"))
        .await
        .expect("type the credentials");
    page.find("#upload-form").await;
    page.screenshot("datasets").await;

    // Upload: the page moves to the new dataset's analysis.
    upload(&page, &weather, "Weather stations", "public").await;
    page.find("#stats-table").await;
    page.screenshot("dataset-detail").await;
    assert_eq!(page.text("#dataset-title").await, "Weather stations");

    let temperature = page
        .text("#stats-table tr[data-column='temperature']")
        .await;
    assert!(temperature.contains("Number"), "{temperature}");
    let cells: Vec<String> = page
        .js_value(
            "return [...document.querySelectorAll(\"#stats-table tr[data-column='temperature'] td\")]\
             .map((td) => td.textContent)",
        )
        .await
        .as_array()
        .expect("cells")
        .iter()
        .map(|cell| cell.as_str().unwrap_or_default().to_owned())
        .collect();
    // Type, count, missing, distinct, min, max, …
    assert_eq!(&cells[1..6], ["4", "1", "4", "3.5", "30"], "{cells:?}");
    for (column, kind) in [
        ("city", "Text"),
        ("rainy", "Boolean"),
        ("observed", "Date/time"),
    ] {
        let row = page
            .text(&format!("#stats-table tr[data-column='{column}']"))
            .await;
        assert!(row.contains(kind), "{column}: {row}");
    }

    // A histogram: an SVG of 20 bars whose counts add up to the values present.
    let bars = page
        .js_value(
            "return [...document.querySelectorAll(\"article[data-column='temperature'] svg.histogram rect.histogram__bar\")]\
             .map((rect) => Number(rect.dataset.count))",
        )
        .await;
    let bars: Vec<u64> = bars
        .as_array()
        .expect("bars")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert_eq!(bars.len(), 20, "{bars:?}");
    assert_eq!(bars.iter().sum::<u64>(), 4, "{bars:?}");
    let drawn = page
        .js_value(
            "return [...document.querySelectorAll(\"article[data-column='temperature'] rect.histogram__bar\")]\
             .filter((rect) => rect.getBBox().height > 0).length",
        )
        .await;
    assert_eq!(drawn, json!(4), "four bins hold one value each");
    assert!(
        page.exists("article[data-column='observed'] svg.histogram")
            .await,
        "a date column gets a histogram too"
    );
    let top = page.text("article[data-column='city'] .top-values").await;
    assert!(top.contains("Oslo") && top.contains("Lima"), "{top}");
    let preview = page.text("#preview-table").await;
    assert!(preview.contains("Cairo"), "{preview}");
    assert!(page.exists("#delete-dataset").await, "the owner may delete");

    // The list shows it, and its link leads back.
    page.goto("#/").await;
    let item = page.wait_for_item("Weather stations").await;
    assert!(item.contains("Public") && item.contains("Yours"), "{item}");
    page.screenshot("datasets-with-one").await;

    // The owner deletes it: confirm, back to the list, gone.
    page.click("#dataset-list li a").await;
    page.click("#delete-dataset").await;
    page.click("#confirm-delete").await;
    page.find("#upload-form").await;
    page.wait_js(
        "the list, loaded, to be empty again",
        "const empty = document.getElementById('datasets-empty'); return Boolean(empty && !empty.hidden)",
    )
    .await;
    page.assert_no_policy_violations().await;

    page.close().await;
}

#[tokio::test]
async fn a_second_session_sees_new_datasets_live_and_resumes_after_its_instance_is_killed() {
    let Some(driver) = Chromedriver::start().await else {
        return;
    };
    let _serial = ONE_AT_A_TIME.lock().await;
    let stack = ready_stack(3, &["--no-restart"]).await;
    let files = TempDir::new();
    let first = write_file(&files, "first.csv", WEATHER_CSV);
    let second = write_file(&files, "second.csv", WEATHER_CSV);
    let watcher = Browser::open(&driver, &stack, (1280, 900)).await;
    let uploader = Browser::open(&driver, &stack, (1280, 900)).await;

    sign_up(&watcher, "watcher@example.com").await;
    let (instance, connections) = watcher.live_stream().await;
    // Marks this page: a reload would lose it.
    watcher.js_value("window.flotillaNoReload = true").await;
    sign_up(&uploader, "uploader@example.com").await;

    upload(&uploader, &first, "Shared live", "public").await;
    uploader.find("#stats-table").await;
    watcher.wait_for_item("Shared live").await;
    watcher.screenshot("live-update").await;
    assert_eq!(
        watcher.js_value("return window.flotillaNoReload").await,
        json!(true),
        "the watcher's page updated without reloading"
    );

    // Kill the instance holding the watcher's stream, and upload while the page is cut off:
    // it must reconnect elsewhere and resume from its last event id without losing that one.
    uploader.goto("#/").await;
    let pid = stack.pid_of(&instance).await;
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill the stream's instance");
    upload(&uploader, &first, "During the outage", "public").await;
    uploader.find("#stats-table").await;
    let reconnected = wait_until(
        "the watcher's stream to come back on another instance",
        FAILOVER_DEADLINE,
        || {
            let watcher = watcher.client.clone();
            let killed = instance.clone();
            async move {
                let status = status_of(&watcher).await?;
                let back = status.state == "connected"
                    && status.connections > connections
                    && status.instance.as_deref() != Some(killed.as_str());
                back.then_some(status)
            }
        },
    )
    .await
    .unwrap_or_else(|error| panic!("{error}; stack output:\n{}", stack.output()));
    watcher.screenshot("live-reconnected").await;

    // The next event arrives too.
    uploader.goto("#/").await;
    upload(&uploader, &second, "After the failover", "public").await;
    uploader.find("#stats-table").await;
    watcher.wait_for_item("During the outage").await;
    watcher.wait_for_item("After the failover").await;
    assert_eq!(
        watcher.js_value("return window.flotillaNoReload").await,
        json!(true),
        "still the same page, served by {:?} now",
        reconnected.instance
    );
    watcher.screenshot("live-after-failover").await;

    // Someone else's dataset: the analysis, but no delete.
    watcher.click("#dataset-list li:last-child a").await;
    watcher.find("#stats-table").await;
    assert_eq!(watcher.text("#dataset-title").await, "Shared live");
    assert!(
        !watcher.exists("#delete-dataset").await,
        "only the owner may delete"
    );

    uploader.close().await;
    watcher.close().await;
}

#[tokio::test]
async fn a_malformed_csv_shows_the_servers_message_naming_the_line() {
    let Some(driver) = Chromedriver::start().await else {
        return;
    };
    let _serial = ONE_AT_A_TIME.lock().await;
    let stack = ready_stack(1, &[]).await;
    let files = TempDir::new();
    let ragged = write_file(&files, "ragged.csv", RAGGED_CSV);
    let page = Browser::open(&driver, &stack, (1280, 900)).await;

    sign_up(&page, "grace@example.com").await;
    upload(&page, &ragged, "Ragged", "private").await;

    let message = page
        .wait_js(
            "the upload form's error message",
            "const el = document.querySelector('#upload-message');\
             return el && !el.hidden && el.dataset.tone === 'error' ? el.textContent : null",
        )
        .await;
    let message = message.as_str().unwrap_or_default();
    assert!(message.to_lowercase().contains("line 3"), "{message}");
    page.screenshot("upload-error").await;
    assert!(
        page.exists("#upload-form").await,
        "the page stays on the form"
    );
    assert!(
        !page.text("#dataset-list").await.contains("Ragged"),
        "nothing was stored"
    );

    page.close().await;
}

#[tokio::test]
async fn the_pages_fit_a_360_px_phone_screen() {
    let Some(driver) = Chromedriver::start().await else {
        return;
    };
    let _serial = ONE_AT_A_TIME.lock().await;
    let stack = ready_stack(1, &[]).await;
    let files = TempDir::new();
    let wide = write_file(&files, "wide.csv", &wide_csv());
    let page = Browser::open(&driver, &stack, (360, 740)).await;

    page.goto("#/signup").await;
    page.find("#email").await;
    assert_eq!(
        page.js_value("return window.innerWidth").await,
        json!(360),
        "the viewport is a phone's"
    );
    page.assert_fits("phone-sign-up").await;
    sign_up(&page, "phone@example.com").await;
    page.assert_fits("phone-datasets").await;
    upload(
        &page,
        &wide,
        "A dataset with a rather long name that has to wrap on a small screen",
        "public",
    )
    .await;
    page.find("#stats-table").await;
    page.find("svg.histogram").await;
    page.assert_fits("phone-dataset-detail").await;
    page.goto("#/").await;
    page.wait_for_item("rather long name").await;
    page.assert_fits("phone-datasets-with-one").await;
    page.assert_no_policy_violations().await;

    page.close().await;
}

#[tokio::test]
async fn the_live_stream_parser_reads_events_split_anywhere() {
    let Some(driver) = Chromedriver::start().await else {
        return;
    };
    let _serial = ONE_AT_A_TIME.lock().await;
    let stack = ready_stack(1, &[]).await;
    let page = Browser::open(&driver, &stack, (800, 600)).await;
    page.goto("").await;
    page.find("#live-status").await;

    // Chunks as a network might cut them: CRLF split in two, a field split mid-value,
    // comments, a multi-line event, an id-only event, a bare `data` field.
    let parsed = page
        .js_async(
            r#"const done = arguments[arguments.length - 1];
            import('/js/sse.js').then(({ EventStreamParser }) => {
              const events = [];
              let retry = null;
              const parser = new EventStreamParser((e) => events.push(e), (ms) => { retry = ms; });
              for (const chunk of ['retry: 2500\r', '\n: ping\r\n\r\nid: 7\r\nevent: dataset.created\r\ndata: {"a":',
                '1}\r', '\n\r\n', 'data: line one\ndata: line two\n\n', ': ping\n', 'id: 9\n\n', 'event: x\ndata\n\n',
                'data: unfinished']) {
                parser.feed(chunk);
              }
              done({ events, retry, last: parser.lastEventId });
            }, (error) => done({ error: String(error) }));"#,
        )
        .await;

    assert_eq!(
        parsed,
        json!({
            "events": [
                { "type": "dataset.created", "data": "{\"a\":1}", "lastEventId": "7" },
                { "type": "message", "data": "line one\nline two", "lastEventId": "7" },
                { "type": "x", "data": "", "lastEventId": "9" },
            ],
            "retry": 2500,
            "last": "9",
        })
    );
    page.close().await;
}

/// A CSV wider than any phone: twelve columns with long names and long values.
fn wide_csv() -> String {
    let header: Vec<String> = (1..=12)
        .map(|i| format!("measurement_with_a_long_name_{i}"))
        .collect();
    let mut csv = header.join(",") + "\n";
    for row in 0..30 {
        let cells: Vec<String> = (1..=12)
            .map(|i| {
                if i % 3 == 0 {
                    format!("a-rather-long-text-value-{}", row % 7)
                } else {
                    format!("{}", row * i)
                }
            })
            .collect();
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    csv
}

// ---- the user's steps ----------------------------------------------------------------

const TAB: char = '\u{E004}';
const ENTER: char = '\u{E007}';

async fn sign_up(page: &Browser, email: &str) {
    page.goto("#/signup").await;
    page.fill("#email", email).await;
    page.fill("#password", PASSWORD).await;
    page.click("#auth-submit").await;
    page.find("#upload-form").await;
}

/// Chooses `file` in the upload form, names it and submits.
async fn upload(page: &Browser, file: &Path, name: &str, visibility: &str) {
    page.find("#upload-form").await;
    page.find("#upload-file")
        .await
        .send_keys(&file.display().to_string())
        .await
        .expect("choose the file");
    page.fill("#upload-name", name).await;
    page.click(&format!("#visibility-{visibility}")).await;
    page.click("#upload-submit").await;
}

fn write_file(dir: &TempDir, name: &str, contents: &str) -> PathBuf {
    let path = dir.0.join(name);
    std::fs::write(&path, contents).expect("write a test file");
    path
}
