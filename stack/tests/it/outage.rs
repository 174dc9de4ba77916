//! A database outage under the real stack: a private Postgres is stopped and started again
//! beneath the proxy and two app instances. While it is down every answer comes fast and is
//! a 503 with `Retry-After` or a stale cached copy; once it is back, the first request
//! succeeds within about one breaker probe interval, requests succeed,
//! nothing written before is lost, and a live stream opened before the outage carries
//! events again.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shared::testing::{skip, wait_for_status, wait_until};

use crate::helpers::{START_DEADLINE, TestStack, client};
use crate::postgres::PrivatePostgres;

/// The most any answer may take while the database is down.
const OUTAGE_ANSWER_BOUND: Duration = Duration::from_secs(2);
/// How long the outage lasts at least: past the public list's `max-age=5`, so the proxy's
/// copy is stale and only `stale-if-error` can serve it.
const OUTAGE_LENGTH: Duration = Duration::from_secs(7);
/// How often the outage's round of requests starts: a steady trickle, like users.
const ROUND_EVERY: Duration = Duration::from_millis(250);
/// How long the first request after the restart may be refused: about one breaker probe
/// interval (500 ms) and the probe's round trip, with room for a loaded machine.
const FIRST_REQUEST_WITHIN: Duration = Duration::from_secs(3);
/// How long recovery may take once the database is back.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_database_outage_answers_fast_and_recovers_without_loss() {
    let postgres = match PrivatePostgres::launch() {
        Ok(postgres) => postgres,
        Err((component, reason)) => {
            skip(
                component,
                "a_database_outage_answers_fast_and_recovers_without_loss",
                &reason,
            );
            return;
        }
    };
    let database_url = postgres.url();
    let stack = TestStack::start(2, &["--database-url", &database_url]);
    stack.wait_for_line("ready at", START_DEADLINE).await;
    let instance = instance_addr(&stack, "app-1").await;
    let http = client();
    let base = format!("http://{}", stack.public);

    // Before: an account, a live stream, a public dataset, and the public list in the cache.
    let token = register(&http, &base).await;
    let live = LiveEvents::open(&base).await;
    let before = upload(&http, &base, &token, "before")
        .await
        .expect("an upload before the outage");
    live.wait_for(&before, "the event of the upload before the outage")
        .await;
    let listed = http
        .get(format!("{base}/api/datasets"))
        .send()
        .await
        .expect("list");
    assert_eq!(listed.status(), 200);
    assert!(listed.text().await.expect("list body").contains(&before));
    let cached = Instant::now();

    postgres.stop();

    // During: every answer within the bound, each a 503 with Retry-After or a cached 200.
    // Each request on its own connection: the proxy closes a client connection after an
    // answer it makes itself (a stale copy, its own 503) without saying `Connection: close`,
    // so a request reusing that connection can be reset. That is the proxy's keep-alive
    // handling, not what this test is about.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .expect("http client");
    let mut stale_lists = 0;
    let mut pace = tokio::time::interval(ROUND_EVERY);
    while cached.elapsed() < OUTAGE_LENGTH || stale_lists == 0 {
        assert!(
            cached.elapsed() < RECOVERY_DEADLINE,
            "no stale list read within {RECOVERY_DEADLINE:?} of caching it"
        );
        pace.tick().await;
        let started = Instant::now();
        let response = http
            .get(format!("{base}/api/datasets"))
            .send()
            .await
            .expect("a list read during the outage");
        let took = started.elapsed();
        let x_cache = header(&response, "x-cache");
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key("retry-after");
        let body = response.text().await.expect("list body");
        assert!(took < OUTAGE_ANSWER_BOUND, "a list read took {took:?}");
        if status == 200 {
            assert!(
                matches!(x_cache.as_deref(), Some("HIT" | "STALE")),
                "a 200 list during the outage came from the cache: {x_cache:?}"
            );
            assert!(body.contains(&before), "{body}");
            stale_lists += usize::from(x_cache.as_deref() == Some("STALE"));
        } else {
            assert_unavailable(status, retry_after, &body, "a list read");
        }

        let started = Instant::now();
        let failed = upload(&http, &base, &token, "during").await;
        let took = started.elapsed();
        let refused = failed.expect_err("no upload succeeds while the database is down");
        assert!(took < OUTAGE_ANSWER_BOUND, "an upload took {took:?}");
        assert_unavailable(
            refused.status,
            refused.retry_after,
            &refused.body,
            "an upload",
        );

        let started = Instant::now();
        let response = login(&http, &base).await;
        let took = started.elapsed();
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key("retry-after");
        assert!(took < OUTAGE_ANSWER_BOUND, "a login took {took:?}");
        let body = response.text().await.expect("login body");
        assert_unavailable(status, retry_after, &body, "a login");
    }

    // The instance itself says why, in its own error format, and /readyz says so too.
    let ready = wait_until(
        "/readyz to say the database is down",
        RECOVERY_DEADLINE,
        || {
            let http = http.clone();
            async move {
                let response = http
                    .get(format!("http://{instance}/readyz"))
                    .send()
                    .await
                    .ok()?;
                let status = response.status().as_u16();
                let body: Value = response.json().await.ok()?;
                (status == 503 && body["status"] == "database down").then_some(body)
            }
        },
    )
    .await
    .unwrap_or_else(|error| panic!("{error}\n{}", stack.output()));
    assert!(
        ready["detail"]
            .as_str()
            .is_some_and(|d| d.contains("unreachable")),
        "{ready}"
    );
    let started = Instant::now();
    let direct = http
        .get(format!("http://{instance}/api/datasets"))
        .send()
        .await
        .expect("a list read from an instance");
    assert!(started.elapsed() < OUTAGE_ANSWER_BOUND);
    assert_eq!(direct.status(), 503);
    assert!(direct.headers().contains_key("retry-after"));
    let error: Value = direct.json().await.expect("JSON error");
    assert_eq!(error["error"]["code"], "database_unavailable", "{error}");

    postgres.start();

    // After: `pg_ctl -w` has returned, so the database accepts connections; each
    // instance's breaker closes at its next probe (every 500 ms). The first real request
    // goes out at once and may only be refused (503 with Retry-After) within about one
    // probe interval and the probe's own round trip; it is not preceded by waiting for
    // every `/readyz` to say 200.
    let restarted = Instant::now();
    let last_refusal = Mutex::new(None);
    let after = wait_until(
        "the first upload after the restart",
        FIRST_REQUEST_WITHIN,
        || async {
            match upload(&http, &base, &token, "after").await {
                Ok(id) => Some(id),
                Err(refused) => {
                    assert_unavailable(
                        refused.status,
                        refused.retry_after,
                        &refused.body,
                        "an upload right after the restart",
                    );
                    *last_refusal.lock().expect("refusal lock") = Some(refused);
                    None
                }
            }
        },
    )
    .await
    .unwrap_or_else(|error| {
        panic!(
            "{error}; last refusal: {:?}\n{}\n{}",
            last_refusal.lock().expect("refusal lock"),
            stack.output(),
            postgres.log()
        )
    });
    eprintln!(
        "the first upload after the restart succeeded {:?} after it",
        restarted.elapsed()
    );
    // Then every instance is ready again, so the reads below reach the database rather
    // than a stale copy the proxy serves for an instance whose breaker is still open.
    let second = instance_addr(&stack, "app-2").await;
    for addr in [instance, second] {
        wait_for_status(addr, "/readyz", 200, RECOVERY_DEADLINE)
            .await
            .unwrap_or_else(|error| panic!("{error}\n{}\n{}", stack.output(), postgres.log()));
    }
    let list = http
        .get(format!("{base}/api/datasets"))
        .header("cache-control", "no-cache")
        .send()
        .await
        .expect("list after");
    assert_eq!(list.status(), 200);
    let list = list.text().await.expect("list body");
    assert!(list.contains(&before) && list.contains(&after), "{list}");
    let detail = http
        .get(format!("{base}/api/datasets/{before}"))
        .send()
        .await
        .expect("detail");
    assert_eq!(detail.status(), 200, "the dataset from before the outage");
    assert_eq!(
        login(&http, &base).await.status(),
        200,
        "the account survived"
    );
    live.wait_for(&after, "the event of the upload after the outage")
        .await;
}

