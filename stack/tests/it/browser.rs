//! The web frontend in a real headless Chromium, driven over WebDriver, against the whole
//! running stack: pages served by the app instances through the proxy, live events
//! included.
//!
//! Each test starts its own stack and its own chromedriver. They need Chromium and its
//! driver (Debian's `chromium` and `chromium-driver`); without `CHROMEDRIVER` or
//! `/usr/bin/chromedriver` they print that they were skipped. Screenshots of every page
//! land in `target/browser-artifacts/` (or `BROWSER_ARTIFACTS`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use shared::testing::{ChildGuard, READY_DEADLINE, free_port, wait_for_status, wait_until};

use crate::helpers::{START_DEADLINE, TempDir, TestStack, alive, pid_in};

/// How long a page gets to show what the test waits for.
const UI_DEADLINE: Duration = Duration::from_secs(20);
/// How long a page whose stream's instance died gets to reconnect and catch up.
const FAILOVER_DEADLINE: Duration = Duration::from_secs(60);
/// Debian's driver; `CHROMEDRIVER` names another.
const DEBIAN_CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Debian's browser; `CHROMIUM` names another.
const DEBIAN_CHROMIUM: &str = "/usr/bin/chromium";
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

async fn ready_stack(instances: u16, extra: &[&str]) -> Stack {
    let stack = TestStack::start(instances, extra);
    stack.wait_for_line("ready at", START_DEADLINE).await;
    Stack(stack)
}

/// A browser test's stack. Dropped, even by a failing test, it takes every process it
/// started with it: first the launcher, so nothing restarts, then each instance and the
/// proxy by the PIDs it printed. Killing only the launcher would leave those running.
struct Stack(TestStack);

impl std::ops::Deref for Stack {
    type Target = TestStack;

    fn deref(&self) -> &TestStack {
        &self.0
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.0.child.signal(Signal::SIGKILL);
        let _ = self.0.child.inner().wait();
        for pid in self.0.output().lines().filter_map(pid_in) {
            if pid > 0 && alive(pid) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

fn write_file(dir: &TempDir, name: &str, contents: &str) -> PathBuf {
    let path = dir.0.join(name);
    std::fs::write(&path, contents).expect("write a test file");
    path
}

// ---- the browser ---------------------------------------------------------------------

/// A chromedriver on a free port; on drop it asks the driver to close every browser it
/// started, then stops it, then removes the browsers' profiles.
struct Chromedriver {
    child: ChildGuard,
    addr: SocketAddr,
    profiles: Mutex<Vec<TempDir>>,
}

impl Chromedriver {
    /// Starts chromedriver, or prints why the browser tests are skipped.
    async fn start() -> Option<Self> {
        let path = std::env::var_os("CHROMEDRIVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEBIAN_CHROMEDRIVER));
        if !path.is_file() {
            println!("browser tests skipped: chromedriver not found");
            return None;
        }
        let port = free_port();
        let mut command = Command::new(path);
        command.arg(format!("--port={port}")).stdin(Stdio::null());
        if std::env::var_os("TEST_LOG").is_none() {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
        let child = ChildGuard::spawn(&mut command);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_for_status(addr, "/status", 200, READY_DEADLINE)
            .await
            .expect("chromedriver answers /status");
        Some(Self {
            child,
            addr,
            profiles: Mutex::new(Vec::new()),
        })
    }

    /// A fresh profile directory, removed after the browsers are gone.
    fn profile(&self) -> PathBuf {
        let dir = TempDir::new();
        let path = dir.0.clone();
        self.profiles.lock().expect("profiles lock").push(dir);
        path
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // chromedriver's own shutdown closes the browsers it started; a bare kill would
        // leave them running.
        if let Ok(mut stream) = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let request = format!(
                "GET /shutdown HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                self.addr
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                let _ = stream.read(&mut [0u8; 256]);
            }
        }
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.inner().try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// One headless Chromium session with its own profile, pointed at the stack's proxy.
struct Browser {
    client: Client,
    base: String,
}

/// What the connection-status indicator says.
#[derive(Debug)]
struct LiveStatus {
    state: String,
    instance: Option<String>,
    connections: u64,
}

impl Browser {
    async fn open(driver: &Chromedriver, stack: &Stack, size: (u32, u32)) -> Self {
        Self::open_at(driver, &format!("http://{}/", stack.public), size).await
    }

    async fn open_at(driver: &Chromedriver, base: &str, (width, height): (u32, u32)) -> Self {
        let mut options = json!({
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                format!("--user-data-dir={}", driver.profile().display()),
                format!("--window-size={width},{height}"),
            ]
        });
        if width < 500 {
            // Desktop windows don't get narrower than 500 px: emulate the phone's screen.
            options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0 }
            });
        }
        let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| DEBIAN_CHROMIUM.to_owned());
        if Path::new(&binary).is_file() {
            options["binary"] = json!(binary);
        }
        let capabilities = json!({ "browserName": "chrome", "goog:chromeOptions": options });
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities.as_object().cloned().unwrap_or_default())
            .connect(&format!("http://{}", driver.addr))
            .await
            .expect("a Chromium session");
        Self {
            client,
            base: base.to_owned(),
        }
    }

