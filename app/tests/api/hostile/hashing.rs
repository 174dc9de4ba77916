//! Password hashing: concurrent registrations cannot take the instance's memory, and
//! register and login refuse what would make them expensive.

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use super::process::{Instance, mb};
use crate::helpers::{PASSWORD, TestApp, TestDb, db_test, error_body};

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

async fn registrations_are_limited_per_address(db: &TestDb) {
    let app = TestApp::spawn_with(db, |config| config.register_max_per_ip = 3).await;
    let register = |n: usize, address: &'static str| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/api/auth/register"))
                .header("x-forwarded-for", address)
                .json(&json!({ "email": format!("r{n}@example.org"), "password": PASSWORD }))
                .send()
                .await
                .expect("register")
        }
    };
    for n in 0..3 {
        assert_eq!(
            register(n, "203.0.113.1").await.status(),
            StatusCode::CREATED
        );
    }
    let refused = register(3, "203.0.113.1").await;
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    let error = error_body(refused, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(error["code"], "too_many_registrations");
    assert_eq!(
        register(4, "203.0.113.2").await.status(),
        StatusCode::CREATED,
        "another address is unaffected"
    );
}
db_test!(registrations_are_limited_per_address);

async fn oversized_login_fields_are_refused_before_the_database(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    app.user("ada@example.org").await;
    let long_email = format!("{}@example.org", "a".repeat(300));
    let long_password = "p".repeat(1025);
    for (email, password, field) in [
        (long_email.as_str(), PASSWORD, "email"),
        ("ada@example.org", long_password.as_str(), "password"),
    ] {
        let response = app.login_from(email, password, "203.0.113.3").await;
        let error = error_body(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(error["fields"][field].is_string(), "{error}");
    }
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM login_failures")
        .fetch_one(app.state.db.pool())
        .await
        .expect("count failures");
    assert_eq!(stored, 0, "nothing was recorded");
}
db_test!(oversized_login_fields_are_refused_before_the_database);
