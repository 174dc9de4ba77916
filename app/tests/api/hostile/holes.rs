//! Smaller holes: deleted accounts, file modes, response headers, NUL bytes, placeholder
//! secrets.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use reqwest::StatusCode;

use crate::helpers::{SMALL_CSV, TestApp, TestDb, db_test, error_body};

async fn a_token_for_a_deleted_account_is_401(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (token, id) = app.user("gone@example.org").await;
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(&id)
        .execute(app.state.db.pool())
        .await
        .expect("delete the account");
    let response = app.upload_csv(Some(&token), "name=orphan", SMALL_CSV).await;
    let error = error_body(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(error["code"], "invalid_token");
    assert_eq!(
        app.get("/api/auth/me", Some(&token)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}
db_test!(a_token_for_a_deleted_account_is_401);

async fn nul_bytes_are_422_never_500(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (token, _) = app.user("ada@example.org").await;
    let response = app
        .register("nul\0@example.org", "long enough password")
        .await;
    let error = error_body(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(error["fields"]["email"].is_string(), "{error}");
    let response = app
        .login_from("nul\0@example.org", "long enough password", "203.0.113.4")
        .await;
    error_body(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let response = app.upload_csv(Some(&token), "name=a%00b", SMALL_CSV).await;
    let error = error_body(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(error["fields"]["name"].is_string(), "{error}");
    for path in ["/api/datasets/a%00b", "/api/datasets/%00"] {
        assert_eq!(app.get(path, None).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            app.delete(path, Some(&token)).await.status(),
            StatusCode::NOT_FOUND
        );
    }
}
db_test!(nul_bytes_are_422_never_500);

/// Starts the app on `db`, writes a dataset, and checks the SQLite directory is 0700 and
/// its files 0600.
async fn assert_sqlite_files_private(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (token, _) = app.user("ada@example.org").await;
    app.public_dataset(&token, "written").await;
    let file = std::path::PathBuf::from(db.url().trim_start_matches("sqlite://"));
    let dir = file.parent().expect("a directory");
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    for suffix in ["", "-wal", "-shm"] {
        let path = std::path::PathBuf::from(format!("{}{suffix}", file.display()));
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_files_are_private_to_the_user() {
    assert_sqlite_files_private(&TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_open_data_directory_is_made_private() {
    let db = TestDb::sqlite();
    let file = std::path::PathBuf::from(db.url().trim_start_matches("sqlite://"));
    let dir = file.parent().expect("a directory");
    std::fs::create_dir_all(dir).expect("create the directory");
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    assert_eq!(mode(dir), 0o755);
    assert_sqlite_files_private(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_responses_are_not_sniffed_or_framed_and_pages_keep_their_policy() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(&db).await;
    for path in ["/api/datasets", "/api/auth/me", "/api/nothing-here"] {
        let response = app.get(path, None).await;
        let headers = response.headers();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap_or_default()
                .starts_with("application/json"),
            "{path}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(
            headers["content-security-policy"], "default-src 'none'; frame-ancestors 'none'",
            "{path}"
        );
    }
    let page = app.get("/", None).await;
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii");
    assert!(policy.contains("script-src 'self'"), "{policy}");
}

#[tokio::test]
async fn an_answer_before_the_body_is_read_closes_the_connection() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(&db).await;
    // Refused from its head (no token): the body is never read.
    let refused = app.upload_csv(None, "name=early", SMALL_CSV).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..]),
        "a pooled connection must not outlive an unread body"
    );
    // Read to its end: the connection stays open for the next request.
    let registered = app
        .register("kept@example.org", "a long enough password")
        .await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    assert!(registered.headers().get("connection").is_none());
}

#[test]
fn the_placeholder_secret_is_refused_naming_the_variable() {
    let db = TestDb::sqlite();
    for secret in [
        "CHANGE-ME-to-a-long-random-string",
        "0123456789-abcdef-change-me-0123456789-abcdef",
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_app"))
            .env("JWT_SECRET", secret)
            .env("DATABASE_URL", db.url())
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("run app");
        assert!(!output.status.success(), "{secret} must be refused");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("JWT_SECRET"), "{stderr}");
        assert!(stderr.contains("CHANGE-ME"), "{stderr}");
        assert!(
            !stderr.contains(secret),
            "the secret is never printed: {stderr}"
        );
    }
}
