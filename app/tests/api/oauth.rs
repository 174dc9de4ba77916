//! Sign-in with an OpenID Connect provider, against a real one (`oidc-provider` under
//! Node): accounts made and found, the app's token handed over by a one-time code, state
//! and code checks, a callback on another instance, and consent denied.

mod browser;
mod provider;

use app::config::{ProviderConfig, ProviderKind};
use app::startup::Application;
use reqwest::StatusCode;
use serde_json::{Value, json};

use self::provider::{Browserish, CLIENT_ID, CLIENT_SECRET, OidcProvider, assert_failure, param};
use crate::helpers::{TestApp, TestDb, db_test, test_config};

/// Two app instances on one database with one secret (as behind the proxy), a provider
/// that knows both as redirect targets through the first's public URL.
struct World {
    a: TestApp,
    b: TestApp,
    public_url: String,
    _provider: OidcProvider,
}

impl World {
    async fn start(db: &TestDb, test: &str) -> Option<Self> {
        shared::telemetry::init_for_tests();
        let listener_a = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let listener_b = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let public_url = format!("http://{}", listener_a.local_addr().expect("addr"));
        let redirect = format!("{public_url}/api/auth/oauth/test/callback");
        let provider = OidcProvider::start(test, &[redirect]).await?;
        let build = |listener| {
            let mut config = test_config(db);
            config.oauth.public_url = public_url.clone();
            config.oauth.providers = vec![ProviderConfig {
                id: "test".into(),
                display_name: "Test OIDC".into(),
                kind: ProviderKind::Oidc,
                issuer: Some(provider.issuer.clone()),
                authorize_url: None,
                token_url: None,
                userinfo_url: None,
                client_id: CLIENT_ID.into(),
                client_secret: Some(
                    serde_json::from_value(json!(CLIENT_SECRET)).expect("a secret"),
                ),
                client_secret_file: None,
                scopes: Vec::new(),
            }];
            Application::build_with_listener(config, listener)
        };
        let a = TestApp::serve(build(listener_a).await.expect("build a"));
        let b = TestApp::serve(build(listener_b).await.expect("build b"));
        Some(Self {
            a,
            b,
            public_url,
            _provider: provider,
        })
    }

    fn callback_prefix(&self) -> String {
        format!("{}/api/auth/oauth/test/callback", self.public_url)
    }

    /// Starts a sign-in on `a` and walks the provider; returns the callback URL it sent
    /// the browser to (not yet visited).
    async fn to_callback(&self, browser: &mut Browserish, login_hint: Option<&str>) -> String {
        let start = browser.get(&self.a.url("/api/auth/oauth/test/start")).await;
        assert_eq!(start.status(), StatusCode::FOUND);
        let mut authorize = start.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        for name in ["state", "nonce", "code_challenge"] {
            assert!(param(&authorize, name).is_some(), "{name} in {authorize}");
        }
        assert_eq!(
            param(&authorize, "code_challenge_method").as_deref(),
            Some("S256")
        );
        if let Some(hint) = login_hint {
            authorize.push_str(&format!("&login_hint={}", urlencode(hint)));
        }
        browser
            .follow_until(&authorize, &self.callback_prefix())
            .await
    }