    async fn goto(&self, hash: &str) {
        self.client
            .goto(&format!("{}{hash}", self.base))
            .await
            .unwrap_or_else(|error| panic!("open {hash}: {error}"));
    }

    /// The element matching `css`, once it exists.
    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(UI_DEADLINE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no {css} on the page: {error}"))
    }

    async fn exists(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    async fn text(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .unwrap_or_else(|error| panic!("text of {css}: {error}"))
    }

    async fn fill(&self, css: &str, value: &str) {
        let input = self.find(css).await;
        input.clear().await.expect("clear the field");
        input.send_keys(value).await.expect("type into the field");
    }

    async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|error| panic!("click {css}: {error}"));
    }

    async fn js_value(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|error| panic!("run {script:?}: {error}"))
    }

    /// Runs an asynchronous script; it reports back through its last argument.
    async fn js_async(&self, script: &str) -> Value {
        self.client
            .execute_async(script, Vec::new())
            .await
            .unwrap_or_else(|error| panic!("run {script:?}: {error}"))
    }

    /// Runs `script` until it returns something other than null or false.
    async fn wait_js(&self, what: &str, script: &str) -> Value {
        wait_until(what, UI_DEADLINE, || {
            let client = self.client.clone();
            let script = script.to_owned();
            async move {
                let value = client.execute(&script, Vec::new()).await.ok()?;
                (!value.is_null() && value != json!(false)).then_some(value)
            }
        })
        .await
        .unwrap_or_else(|error| panic!("{error}"))
    }

    /// Waits for a dataset whose text contains `name` in the list, returning its text.
    async fn wait_for_item(&self, name: &str) -> String {
        let script = format!(
            "return [...document.querySelectorAll('#dataset-list li')]\
             .map((li) => li.textContent).find((text) => text.includes({})) ?? null",
            json!(name)
        );
        let found = self
            .wait_js(&format!("{name:?} in the dataset list"), &script)
            .await;
        found.as_str().unwrap_or_default().to_owned()
    }

    /// Waits for the live stream to connect, returning its instance and connection count.
    async fn live_stream(&self) -> (String, u64) {
        let status = wait_until("the live stream to connect", UI_DEADLINE, || {
            let client = self.client.clone();
            async move {
                let status = status_of(&client).await?;
                (status.state == "connected" && status.instance.is_some()).then_some(status)
            }
        })
        .await
        .unwrap_or_else(|error| panic!("{error}"));
        (status.instance.unwrap_or_default(), status.connections)
    }

    /// Saves a screenshot, then checks nothing is wider than the window.
    async fn assert_fits(&self, name: &str) {
        self.screenshot(name).await;
        let widths = self
            .js_value(
                "return [document.documentElement.scrollWidth, window.innerWidth,\
                 [...document.querySelectorAll('body *')]\
                 .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)\
                 .slice(0, 5).map((el) => el.tagName + '.' + el.className)]",
            )
            .await;
        let scroll_width = widths[0].as_u64().unwrap_or(u64::MAX);
        assert!(
            scroll_width <= 360,
            "{name}: the page is {scroll_width} px wide at a 360 px window; overflowing: {}",
            widths[2]
        );
    }

    /// Every form control has a label a screen reader can announce.
    async fn assert_every_control_labelled(&self, page: &str) {
        let unlabelled = self
            .js_value(
                "return [...document.querySelectorAll('input, select, textarea, button, progress')]\
                 .filter((el) => (el.labels?.length ?? 0) === 0 && !el.getAttribute('aria-label')\
                   && !(el.tagName === 'BUTTON' && el.textContent.trim()))\
                 .map((el) => el.id || el.name || el.tagName)",
            )
            .await;
        assert_eq!(unlabelled, json!([]), "unlabelled controls on {page}");
    }

    /// Nothing the page did was blocked by the Content-Security-Policy.
    async fn assert_no_policy_violations(&self) {
        let violations = self
            .js_value("return document.documentElement.dataset.cspViolations ?? null")
            .await;
        assert_eq!(violations, Value::Null, "CSP violations");
    }

    async fn screenshot(&self, name: &str) {
        // Let the page settle (fonts, the live indicator) without racing a render.
        let _ = self
            .client
            .execute_async(
                "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)))",
                Vec::new(),
            )
            .await;
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir).expect("create the artifacts directory");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("save the screenshot");
    }

    async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// The connection-status indicator's state, instance and count of connections so far.
async fn status_of(client: &Client) -> Option<LiveStatus> {
    let value = client
        .execute(
            "const el = document.getElementById('live-status');\
             return el ? [el.dataset.state, el.dataset.instance ?? null, Number(el.dataset.connections ?? 0)] : null",
            Vec::new(),
        )
        .await
        .ok()?;
    Some(LiveStatus {
        state: value.get(0)?.as_str()?.to_owned(),
        instance: value
            .get(1)?
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        connections: value.get(2)?.as_u64()?,
    })
}

/// Where screenshots go: `BROWSER_ARTIFACTS`, or `target/browser-artifacts/`.
fn artifacts_dir() -> PathBuf {
    std::env::var_os("BROWSER_ARTIFACTS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/browser-artifacts"),
        PathBuf::from,
    )
}
