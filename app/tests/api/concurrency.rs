//! Several instances on one database: starting together, and uploading together.

use app::startup::Application;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{SMALL_CSV, TestApp, TestDb, db_test, test_config};

/// Builds `n` instances at the same moment on one fresh database.
async fn start_together(db: &TestDb, n: usize) -> Vec<TestApp> {
    shared::telemetry::init_for_tests();
    let builds = (0..n).map(|i| {
        let mut config = test_config(db);
        config.instance_id = Some(format!("instance-{i}"));
        tokio::spawn(Application::build(config))
    });
    join_all(builds)
        .await
        .into_iter()
        .enumerate()
        .map(|(i, joined)| {
            let app = joined
                .expect("build task")
                .unwrap_or_else(|error| panic!("instance {i} failed to start: {error:#}"));
            TestApp::serve(app)
        })
        .collect()
}

async fn three_instances_migrate_one_database_at_once(db: &TestDb) {
    let apps = start_together(db, 3).await;
    for (i, app) in apps.iter().enumerate() {
        let response = app.get("/readyz", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["x-instance"],
            format!("instance-{i}").as_str()
        );
    }
}
db_test!(three_instances_migrate_one_database_at_once);

async fn three_instances_upload_concurrently_without_failures(db: &TestDb) {
    const PER_INSTANCE: usize = 20;
    let apps = start_together(db, 3).await;
    // A token from one instance is good on every other.
    let (token, _) = apps[0].user("ada@example.org").await;
    let uploads = apps.iter().flat_map(|app| {
        let token = token.clone();
        (0..PER_INSTANCE).map(move |n| {
            let token = token.clone();
            async move {
                let response = app
                    .upload_csv(
                        Some(&token),
                        &format!("name=n{n}&visibility=public"),
                        SMALL_CSV,
                    )
                    .await;
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                (status, body)
            }
        })
    });
    let outcomes = join_all(uploads).await;
    let failures: Vec<_> = outcomes
        .iter()
        .filter(|(status, _)| *status != StatusCode::CREATED)
        .collect();
    assert!(failures.is_empty(), "failed uploads: {failures:?}");

    let body: Value = apps[2]
        .get("/api/datasets?limit=100", None)
        .await
        .json()
        .await
        .expect("list");
    assert_eq!(
        body["items"].as_array().expect("items").len(),
        3 * PER_INSTANCE
    );
    let events = app::db::events::since(&apps[1].state.db, 0, 1000)
        .await
        .expect("events");
    assert_eq!(events.len(), 3 * PER_INSTANCE);
}
db_test!(three_instances_upload_concurrently_without_failures);
