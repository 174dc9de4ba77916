//! Stalled uploads: clients that send the head of an upload and a few bytes, then nothing.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::testing::wait_until;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::process::{Instance, mb};
use crate::helpers::{DEADLINE, PASSWORD, SMALL_CSV, TestApp, TestDb, db_test};

/// More than tokio's default of 512 blocking threads, which the old code spent one per
/// upload before any body arrived.
const STALLED: usize = 600;
const LOGIN_WITHIN: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_hundred_stalled_uploads_leave_login_answering() {
    let db = TestDb::sqlite();
    let app = Instance::start(&db, &[]).await;
    let client = reqwest::Client::new();
    let token = register(&client, &app, "slow@example.org").await;

    let stalled = stall_uploads(&app, &token, STALLED).await;
    wait_until("the app to hold every stalled upload", DEADLINE, || async {
        (app.open_fds() >= STALLED).then_some(())
    })
    .await
    .expect("every stalled upload is open on the server");

    for attempt in 0..3 {
        let started = Instant::now();
        let response = client
            .post(app.url("/api/auth/login"))
            .json(&json!({ "email": "slow@example.org", "password": PASSWORD }))
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        let elapsed = started.elapsed();
        eprintln!("login {attempt} with {STALLED} stalled uploads open: {elapsed:?}");
        let response = response.expect("login is answered");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(elapsed < LOGIN_WITHIN, "login took {elapsed:?}");
    }

    // A real upload is served, or told to come back.
    let response = client
        .post(app.url("/api/datasets?name=real"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(SMALL_CSV)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("a real upload is answered");
    let status = response.status();
    assert!(
        status == StatusCode::CREATED
            || (status == StatusCode::SERVICE_UNAVAILABLE
                && response.headers().contains_key("retry-after")),
        "{status}"
    );
    eprintln!(
        "{STALLED} stalled uploads: peak RSS {:.1} MB, a real upload answered {status}",
        mb(app.peak_rss_bytes())
    );
    drop(stalled);
}

async fn a_stalled_body_is_408_and_stores_nothing(db: &TestDb) {
    let app = TestApp::spawn_with(db, |config| config.body_idle_timeout_ms = 300).await;
    let (token, _) = app.user("ada@example.org").await;
    let mut stream = TcpStream::connect(app.addr).await.expect("connect");
    let head = format!(
        "POST /api/datasets?name=stalled HTTP/1.1\r\nHost: {}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: text/csv\r\n\
         Content-Length: 1000\r\n\r\na,b\n1,2\n",
        app.addr
    );
    stream.write_all(head.as_bytes()).await.expect("send head");
    let mut answer = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut answer))
        .await
        .expect("answered before the test deadline")
        .expect("read the answer");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    let list: Value = app
        .get("/api/datasets", Some(&token))
        .await
        .json()
        .await
        .expect("list");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "{list}");
}
db_test!(a_stalled_body_is_408_and_stores_nothing);

/// Stalled uploads held open at once, more than the one analysis slot.
const STALLED_PAST_SLOTS: usize = 4;
/// A generous bound for a small upload, below the stalls' idle timeout (6 s) and far
/// above what it takes.
const REAL_UPLOAD_WITHIN: Duration = Duration::from_secs(5);

async fn stalled_uploads_hold_no_analysis_slot(db: &TestDb) {
    let app = Instance::start(
        db,
        &[
            ("APP__MAX_CONCURRENT_ANALYSES", "1"),
            ("APP__BODY_IDLE_TIMEOUT_MS", "6000"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let token = register(&client, &app, "slots@example.org").await;

    let baseline = app.open_fds();
    let mut stalled = stall_uploads(&app, &token, STALLED_PAST_SLOTS).await;
    wait_until("the app to hold every stalled upload", DEADLINE, || async {
        (app.open_fds() >= baseline + STALLED_PAST_SLOTS).then_some(())
    })
    .await
    .expect("every stalled upload is open on the server");

    let started = Instant::now();
    let response = client
        .post(app.url("/api/datasets?name=real"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(SMALL_CSV)
        .timeout(DEADLINE)
        .send()
        .await
        .expect("a real upload is answered");
    let elapsed = started.elapsed();
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        elapsed < REAL_UPLOAD_WITHIN,
        "the real upload took {elapsed:?} behind {STALLED_PAST_SLOTS} stalled ones"
    );
    // The stalled uploads are still open, and still end in 408 with nothing stored.
    let mut answer = Vec::new();
    tokio::time::timeout(DEADLINE, stalled[0].read_to_end(&mut answer))
        .await
        .expect("answered before the test deadline")
        .expect("read the answer");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let list: Value = client
        .get(app.url("/api/datasets"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("list body");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    drop(stalled);
}
db_test!(stalled_uploads_hold_no_analysis_slot);

/// Registers `email` on the instance and returns its token.
async fn register(client: &reqwest::Client, app: &Instance, email: &str) -> String {
    let registered: Value = client
        .post(app.url("/api/auth/register"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("register body");
    registered["token"].as_str().expect("token").to_owned()
}

/// Opens `count` uploads that promise a 1 MB body, send its first 8 bytes and stall.
async fn stall_uploads(app: &Instance, token: &str, count: usize) -> Vec<TcpStream> {
    let head = format!(
        "POST /api/datasets?name=stalled HTTP/1.1\r\nHost: {}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: text/csv\r\n\
         Content-Length: 1000000\r\n\r\na,b\n1,2\n",
        app.addr
    );
    let mut stalled = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = TcpStream::connect(app.addr).await.expect("connect");
        stream.write_all(head.as_bytes()).await.expect("send head");
        stalled.push(stream);
    }
    stalled
}
