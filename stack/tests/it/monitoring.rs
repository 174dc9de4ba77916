//! The monitoring files proven against a real Prometheus scraping a real stack: every
//! target up, every dashboard and recording-rule expression returning data, and the
//! backend-down alert pending once an instance is killed.
//!
//! Skipped, with a message, where no `prometheus` binary is on `PATH`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;
use shared::testing::{ChildGuard, Component, free_port, skip, wait_until};

use crate::helpers::{START_DEADLINE, TempDir, TestStack, client};

/// App instances the stack starts; `/sd` must list exactly this many.
const INSTANCES: u16 = 3;

/// How long Prometheus gets to start, scrape and evaluate once.
const PROMETHEUS_DEADLINE: Duration = Duration::from_secs(30);

/// Expressions that cannot return data in this test, each with the reason. The test
/// asserts that exactly these are empty, so one that starts returning data (or one that
/// stops) fails it.
/// Expressions allowed to return nothing, with the reason for each: none. Every series the
/// dashboards and rules read is produced by the traffic below.
const EXPECTED_EMPTY: &[(&str, &str)] = &[];

/// The retry expressions, empty only when no read was retried after the kill.
const RETRIES: [&str; 3] = [
    r#"upstream_reason:proxy_retries:rate1m{upstream=~".+"}"#,
    "upstream_reason:proxy_retries:rate1m",
    "sum by (upstream, reason) (rate(proxy_retries_total[1m]))",
];

