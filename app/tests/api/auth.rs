//! Register, login, me: success, 401 variants, 409, 422 per field, 429 with Retry-After.

use jsonwebtoken::{EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, SECRET, TestApp, TestDb, db_test, error_body};

async fn register_login_and_me(db: &TestDb) {
    let app = TestApp::spawn(db).await;

    let response = app.register("  Ada@Example.ORG ", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("body");
    assert_eq!(body["user"]["email"], "ada@example.org");
    let user_id = body["user"]["id"].as_str().expect("id").to_owned();
    assert!(body["user"].get("password_hash").is_none());

    let response = app
        .login_from("ADA@example.org", PASSWORD, "10.0.0.1")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("body");
    let token = body["token"].as_str().expect("token");

    let response = app.get("/api/auth/me", Some(token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("body");
    assert_eq!(body["user"]["id"], user_id.as_str());
    assert_eq!(body["user"]["email"], "ada@example.org");
}
db_test!(register_login_and_me);

async fn duplicate_email_is_a_conflict(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    app.user("ada@example.org").await;
    let error = error_body(
        app.register("ADA@example.org ", "another password").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(error["code"], "conflict");
}
db_test!(duplicate_email_is_a_conflict);

#[tokio::test]
async fn invalid_registration_names_each_field() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(&db).await;

    let error = error_body(
        app.register("not-an-email", "short").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error["code"], "validation");
    assert!(error["fields"]["email"].is_string(), "{error}");
    assert!(
        error["fields"]["password"]
            .as_str()
            .expect("password")
            .contains('8')
    );

    let error = error_body(
        app.client
            .post(app.url("/api/auth/register"))
            .json(&json!({}))
            .send()
            .await
            .expect("register"),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error["fields"]["email"], "is required");

    let response = app
        .client
        .post(app.url("/api/auth/register"))
        .body("email=a")
        .send()
        .await
        .expect("register");
    error_body(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    let response = app
        .client
        .post(app.url("/api/auth/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("register");
    error_body(response, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn wrong_password_and_unknown_account_are_the_same_401() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(&db).await;
    app.user("ada@example.org").await;
    let error = error_body(
        app.login_from(" ", "", "10.0.0.1").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(error["fields"]["email"].is_string(), "{error}");
    assert!(error["fields"]["password"].is_string(), "{error}");

    let wrong = error_body(
        app.login_from("ada@example.org", "wrong password", "10.0.0.1")
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let unknown = error_body(
        app.login_from("bob@example.org", PASSWORD, "10.0.0.1")
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(wrong, unknown);
}

fn token_with(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encode")
}

#[tokio::test]
async fn bad_tokens_are_401_with_www_authenticate() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(&db).await;
    let (token, user_id) = app.user("ada@example.org").await;

    let response = app.get("/api/auth/me", None).await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let error = error_body(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(error["code"], "unauthorized");

    let now = chrono::Utc::now().timestamp();
    let mut tampered = token.clone();
    let last = tampered.pop().expect("non-empty");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let expired = token_with(
        SECRET,
        &json!({ "sub": user_id, "iat": now - 7200, "exp": now - 3600 }),
    );
    let foreign = token_with(
        "some-other-secret-that-is-also-long-enough",
        &json!({ "sub": user_id, "iat": now, "exp": now + 3600 }),
    );
    let mut payload_swapped = token.split('.').map(str::to_owned).collect::<Vec<_>>();
    payload_swapped[1] = token_with(
        SECRET,
        &json!({ "sub": "someone-else", "iat": now, "exp": now + 3600 }),
    )
    .split('.')
    .nth(1)
    .expect("payload")
    .to_owned();
    let payload_swapped = payload_swapped.join(".");

    for (what, bad) in [
        ("garbage", "not-a-jwt".to_owned()),
        ("tampered signature", tampered),
        ("tampered payload", payload_swapped),
        ("expired", expired),
        ("signed with another secret", foreign),
    ] {
        let response = app.get("/api/auth/me", Some(&bad)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Bearer error="invalid_token""#,
            "{what}"
        );
        let error = error_body(response, StatusCode::UNAUTHORIZED).await;
        assert_eq!(error["code"], "invalid_token", "{what}");
    }

    assert_eq!(
        app.get("/api/auth/me", Some(&token)).await.status(),
        StatusCode::OK
    );
}

async fn repeated_failures_for_one_account_give_429(db: &TestDb) {
    let app = TestApp::spawn_with(db, |config| {
        config.login_max_failures_per_account = 3;
        config.login_max_failures_per_ip = 1000;
        config.login_window_secs = 600;
    })
    .await;
    app.user("ada@example.org").await;
    app.user("bob@example.org").await;
    for attempt in 0..3 {
        let ip = format!("10.0.0.{attempt}");
        let response = app
            .login_from("ada@example.org", "wrong password", &ip)
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    // Even the right password is refused now, from any address.
    let response = app
        .login_from("ada@example.org", PASSWORD, "10.9.9.9")
        .await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=600).contains(&retry_after), "{retry_after}");
    let error = error_body(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(error["code"], "too_many_attempts");

    // Other accounts are unaffected.
    let response = app
        .login_from("bob@example.org", PASSWORD, "10.0.0.1")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}
db_test!(repeated_failures_for_one_account_give_429);

async fn repeated_failures_from_one_address_give_429(db: &TestDb) {
    let app = TestApp::spawn_with(db, |config| {
        config.login_max_failures_per_account = 1000;
        config.login_max_failures_per_ip = 3;
    })
    .await;
    app.user("ada@example.org").await;
    for n in 0..3 {
        let email = format!("guess{n}@example.org");
        let response = app.login_from(&email, "wrong password", "192.0.2.7").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app
        .login_from("ada@example.org", PASSWORD, "192.0.2.7")
        .await;
    assert!(response.headers().contains_key("retry-after"));
    error_body(response, StatusCode::TOO_MANY_REQUESTS).await;

    let response = app
        .login_from("ada@example.org", PASSWORD, "192.0.2.8")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}
db_test!(repeated_failures_from_one_address_give_429);

async fn the_login_limit_holds_across_instances(db: &TestDb) {
    let limit = |config: &mut app::config::Config| {
        config.login_max_failures_per_account = 2;
    };
    let first = TestApp::spawn_with(db, limit).await;
    let second = TestApp::spawn_with(db, limit).await;
    first.user("ada@example.org").await;
    for _ in 0..2 {
        let response = first
            .login_from("ada@example.org", "wrong password", "10.0.0.1")
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = second
        .login_from("ada@example.org", PASSWORD, "10.0.0.2")
        .await;
    error_body(response, StatusCode::TOO_MANY_REQUESTS).await;
}
db_test!(the_login_limit_holds_across_instances);
