//! The login limiter under concurrent guessing, and the owner's way back in.

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use super::process::{Instance, mb};
use app::db::attempts::{self, Ledger};

use crate::helpers::{PASSWORD, TestApp, TestDb, db_test};

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

async fn guesses_from_many_addresses_stop_at_the_account_ceiling(db: &TestDb) {
    let app = TestApp::spawn_with(db, |config| {
        config.login_max_failures_per_account = 8;
        config.login_max_failures_per_account_and_ip = 2;
    })
    .await;
    app.user("ada@example.org").await;
    // 40 concurrent guesses from 20 addresses: 2 each fit the per-address limit.
    let guesses = (0..40).map(|n| {
        let app = &app;
        async move {
            let address = format!("198.51.100.{}", n % 20 + 1);
            app.login_from("ada@example.org", "wrong password", &address)
                .await
                .status()
        }
    });
    let statuses = join_all(guesses).await;
    let verified = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert!(
        statuses
            .iter()
            .all(|s| [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS].contains(s)),
        "{statuses:?}"
    );
    assert!((1..=8).contains(&verified), "{verified} guesses verified");
}
db_test!(guesses_from_many_addresses_stop_at_the_account_ceiling);

async fn expired_failures_are_forgotten_for_every_key(db: &TestDb) {
    let app = TestApp::spawn_with(db, |config| config.login_window_secs = 60).await;
    let long_ago = attempts::now_ms() - 3_600_000;
    for key in ["account:old@example.org", "ip:192.0.2.99"] {
        sqlx::query("INSERT INTO login_failures (key, failed_at_ms) VALUES ($1, $2)")
            .bind(key)
            .bind(long_ago)
            .execute(app.state.db.pool())
            .await
            .expect("insert an old failure");
    }
    // A failed login for someone else entirely.
    let response = app
        .login_from("new@example.org", "wrong password", "203.0.113.50")
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    for key in ["account:old@example.org", "ip:192.0.2.99"] {
        let left = attempts::count(&app.state.db, Ledger::LoginFailures, key)
            .await
            .expect("count");
        assert_eq!(left, 0, "{key} was pruned");
    }
}
db_test!(expired_failures_are_forgotten_for_every_key);

async fn the_owner_gets_in_slower_while_many_addresses_guess(db: &TestDb) {
    let app = TestApp::spawn_with(db, |config| {
        config.login_max_failures_per_account_and_ip = 2;
        config.login_delay_max_ms = 1_000;
    })
    .await;
    app.user("ada@example.org").await;
    let now = attempts::now_ms();
    for _ in 0..10 {
        sqlx::query("INSERT INTO login_failures (key, failed_at_ms) VALUES ($1, $2)")
            .bind("account:ada@example.org")
            .bind(now)
            .execute(app.state.db.pool())
            .await
            .expect("record a failure");
    }
    let started = std::time::Instant::now();
    let response = app
        .login_from("ada@example.org", PASSWORD, "198.51.100.77")
        .await;
    assert_eq!(response.status(), StatusCode::OK, "the owner still gets in");
    assert!(
        started.elapsed() >= Duration::from_millis(1_000),
        "waited only {:?}",
        started.elapsed()
    );
}
db_test!(the_owner_gets_in_slower_while_many_addresses_guess);
