//! Password hashing: concurrent registrations cannot take the instance's memory, and
//! register and login refuse what would make them expensive.

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use super::process::{Instance, mb};
use crate::helpers::{PASSWORD, TestDb};

/// Argon2id takes 19 MiB per hash; 200 at once took an instance to 6 GB.
const REGISTRATIONS: usize = 200;
const PEAK_RSS_LIMIT_BYTES: u64 = 400 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_registrations_keep_peak_memory_bounded() {
    let db = TestDb::sqlite();
    let app = Instance::start(&db, &[]).await;
    let client = reqwest::Client::new();
    let before = app.peak_rss_bytes();
    let requests = (0..REGISTRATIONS).map(|n| {
        let client = client.clone();
        let url = app.url("/api/auth/register");
        async move {
            // Distinct client addresses, so the per-address limit is not what saves us.
            let response = client
                .post(url)
                .header("x-forwarded-for", format!("198.51.100.{}", n % 250 + 1))
                .json(&json!({ "email": format!("user{n}@example.org"), "password": PASSWORD }))
                .timeout(Duration::from_secs(60))
                .send()
                .await
                .expect("every registration is answered");
            let retry_after = response.headers().contains_key("retry-after");
            (response.status(), retry_after)
        }
    });
    let outcomes = join_all(requests).await;
    let peak = app.peak_rss_bytes();
    let count = |status: StatusCode| outcomes.iter().filter(|(s, _)| *s == status).count();
    eprintln!(
        "{REGISTRATIONS} concurrent registrations: peak RSS {:.1} MB (idle {:.1} MB); \
         201: {}, 429: {}, 503: {}",
        mb(peak),
        mb(before),
        count(StatusCode::CREATED),
        count(StatusCode::TOO_MANY_REQUESTS),
        count(StatusCode::SERVICE_UNAVAILABLE),
    );
    for (status, retry_after) in &outcomes {
        assert!(
            [
                StatusCode::CREATED,
                StatusCode::TOO_MANY_REQUESTS,
                StatusCode::SERVICE_UNAVAILABLE
            ]
            .contains(status),
            "unexpected {status}"
        );
        if *status != StatusCode::CREATED {
            assert!(retry_after, "{status} without Retry-After");
        }
    }
    assert!(count(StatusCode::CREATED) > 0, "some registrations succeed");
    assert!(
        peak < PEAK_RSS_LIMIT_BYTES,
        "peak RSS {:.1} MB is over {:.1} MB",
        mb(peak),
        mb(PEAK_RSS_LIMIT_BYTES)
    );
}