    /// A whole sign-in as `login_hint`; returns the app's token and user.
    async fn sign_in(&self, login_hint: Option<&str>) -> (String, Value) {
        let mut browser = Browserish::new();
        let callback = self.to_callback(&mut browser, login_hint).await;
        let done = browser.get(&callback).await;
        assert_eq!(
            done.status(),
            StatusCode::FOUND,
            "{}",
            done.text().await.unwrap_or_default()
        );
        exchange(&self.a, &done).await
    }
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Trades the one-time code in the callback's redirect for `{token, user}`.
async fn exchange(app: &TestApp, done: &reqwest::Response) -> (String, Value) {
    let location = done.headers()["location"].to_str().expect("location");
    let code = location
        .strip_prefix("/#/oauth/")
        .unwrap_or_else(|| panic!("a fragment with the code, not {location}"));
    let response = app
        .client
        .post(app.url("/api/auth/oauth/exchange"))
        .json(&json!({ "code": code }))
        .send()
        .await
        .expect("exchange");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("body");
    let again = app
        .client
        .post(app.url("/api/auth/oauth/exchange"))
        .json(&json!({ "code": code }))
        .send()
        .await
        .expect("exchange again");
    assert_eq!(
        again.status(),
        StatusCode::UNAUTHORIZED,
        "a code works once"
    );
    (
        body["token"].as_str().expect("token").to_owned(),
        body["user"].clone(),
    )
}

async fn me(app: &TestApp, token: &str) -> Value {
    let response = app.get("/api/auth/me", Some(token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("me")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_providers_route_lists_the_configured_ones() {
    let db = TestDb::sqlite();
    let Some(world) = World::start(&db, "the_providers_route_lists_the_configured_ones").await
    else {
        return;
    };
    let response = world.a.get("/api/auth/oauth/providers", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("body");
    assert_eq!(
        body,
        json!({"providers": [{"id": "test", "display_name": "Test OIDC",
            "start_url": "/api/auth/oauth/test/start"}]})
    );
}

async fn a_first_sign_in_creates_a_user_and_the_second_finds_it(db: &TestDb) {
    let Some(world) = World::start(db, "a_first_sign_in_creates_a_user").await else {
        return;
    };
    let (token, user) = world.sign_in(None).await;
    assert_eq!(user["email"], "alice@example.org");
    assert_eq!(me(&world.a, &token).await["user"]["id"], user["id"]);
    assert_eq!(me(&world.b, &token).await["user"]["id"], user["id"]);

    let (_, again) = world.sign_in(None).await;
    assert_eq!(
        again["id"], user["id"],
        "the same identity finds the same user"
    );
}
db_test!(a_first_sign_in_creates_a_user_and_the_second_finds_it);

async fn a_callback_on_another_instance_than_the_start_succeeds(db: &TestDb) {
    let Some(world) = World::start(db, "a_callback_on_another_instance").await else {
        return;
    };
    let mut browser = Browserish::new();
    let callback = world.to_callback(&mut browser, None).await;
    let on_b = callback.replace(&world.public_url, &format!("http://{}", world.b.addr));
    let done = browser.get(&on_b).await;
    assert_eq!(done.status(), StatusCode::FOUND);
    let (token, _) = exchange(&world.b, &done).await;
    me(&world.a, &token).await;
}
db_test!(a_callback_on_another_instance_than_the_start_succeeds);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_state_and_a_replayed_code_are_refused() {
    let db = TestDb::sqlite();
    let Some(world) = World::start(&db, "a_tampered_state_and_a_replayed_code").await else {
        return;
    };
    // Tampered state: the provider's redirect with another state value.
    let mut browser = Browserish::new();
    let callback = world.to_callback(&mut browser, None).await;
    let state = param(&callback, "state").expect("state");
    let tampered = callback.replace(&format!("state={state}"), "state=forged");
    assert_failure(
        browser.get(&tampered).await,
        StatusCode::BAD_REQUEST,
        "state_mismatch",
    )
    .await;

    // No state cookie at all (another browser, or expired): refused too.
    let mut stranger = Browserish::new();
    assert_failure(
        stranger.get(&callback).await,
        StatusCode::BAD_REQUEST,
        "state_expired",
    )
    .await;

    // A replayed code: the same callback twice, cookie and all.
    let mut browser = Browserish::new();
    let callback = world.to_callback(&mut browser, None).await;
    let cookies = browser.cookies.clone();
    assert_eq!(browser.get(&callback).await.status(), StatusCode::FOUND);
    browser.cookies = cookies;
    assert_failure(
        browser.get(&callback).await,
        StatusCode::BAD_REQUEST,
        "code_refused",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_denied_is_a_clear_refusal() {
    let db = TestDb::sqlite();
    let Some(world) = World::start(&db, "consent_denied_is_a_clear_refusal").await else {
        return;
    };
    let mut browser = Browserish::new();
    let callback = world.to_callback(&mut browser, Some("deny")).await;
    assert_eq!(param(&callback, "error").as_deref(), Some("access_denied"));
    assert_failure(
        browser.get(&callback).await,
        StatusCode::FORBIDDEN,
        "access_denied",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_email_links_a_password_account_and_an_unverified_one_does_not() {
    let db = TestDb::sqlite();
    let Some(world) = World::start(&db, "a_verified_email_links_a_password_account").await else {
        return;
    };
    let (_, password_user) = world.a.user("bob@example.org").await;
    let mut browser = Browserish::new();
    let callback = world
        .to_callback(&mut browser, Some("unverified:bob@example.org"))
        .await;
    assert_failure(
        browser.get(&callback).await,
        StatusCode::CONFLICT,
        "unverified_email",
    )
    .await;

    let (token, linked) = world.sign_in(Some("verified:bob@example.org")).await;
    assert_eq!(
        linked["id"],
        password_user.as_str(),
        "linked to the password account"
    );
    assert_eq!(
        me(&world.a, &token).await["user"]["email"],
        "bob@example.org"
    );
    // The password still works too.
    let login = world
        .a
        .login_from("bob@example.org", crate::helpers::PASSWORD, "198.51.100.7")
        .await;
    assert_eq!(login.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_does_not_answer_is_a_clear_timeout_not_a_hang() {
    let db = TestDb::sqlite();
    // Accepts connections (the kernel does) but never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let issuer = format!("http://{}", silent.local_addr().expect("addr"));
    let app = TestApp::spawn_with(&db, |config| {
        config.oauth.provider_timeout_ms = 300;
        config.oauth.providers = vec![ProviderConfig {
            id: "test".into(),
            display_name: "Silent".into(),
            kind: ProviderKind::Oidc,
            issuer: Some(issuer),
            authorize_url: None,
            token_url: None,
            userinfo_url: None,
            client_id: CLIENT_ID.into(),
            client_secret: Some(serde_json::from_value(json!(CLIENT_SECRET)).expect("a secret")),
            client_secret_file: None,
            scopes: Vec::new(),
        }];
    })
    .await;
    let response = app.get("/api/auth/oauth/test/start", None).await;
    assert_failure(
        response,
        StatusCode::GATEWAY_TIMEOUT,
        "provider_unreachable",
    )
    .await;
    let unknown = app.get("/api/auth/oauth/nope/start", None).await;
    assert_failure(unknown, StatusCode::NOT_FOUND, "unknown_provider").await;
}
