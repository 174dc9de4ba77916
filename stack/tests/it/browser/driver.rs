//! The harness for the browser tests: a chromedriver per test, a headless Chromium
//! session per simulated user, and the stack they browse, all torn down on drop.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use shared::testing::{
    ChildGuard, Component, READY_DEADLINE, free_port, skip, wait_for_status, wait_until,
};

use crate::helpers::{START_DEADLINE, TempDir, TestStack};

/// How long a page gets to show what the test waits for.
const UI_DEADLINE: Duration = Duration::from_secs(20);
/// Debian's driver; `CHROMEDRIVER` names another.
const DEBIAN_CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Debian's browser; `CHROMIUM` names another.
const DEBIAN_CHROMIUM: &str = "/usr/bin/chromium";

/// A stack of `instances` app processes, once it says it is ready.
pub(super) async fn ready_stack(instances: u16, extra: &[&str]) -> Stack {
    let stack = TestStack::start(instances, extra);
    stack.wait_for_line("ready at", START_DEADLINE).await;
    Stack(stack)
}

/// A browser test's stack, ready to serve; dropping it stops every process it started.
pub(super) struct Stack(TestStack);

impl std::ops::Deref for Stack {
    type Target = TestStack;

    fn deref(&self) -> &TestStack {
        &self.0
    }
}

/// A chromedriver on a free port; on drop it asks the driver to close every browser it
/// started, then stops it, then removes the browsers' profiles.
pub(super) struct Chromedriver {
    child: ChildGuard,
    addr: SocketAddr,
    profiles: Mutex<Vec<TempDir>>,
}

impl Chromedriver {
    /// Starts chromedriver, or prints why the browser tests are skipped.
    pub(super) async fn start() -> Option<Self> {
        let path = std::env::var_os("CHROMEDRIVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEBIAN_CHROMEDRIVER));
        if !path.is_file() {
            skip(
                Component::Chromium,
                "the browser tests",
                &format!("chromedriver is not at {}", path.display()),
            );
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
pub(super) struct Browser {
    pub(super) client: Client,
    base: String,
}

/// What the connection-status indicator says.
#[derive(Debug)]
pub(super) struct LiveStatus {
    pub(super) state: String,
    pub(super) instance: Option<String>,
    pub(super) connections: u64,
}

impl Browser {
    pub(super) async fn open(driver: &Chromedriver, stack: &Stack, size: (u32, u32)) -> Self {
        Self::open_at(driver, &format!("http://{}/", stack.public), size).await
    }

    /// A session pointed at the stack's admin listener (the dashboard).
    pub(super) async fn open_admin(driver: &Chromedriver, stack: &Stack, size: (u32, u32)) -> Self {
        Self::open_at(driver, &format!("http://{}/", stack.admin), size).await
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

    pub(super) async fn goto(&self, hash: &str) {
        self.client
            .goto(&format!("{}{hash}", self.base))
            .await
            .unwrap_or_else(|error| panic!("open {hash}: {error}"));
    }

    /// The element matching `css`, once it exists.
    pub(super) async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(UI_DEADLINE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no {css} on the page: {error}"))
    }

    pub(super) async fn exists(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    pub(super) async fn text(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .unwrap_or_else(|error| panic!("text of {css}: {error}"))
    }

    pub(super) async fn fill(&self, css: &str, value: &str) {
        let input = self.find(css).await;
        input.clear().await.expect("clear the field");
        input.send_keys(value).await.expect("type into the field");
    }

    pub(super) async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|error| panic!("click {css}: {error}"));
    }

    pub(super) async fn js_value(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|error| panic!("run {script:?}: {error}"))
    }

    /// Runs an asynchronous script; it reports back through its last argument.
    pub(super) async fn js_async(&self, script: &str) -> Value {
        self.client
            .execute_async(script, Vec::new())
            .await
            .unwrap_or_else(|error| panic!("run {script:?}: {error}"))
    }

    /// Runs `script` until it returns something other than null or false.
    pub(super) async fn wait_js(&self, what: &str, script: &str) -> Value {
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
    pub(super) async fn wait_for_item(&self, name: &str) -> String {
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
    pub(super) async fn live_stream(&self) -> (String, u64) {
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
    pub(super) async fn assert_fits(&self, name: &str) {
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
    pub(super) async fn assert_every_control_labelled(&self, page: &str) {
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
    pub(super) async fn assert_no_policy_violations(&self) {
        let violations = self
            .js_value("return document.documentElement.dataset.cspViolations ?? null")
            .await;
        assert_eq!(violations, Value::Null, "CSP violations");
    }

    pub(super) async fn screenshot(&self, name: &str) {
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

    pub(super) async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// The connection-status indicator's state, instance and count of connections so far.
pub(super) async fn status_of(client: &Client) -> Option<LiveStatus> {
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