/// A 503 with `Retry-After` and a JSON error body (the app's, or the proxy's when it had no
/// backend left).
fn assert_unavailable(status: u16, retry_after: bool, body: &str, what: &str) {
    assert_eq!(status, 503, "{what} during the outage: {body}");
    assert!(retry_after, "{what}: a 503 without Retry-After");
    let error: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON: {body}"));
    assert!(error["error"]["code"].is_string(), "{what}: {body}");
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

const EMAIL: &str = "outage@example.org";
const PASSWORD: &str = "correct horse battery";

async fn register(http: &reqwest::Client, base: &str) -> String {
    let registered: Value = http
        .post(format!("{base}/api/auth/register"))
        .json(&json!({ "email": EMAIL, "password": PASSWORD }))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("register body");
    registered["token"].as_str().expect("token").to_owned()
}

async fn login(http: &reqwest::Client, base: &str) -> reqwest::Response {
    http.post(format!("{base}/api/auth/login"))
        .json(&json!({ "email": EMAIL, "password": PASSWORD }))
        .send()
        .await
        .expect("login")
}

/// An upload that did not succeed.
#[derive(Debug)]
struct Refused {
    /// 0 when no response came at all.
    status: u16,
    retry_after: bool,
    body: String,
}

/// Uploads a public dataset: its id, or what came instead.
async fn upload(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    name: &str,
) -> Result<String, Refused> {
    let no_answer = |error: reqwest::Error| Refused {
        status: 0,
        retry_after: false,
        body: format!("{error:?}"),
    };
    let response = http
        .post(format!("{base}/api/datasets?name={name}&visibility=public"))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body("x,y\n1,2\n3,4\n")
        .send()
        .await
        .map_err(no_answer)?;
    let status = response.status().as_u16();
    let retry_after = response.headers().contains_key("retry-after");
    let body = response.text().await.map_err(no_answer)?;
    if status != 201 {
        return Err(Refused {
            status,
            retry_after,
            body,
        });
    }
    let created: Value = serde_json::from_str(&body).expect("dataset JSON");
    Ok(created["id"].as_str().expect("id").to_owned())
}

/// The address the banner printed for an instance.
async fn instance_addr(stack: &TestStack, name: &str) -> SocketAddr {
    let line = stack
        .wait_for_line(&format!("  {name} "), START_DEADLINE)
        .await;
    line.split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
}

/// One anonymous `GET /api/events` stream through the proxy, read in the background.
struct LiveEvents {
    received: Arc<Mutex<String>>,
    ended: Arc<Mutex<Option<String>>>,
    reader: tokio::task::JoinHandle<()>,
}

impl LiveEvents {
    async fn open(base: &str) -> Self {
        // No overall timeout: the stream is meant to stay open.
        let http = reqwest::Client::new();
        let mut response = http
            .get(format!("{base}/api/events"))
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("open the event stream");
        assert_eq!(response.status(), 200);
        let received = Arc::new(Mutex::new(String::new()));
        let ended = Arc::new(Mutex::new(None));
        let reader = tokio::spawn({
            let (received, ended) = (Arc::clone(&received), Arc::clone(&ended));
            async move {
                let why = loop {
                    match response.chunk().await {
                        Ok(Some(chunk)) => received
                            .lock()
                            .expect("events lock")
                            .push_str(&String::from_utf8_lossy(&chunk)),
                        Ok(None) => break "the server ended it".to_owned(),
                        Err(error) => break error.to_string(),
                    }
                };
                *ended.lock().expect("ended lock") = Some(why);
            }
        });
        Self {
            received,
            ended,
            reader,
        }
    }

    /// Waits until the stream has carried an event naming `id`.
    async fn wait_for(&self, id: &str, what: &str) {
        let found = wait_until(what, RECOVERY_DEADLINE, || {
            let received = Arc::clone(&self.received);
            async move {
                received
                    .lock()
                    .expect("events lock")
                    .contains(id)
                    .then_some(())
            }
        })
        .await;
        if let Err(error) = found {
            panic!(
                "{error}; stream ended: {:?}; received:\n{}",
                self.ended.lock().expect("ended lock"),
                self.received.lock().expect("events lock")
            );
        }
    }
}

impl Drop for LiveEvents {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