#[tokio::test]
async fn prometheus_scrapes_every_target_evaluates_every_expression_and_alerts() {
    let Some(prometheus_bin) = on_path("prometheus") else {
        skip(
            Component::Prometheus,
            "the monitoring test",
            "prometheus is not on PATH",
        );
        return;
    };

    let stack = TestStack::start(INSTANCES, &["--no-restart"]);
    stack.wait_for_line("ready at", START_DEADLINE).await;
    let victim_line = stack.wait_for_line("  app-3 ", START_DEADLINE).await;
    let victim_pid = stack.pid_of("app-3").await;
    let victim_addr = victim_line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {victim_line:?}"))
        .to_owned();

    let prometheus = Prometheus::start(&prometheus_bin, &stack.admin.to_string()).await;
    let http = client();
    let api = Api {
        http: http.clone(),
        base: prometheus.base.clone(),
    };

    // Traffic of every kind the dashboards show, and a live client kept open.
    let live = Traffic::new(http.clone(), stack.public).run().await;

    // Every target up: the proxy and one app instance per entry in `/sd`.
    let sd: Value = http
        .get(format!("http://{}/sd", stack.admin))
        .send()
        .await
        .expect("/sd")
        .json()
        .await
        .expect("/sd is JSON");
    let discovered: BTreeSet<String> = sd
        .as_array()
        .expect("/sd is a list")
        .iter()
        .flat_map(|group| group["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|target| target.as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        discovered.len(),
        usize::from(INSTANCES),
        "/sd lists every instance: {sd}"
    );
    let mut expected_up: BTreeSet<(String, String)> = discovered
        .iter()
        .map(|addr| ("app".to_owned(), addr.clone()))
        .collect();
    expected_up.insert(("proxy".to_owned(), stack.admin.to_string()));
    let up = wait_until("every target up", PROMETHEUS_DEADLINE, || async {
        let up = api.up_targets().await;
        (up == expected_up).then_some(up)
    })
    .await;
    assert!(
        up.is_ok(),
        "{up:?}; targets now: {:?}, expected: {expected_up:?}",
        api.up_targets().await
    );

    // Kill one instance and keep reads coming: a read that reaches the dead instance
    // (a pooled connection breaks) before the proxy ejects it is retried elsewhere, which
    // the retry panel shows. Reads continue until the proxy has counted a retry.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(victim_pid), Signal::SIGKILL)
        .expect("SIGKILL app-3");
    let mut retried = false;
    for _ in 0..40 {
        // Several at once, so that some reach the dead instance before it is ejected.
        let mut reads = tokio::task::JoinSet::new();
        for _ in 0..INSTANCES * 2 {
            let read = http
                .get(format!("http://{}/api/datasets", stack.public))
                .send();
            reads.spawn(read);
        }
        while let Some(read) = reads.join_next().await {
            let response = read.expect("read task").expect("a read through the proxy");
            assert_eq!(response.status(), 200, "a read while an instance died");
        }
        let metrics = http
            .get(format!("http://{}/metrics", stack.admin))
            .send()
            .await
            .expect("proxy /metrics")
            .text()
            .await
            .expect("proxy /metrics text");
        if metrics
            .lines()
            .any(|line| line.starts_with("proxy_retries_total{"))
        {
            retried = true;
            break;
        }
    }
    // Rarely the proxy's health check ejects the instance before any read reaches it,
    // and nothing is retried; then, and only then, the retry series are expected empty.
    if !retried {
        println!("no read was retried: the killed instance was ejected before any reached it");
    }

    let pending = wait_until(
        "FlotillaBackendDown pending for the killed instance",
        PROMETHEUS_DEADLINE,
        || api.backend_down_pending(&victim_addr),
    )
    .await;
    assert!(
        pending.is_ok(),
        "{pending:?}; alerts now: {}",
        api.get("/api/v1/alerts", &[]).await
    );

    // Every dashboard expression and every recording rule returns data, except exactly
    // the ones listed as impossible here.
    let mut expressions = dashboard_expressions();
    for (name, query) in api.recording_rules().await {
        expressions.push(name);
        expressions.push(query);
    }
    let mut expected_empty: BTreeSet<&str> = EXPECTED_EMPTY.iter().map(|(expr, _)| *expr).collect();
    if !retried {
        expected_empty.extend(RETRIES);
    }
    let empty = wait_until(
        "every expression to return data",
        PROMETHEUS_DEADLINE,
        || async {
            let mut empty = BTreeSet::new();
            for expr in &expressions {
                if !api.has_data(expr).await {
                    empty.insert(expr.clone());
                }
            }
            let waiting = empty
                .iter()
                .any(|expr| !expected_empty.contains(expr.as_str()));
            (!waiting).then_some(empty)
        },
    )
    .await;
    let empty = match empty {
        Ok(empty) => empty,
        Err(error) => {
            let mut still = Vec::new();
            for expr in &expressions {
                if !expected_empty.contains(expr.as_str()) && !api.has_data(expr).await {
                    still.push(expr.clone());
                }
            }
            panic!("{error}; no data for {still:#?}");
        }
    };
    let empty: BTreeSet<&str> = empty.iter().map(String::as_str).collect();
    assert_eq!(
        empty, expected_empty,
        "the expected-empty list is exactly what returned nothing"
    );
    drop(live);
}

/// A Prometheus on loopback, configured from `prometheus.test.yml` and the rules.
struct Prometheus {
    _child: ChildGuard,
    base: String,
    _dir: TempDir,
}

impl Prometheus {
    async fn start(bin: &Path, proxy_admin: &str) -> Self {
        let dir = TempDir::new();
        let monitoring = Path::new(env!("CARGO_MANIFEST_DIR")).join("../monitoring/prometheus");
        let template = std::fs::read_to_string(monitoring.join("prometheus.test.yml"))
            .expect("read prometheus.test.yml");
        std::fs::write(
            dir.0.join("prometheus.yml"),
            template.replace("PROXY_ADMIN_ADDR", proxy_admin),
        )
        .expect("write the config");
        std::fs::create_dir_all(dir.0.join("rules")).expect("rules dir");
        for entry in std::fs::read_dir(monitoring.join("rules")).expect("read rules/") {
            let path = entry.expect("rules entry").path();
            if let Some(name) = path.file_name() {
                std::fs::copy(&path, dir.0.join("rules").join(name)).expect("copy a rule file");
            }
        }
        let port = free_port();
        let mut command = Command::new(bin);
        command
            .arg(format!(
                "--config.file={}",
                dir.0.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.0.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if std::env::var_os("TEST_LOG").is_none() {
            command.stderr(Stdio::null());
        }
        let child = ChildGuard::spawn(&mut command);
        let base = format!("http://127.0.0.1:{port}");
        let http = client();
        let ready = wait_until("Prometheus ready", PROMETHEUS_DEADLINE, || {
            let request = http.get(format!("{base}/-/ready")).send();
            async move { request.await.ok().filter(|r| r.status() == 200).map(|_| ()) }
        })
        .await;
        ready.expect("Prometheus becomes ready");
        Self {
            _child: child,
            base,
            _dir: dir,
        }
    }
}

/// Prometheus's HTTP API.
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .query(query)
            .send()
            .await
            .unwrap_or_else(|error| panic!("GET {path}: {error}"));
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|error| panic!("GET {path} is not JSON: {error}"));
        assert_eq!(body["status"], "success", "GET {path} {query:?}: {body}");
        body
    }

    /// `(job, instance)` of every active target whose health is up.
    async fn up_targets(&self) -> BTreeSet<(String, String)> {
        let body = self.get("/api/v1/targets", &[("state", "active")]).await;
        body["data"]["activeTargets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|target| target["health"] == "up")
            .map(|target| {
                let labels = &target["labels"];
                (
                    labels["job"].as_str().unwrap_or_default().to_owned(),
                    labels["instance"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    async fn backend_down_pending(&self, backend: &str) -> Option<()> {
        let body = self.get("/api/v1/alerts", &[]).await;
        body["data"]["alerts"]
            .as_array()?
            .iter()
            .any(|alert| {
                alert["labels"]["alertname"] == "FlotillaBackendDown"
                    && alert["labels"]["backend"] == backend
                    && alert["state"] == "pending"
            })
            .then_some(())
    }

    /// `(name, query)` of every recording rule Prometheus loaded.
    async fn recording_rules(&self) -> Vec<(String, String)> {
        let body = self.get("/api/v1/rules", &[("type", "record")]).await;
        let rules: Vec<(String, String)> = body["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|group| group["rules"].as_array().cloned().unwrap_or_default())
            .filter(|rule| rule["type"] == "recording")
            .filter_map(|rule| {
                Some((
                    rule["name"].as_str()?.into(),
                    rule["query"].as_str()?.into(),
                ))
            })
            .collect();
        assert!(
            !rules.is_empty(),
            "Prometheus loaded no recording rule: {body}"
        );
        rules
    }

    async fn has_data(&self, expr: &str) -> bool {
        let body = self.get("/api/v1/query", &[("query", expr)]).await;
        body["data"]["result"]
            .as_array()
            .is_some_and(|result| !result.is_empty())
    }
}

/// Every `expr` of every panel (nested rows too) of every dashboard, with Grafana's
/// variables replaced as Grafana would: `$__rate_interval` by a window, the others by a
/// regex matching every value.
fn dashboard_expressions() -> Vec<String> {
    fn walk(panels: &Value, out: &mut Vec<String>) {
        for panel in panels.as_array().into_iter().flatten() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push(substitute(expr));
                }
            }
            walk(&panel["panels"], out);
        }
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../monitoring/grafana/dashboards");
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read the dashboards")
        .map(|entry| entry.expect("dashboard entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read a dashboard");
        let dashboard: Value = serde_json::from_str(&text).expect("a dashboard is JSON");
        walk(&dashboard["panels"], &mut out);
    }
    assert!(!out.is_empty(), "no dashboard expression found");
    out
}

fn substitute(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr
        .replace("$__rate_interval", "1m")
        .replace("${__rate_interval}", "1m");
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        let (name_len, skip) = if let Some(inner) = tail.strip_prefix('{') {
            let end = inner.find('}').map_or(inner.len(), |end| end + 1);
            (end, 1)
        } else {
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            (end, 0)
        };
        out.push_str(".+");
        rest = tail[name_len + skip..].to_owned();
    }
    out.push_str(&rest);
    out
}

/// The first executable called `name` in a `PATH` directory.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// Requests through the proxy that make every series the dashboards read exist.
struct Traffic {
    http: reqwest::Client,
    public: std::net::SocketAddr,
}

impl Traffic {
    fn new(http: reqwest::Client, public: std::net::SocketAddr) -> Self {
        Self { http, public }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.public)
    }

    /// Sends the traffic; returns the open live streams, which keep `app_live_clients`
    /// non-zero while it is held.
    async fn run(&self) -> Vec<reqwest::Response> {
        let credentials = serde_json::json!({
            "email": "monitor@example.com",
            "password": "correct horse battery",
        });
        let registered = self
            .http
            .post(self.url("/api/auth/register"))
            .json(&credentials)
            .send()
            .await
            .expect("register");
        assert_eq!(registered.status(), 201, "register");
        let login: Value = self
            .http
            .post(self.url("/api/auth/login"))
            .json(&credentials)
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("login JSON");
        let token = login["token"].as_str().expect("a token").to_owned();

        // One stream per instance (round robin), so that one outlives the instance the
        // test kills.
        let mut live = Vec::new();
        for _ in 0..INSTANCES {
            let stream = self
                .http
                .get(self.url("/api/events"))
                .header("accept", "text/event-stream")
                .send()
                .await
                .expect("open the event stream");
            assert_eq!(stream.status(), 200, "event stream");
            live.push(stream);
        }

        let csv = "city,temp,when\nOslo,3.5,2024-01-01\nLima,19.25,2024-01-02\n";
        let mut ids = Vec::new();
        // Rounds of every request kind, so each instance serves each route.
        for round in 0..INSTANCES * 2 {
            let visibility = if round % 2 == 0 { "public" } else { "private" };
            let created = self
                .http
                .post(self.url("/api/datasets"))
                .query(&[
                    ("name", format!("weather {round}").as_str()),
                    ("visibility", visibility),
                ])
                .bearer_auth(&token)
                .header("content-type", "text/csv")
                .body(csv)
                .send()
                .await
                .expect("upload");
            assert_eq!(created.status(), 201, "upload {visibility}");
            let body: Value = created.json().await.expect("upload JSON");
            let id = body["id"]
                .as_str()
                .or_else(|| body["dataset"]["id"].as_str())
                .unwrap_or_else(|| panic!("no id in {body}"))
                .to_owned();
            ids.push(id);
        }
        for id in &ids {
            let detail = self
                .http
                .get(self.url(&format!("/api/datasets/{id}")))
                .bearer_auth(&token)
                .send()
                .await
                .expect("detail");
            assert_eq!(detail.status(), 200, "detail");
            // Anonymous reads twice, so the proxy's cache counts misses and hits (public
            // datasets) and bypasses (private ones answer 404 without a stored copy).
            for _ in 0..2 {
                self.http
                    .get(self.url(&format!("/api/datasets/{id}")))
                    .send()
                    .await
                    .expect("anonymous detail");
            }
        }
        for _ in 0..INSTANCES * 2 {
            let me = self.http.get(self.url("/api/auth/me")).bearer_auth(&token);
            assert_eq!(me.send().await.expect("me").status(), 200, "me");
            let list = self.http.get(self.url("/api/datasets"));
            assert_eq!(list.send().await.expect("list").status(), 200, "list");
            let mine = self.http.get(self.url("/api/datasets")).bearer_auth(&token);
            assert_eq!(mine.send().await.expect("list").status(), 200, "my list");
            let missing = self
                .http
                .get(self.url("/api/datasets/00000000-0000-0000-0000-000000000000"));
            assert_eq!(missing.send().await.expect("404").status(), 404, "missing");
            let anonymous = self.http.post(self.url("/api/datasets")).body(csv);
            assert_eq!(
                anonymous.send().await.expect("401").status(),
                401,
                "upload without a token"
            );
        }
        live
    }
}
