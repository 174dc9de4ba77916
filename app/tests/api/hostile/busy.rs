//! A saturated analysis pool: uploads whose analyses are genuinely running fill every slot,
//! and the next upload is told to come back.

use std::time::Duration;

use reqwest::StatusCode;
use shared::testing::wait_until;

use crate::helpers::{DEADLINE, SMALL_CSV, TestApp, TestDb, db_test};

/// Rows of the large upload (18 MB): enough that its analysis runs for a while (seconds in
/// a debug build) after its body has arrived.
const LARGE_ROWS: usize = 400_000;
/// `max_upload_bytes` for this test, the default's 20 MiB.
const MAX_UPLOAD_BYTES: u64 = 20 * 1024 * 1024;

fn large_csv() -> String {
    let mut csv = String::from("id,amount,when,label\n");
    for row in 0..LARGE_ROWS {
        csv.push_str(&format!(
            "{row},{}.{},2024-{:02}-{:02}T10:00:00Z,label-{}\n",
            row % 977,
            row % 100,
            row % 12 + 1,
            row % 28 + 1,
            row % 5_003
        ));
    }
    csv
}

async fn a_full_analysis_pool_is_503_with_retry_after(db: &TestDb) {
    let app = TestApp::spawn_with(db, |config| {
        config.max_concurrent_analyses = 1;
        config.max_queue_wait_ms = 50;
        config.max_upload_bytes = MAX_UPLOAD_BYTES;
    })
    .await;
    let (token, _) = app.user("busy@example.org").await;
    let large = large_csv();
    assert!(
        large.len() < MAX_UPLOAD_BYTES as usize,
        "under max_upload_bytes"
    );
    let first = {
        let client = app.client.clone();
        let url = app.url("/api/datasets?name=large");
        let token = token.clone();
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .header("content-type", "text/csv")
                .body(large)
                .timeout(Duration::from_secs(120))
                .send()
                .await
                .map(|response| response.status())
        })
    };
    let pool = app.state.pools.analysis.clone();
    wait_until(
        "the large upload's analysis to take the slot",
        DEADLINE,
        || {
            let busy = pool.available() == 0;
            async move { busy.then_some(()) }
        },
    )
    .await
    .expect("the large upload is analysed");

    let response = app.upload_csv(Some(&token), "name=next", SMALL_CSV).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    assert!(retry_after.is_some_and(|secs| secs >= 1), "{retry_after:?}");

    let status = first
        .await
        .expect("join")
        .expect("the large upload is answered");
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the running analysis completes"
    );
    let response = app.upload_csv(Some(&token), "name=again", SMALL_CSV).await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "the slot is free again"
    );
}
db_test!(a_full_analysis_pool_is_503_with_retry_after);
