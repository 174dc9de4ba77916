//! Live events by long polling: the same events as the stream, across instances, woken by
//! a change, bounded per instance.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{DEADLINE, SMALL_CSV, TestApp, TestDb, db_test, error_body};

async fn poll(app: &TestApp, query: &str, token: Option<&str>) -> reqwest::Response {
    app.get(&format!("/api/events/poll?{query}"), token).await
}

async fn poll_json(app: &TestApp, query: &str, token: Option<&str>) -> Value {
    let response = poll(app, query, token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.expect("poll body")
}

async fn upload(app: &TestApp, token: &str, name: &str, visibility: &str) -> String {
    let response = app
        .upload_csv(
            Some(token),
            &format!("name={name}&visibility={visibility}"),
            SMALL_CSV,
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("dataset");
    body["id"].as_str().expect("id").to_owned()
}

async fn a_poll_returns_events_written_on_another_instance(db: &TestDb) {
    let a = TestApp::spawn(db).await;
    let b = TestApp::spawn(db).await;
    let (ada, _) = a.user("ada@example.org").await;
    let id = upload(&a, &ada, "rainfall", "public").await;

    let body = poll_json(&b, "since=0&wait_ms=10000", None).await;
    let events = body["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{body}");
    assert_eq!(events[0]["kind"], "dataset.created");
    assert_eq!(events[0]["dataset"]["id"], id.as_str());
    assert_eq!(body["next"], events[0]["seq"]);

    // Asking again from `next` waits, then answers with nothing new.
    let next = body["next"].as_i64().expect("next");
    let again = poll_json(&b, &format!("since={next}&wait_ms=200"), None).await;
    assert_eq!(again["events"], Value::Array(Vec::new()));
    assert_eq!(again["next"], next);
}
db_test!(a_poll_returns_events_written_on_another_instance);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_now_skips_the_past() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(&db).await;
    let (ada, _) = app.user("ada@example.org").await;
    upload(&app, &ada, "old news", "public").await;
    let seq = app::db::events::last_seq(&app.state.db).await.expect("seq");
    let deadline = Instant::now() + DEADLINE;
    while app.state.hub.latest() < seq {
        assert!(
            Instant::now() < deadline,
            "the instance never learnt of {seq}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let body = poll_json(&app, "since=now&wait_ms=100", None).await;
    assert_eq!(body["events"], Value::Array(Vec::new()));
    assert_eq!(body["next"], seq);
}

async fn a_waiting_poll_wakes_within_a_second_of_an_event(db: &TestDb) {
    let a = TestApp::spawn(db).await;
    let b = TestApp::spawn(db).await;
    let (ada, _) = a.user("ada@example.org").await;
    let waiting = {
        let client = b.client.clone();
        let url = b.url("/api/events/poll?since=0&wait_ms=30000");
        tokio::spawn(async move { client.get(url).send().await.expect("poll") })
    };
    wait_for_polls(&b, 1).await;
    upload(&a, &ada, "rainfall", "public").await;
    let committed = Instant::now();
    let response = tokio::time::timeout(DEADLINE, waiting)
        .await
        .expect("the poll answers")
        .expect("poll task");
    let woke_after = committed.elapsed();
    let body: Value = response.json().await.expect("body");
    assert_eq!(body["events"].as_array().map(Vec::len), Some(1), "{body}");
    assert!(
        woke_after < Duration::from_secs(1),
        "the poll answered {woke_after:?} after the event"
    );
}
db_test!(a_waiting_poll_wakes_within_a_second_of_an_event);

async fn private_events_reach_only_their_owner_but_move_everyone_on(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (ada, _) = app.user("ada@example.org").await;
    upload(&app, &ada, "diary", "private").await;
    let seq = app::db::events::last_seq(&app.state.db).await.expect("seq");

    let mine = poll_json(&app, "since=0&wait_ms=5000", Some(&ada)).await;
    assert_eq!(mine["events"][0]["dataset"]["name"], "diary");
    let anonymous = poll_json(&app, "since=0&wait_ms=200", None).await;
    assert_eq!(anonymous["events"], Value::Array(Vec::new()));
    assert_eq!(
        anonymous["next"], seq,
        "the cursor moves past what is hidden"
    );
}
db_test!(private_events_reach_only_their_owner_but_move_everyone_on);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_is_required_and_a_bad_one_is_a_bad_request() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(&db).await;
    for query in [
        "",
        "since=",
        "since=-3",
        "since=soon",
        "since=1&wait_ms=later",
    ] {
        let body = error_body(poll(&app, query, None).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(body["code"], "bad_request", "{query}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_beyond_the_limit_get_503_with_retry_after() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn_with(&db, |config| config.max_concurrent_polls = 1).await;
    let holding = {
        let client = app.client.clone();
        let url = app.url("/api/events/poll?since=0&wait_ms=30000");
        tokio::spawn(async move { client.get(url).send().await.expect("poll") })
    };
    wait_for_polls(&app, 1).await;

    let response = poll(&app, "since=0&wait_ms=100", None).await;
    assert_eq!(response.headers()["retry-after"], "1");
    let body = error_body(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["code"], "busy");
    holding.abort();
}

/// Waits until `count` polls are holding on `app`.
async fn wait_for_polls(app: &TestApp, count: usize) {
    let limit = app.state.config.max_concurrent_polls;
    let deadline = Instant::now() + DEADLINE;
    while limit - app.state.polls.available_permits() < count {
        assert!(
            Instant::now() < deadline,
            "{count} polls never started waiting"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
