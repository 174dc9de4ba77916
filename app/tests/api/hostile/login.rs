//! The login limiter under concurrent guessing, and the owner's way back in.

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use super::process::{Instance, mb};
use crate::helpers::{PASSWORD, TestDb};

const GUESSES: usize = 100;
/// The default `login_max_failures_per_account_and_ip`.
const PAIR_LIMIT: usize = 5;

async fn login(
    client: &reqwest::Client,
    app: &Instance,
    email: &str,
    password: &str,
    address: &str,
) -> reqwest::Response {
    client
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", address)
        .json(&json!({ "email": email, "password": password }))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("login is answered")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_guesses_verify_at_most_the_limit() {
    let db = TestDb::sqlite();
    let app = Instance::start(&db, &[]).await;
    let client = reqwest::Client::new();
    let response = client
        .post(app.url("/api/auth/register"))
        .json(&json!({ "email": "owner@example.org", "password": PASSWORD }))
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), StatusCode::CREATED);

    let guesses = (0..GUESSES).map(|n| {
        let (client, app) = (&client, &app);
        async move {
            let password = format!("wrong guess {n}");
            login(client, app, "owner@example.org", &password, "203.0.113.66")
                .await
                .status()
        }
    });
    let statuses = join_all(guesses).await;
    let verified = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    eprintln!(
        "{GUESSES} concurrent wrong guesses: {verified} verified (401), {limited} refused \
         (429), peak RSS {:.1} MB",
        mb(app.peak_rss_bytes())
    );
    assert_eq!(verified + limited, GUESSES, "only 401 or 429: {statuses:?}");
    assert!(
        (1..=PAIR_LIMIT).contains(&verified),
        "{verified} guesses were verified"
    );

    // The guesser's address stays refused, even with the right password.
    let response = login(&client, &app, "owner@example.org", PASSWORD, "203.0.113.66").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    // The owner, from an address without failures, still gets in.
    let response = login(
        &client,
        &app,
        "owner@example.org",
        PASSWORD,
        "198.51.100.20",
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}
