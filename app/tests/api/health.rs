//! `/healthz`, `/readyz`, `/metrics`, and what every response carries.

use reqwest::StatusCode;
use serde_json::Value;
use shared::metrics::names;

use crate::helpers::{TestApp, TestDb, db_test, error_body};

async fn health_ready_and_metrics(db: &TestDb) {
    let app = TestApp::spawn(db).await;

    let response = app.get("/healthz", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-instance"], "test-instance");

    let response = app.get("/readyz", None).await;
    assert_eq!(response.status(), StatusCode::OK);

    let response = app.get("/metrics", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("metrics text");
    for expected in [
        format!(
            r#"{}{{method="GET",route="/healthz",status="200"}} 1"#,
            names::APP_HTTP_REQUESTS_TOTAL
        ),
        format!(
            r#"{}_count{{method="GET",route="/readyz"}} 1"#,
            names::APP_HTTP_REQUEST_DURATION_SECONDS
        ),
        format!(r#"{}{{state="idle"}}"#, names::APP_DB_POOL_CONNECTIONS),
        format!(r#"{}{{state="in_use"}}"#, names::APP_DB_POOL_CONNECTIONS),
        format!("{} 0", names::APP_DATASETS_ANALYSED_TOTAL),
        format!("{} 0", names::APP_ANALYSIS_ROWS_TOTAL),
        names::PROCESS_RESIDENT_MEMORY_BYTES.to_owned(),
    ] {
        assert!(text.contains(&expected), "{expected} missing from:\n{text}");
    }
}
db_test!(health_ready_and_metrics);

async fn readyz_fails_when_the_database_is_gone(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    app.state.db.close().await;
    let response = app.get("/readyz", None).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
}
db_test!(readyz_fails_when_the_database_is_gone);

#[tokio::test]
async fn unknown_routes_are_json_404s_with_instance_and_request_id() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(&db).await;
    let response = app.get("/no/such/thing", None).await;
    assert_eq!(response.headers()["x-instance"], "test-instance");
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(uuid::Uuid::parse_str(&request_id).is_ok(), "{request_id}");
    let error = error_body(response, StatusCode::NOT_FOUND).await;
    assert_eq!(error["code"], "not_found");

    let text = app
        .get("/metrics", None)
        .await
        .text()
        .await
        .expect("metrics");
    let unmatched = format!(
        r#"{}{{method="GET",route="unmatched",status="404"}} 1"#,
        names::APP_HTTP_REQUESTS_TOTAL
    );
    assert!(text.contains(&unmatched), "{unmatched} missing:\n{text}");
    assert!(
        !text.contains("/no/such/thing"),
        "raw paths must not be labels"
    );
}

#[tokio::test]
async fn a_valid_request_id_is_kept_and_a_bad_one_replaced() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(&db).await;
    let kept = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "edge-42.a_b")
        .send()
        .await
        .expect("GET");
    assert_eq!(kept.headers()["x-request-id"], "edge-42.a_b");

    let replaced = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "has spaces and \"quotes\"")
        .send()
        .await
        .expect("GET");
    let id = replaced.headers()["x-request-id"].to_str().expect("ascii");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}

#[tokio::test]
async fn errors_never_leak_internals_and_carry_the_instance() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(&db).await;
    let (token, _) = app.user("ada@example.org").await;
    // With the pool closed every query fails; the client must see a bare 5xx.
    app.state.db.close().await;
    let response = app.get("/api/auth/me", Some(&token)).await;
    assert!(response.status().is_server_error(), "{}", response.status());
    assert_eq!(response.headers()["x-instance"], "test-instance");
    let body: Value = response.json().await.expect("JSON");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(!message.to_lowercase().contains("pool"), "{message}");
    assert!(!message.to_lowercase().contains("sql"), "{message}");
}
