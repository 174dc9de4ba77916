//! Upload bombs: a file whose analysis would dwarf it, or whose header alone would.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use super::process::{Instance, mb};
use crate::helpers::{PASSWORD, TestDb};

const PEAK_RSS_LIMIT_BYTES: u64 = 300 * 1024 * 1024;
const DETAIL_LIMIT_BYTES: usize = 512 * 1024;
const ANSWER_WITHIN: Duration = Duration::from_secs(2);

async fn token(app: &Instance, client: &reqwest::Client) -> String {
    let body: Value = client
        .post(app.url("/api/auth/register"))
        .json(&serde_json::json!({ "email": "bomb@example.org", "password": PASSWORD }))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("register body");
    body["token"].as_str().expect("token").to_owned()
}

async fn upload(
    app: &Instance,
    client: &reqwest::Client,
    token: &str,
    csv: Vec<u8>,
) -> (StatusCode, Value, Duration) {
    let started = Instant::now();
    let response = client
        .post(app.url("/api/datasets?name=bomb&visibility=public"))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(csv)
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .expect("the upload is answered");
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_huge_cell_is_stored_truncated_not_multiplied() {
    let db = TestDb::sqlite();
    let app = Instance::start(&db, &[]).await;
    let client = reqwest::Client::new();
    let token = token(&app, &client).await;
    // Control characters: six bytes each once escaped in JSON.
    let mut csv = b"id,note\n1,".to_vec();
    csv.resize(19_900_000, 0x01);
    csv.push(b'\n');
    let (status, created, elapsed) = upload(&app, &client, &token, csv).await;
    let peak = app.peak_rss_bytes();
    let detail = client
        .get(app.url(&format!(
            "/api/datasets/{}",
            created["id"].as_str().unwrap_or("none")
        )))
        .send()
        .await
        .expect("detail");
    let detail_status = detail.status();
    let detail = detail.bytes().await.expect("detail body");
    eprintln!(
        "one 19.9 MB cell: {status} in {elapsed:?}, peak RSS {:.1} MB, detail {detail_status} \
         of {} bytes",
        mb(peak),
        detail.len()
    );
    assert_eq!(status, StatusCode::CREATED, "{}", created["error"]);
    assert_eq!(detail_status, StatusCode::OK);
    assert!(detail.len() < DETAIL_LIMIT_BYTES, "{} bytes", detail.len());
    let detail: Value = serde_json::from_slice(&detail).expect("detail JSON");
    let note = &detail["analysis"]["columns"][1];
    assert_eq!(note["truncated"], true, "{note}");
    let top = note["top_values"][0]["value"].as_str().expect("top value");
    assert!(
        top.chars().count() <= 201,
        "{} characters",
        top.chars().count()
    );
    assert!(elapsed < ANSWER_WITHIN, "answered in {elapsed:?}");
    assert!(
        peak < PEAK_RSS_LIMIT_BYTES,
        "peak RSS {:.1} MB is over {:.1} MB",
        mb(peak),
        mb(PEAK_RSS_LIMIT_BYTES)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_million_columns_are_refused_from_the_header() {
    let db = TestDb::sqlite();
    let app = Instance::start(&db, &[]).await;
    let client = reqwest::Client::new();
    let token = token(&app, &client).await;
    let mut csv = "x,".repeat(3_000_000).into_bytes();
    csv.pop();
    csv.push(b'\n');
    let (status, body, elapsed) = upload(&app, &client, &token, csv).await;
    let peak = app.peak_rss_bytes();
    eprintln!(
        "3 000 000 header-only columns: {status} in {elapsed:?}, peak RSS {:.1} MB",
        mb(peak)
    );
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{message}");
    assert!(message.contains("1000"), "names the limit: {message}");
    assert!(elapsed < ANSWER_WITHIN, "answered in {elapsed:?}");
    assert!(
        peak < PEAK_RSS_LIMIT_BYTES,
        "peak RSS {:.1} MB is over {:.1} MB",
        mb(peak),
        mb(PEAK_RSS_LIMIT_BYTES)
    );
    let list: Value = client
        .get(app.url("/api/datasets"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("list body");
    assert_eq!(
        list["items"].as_array().map(Vec::len),
        Some(0),
        "nothing stored"
    );
}
