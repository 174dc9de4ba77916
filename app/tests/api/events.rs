//! The change log: every create and delete leaves one event, written with the change.

use app::db::datasets::Visibility;
use app::db::events::{self, EventKind};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{SMALL_CSV, TestApp, TestDb, db_test};

async fn changes_are_recorded_as_events_in_order(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (ada, ada_id) = app.user("ada@example.org").await;
    assert_eq!(events::last_seq(&app.state.db).await.expect("seq"), 0);

    let public = app.public_dataset(&ada, "shared").await;
    let private: Value = app
        .upload_csv(Some(&ada), "name=mine", SMALL_CSV)
        .await
        .json()
        .await
        .expect("body");
    let public_id = public["id"].as_str().expect("id");
    let response = app
        .delete(&format!("/api/datasets/{public_id}"), Some(&ada))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let all = events::since(&app.state.db, 0, 100).await.expect("events");
    let kinds: Vec<_> = all.iter().map(|event| event.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::DatasetCreated,
            EventKind::DatasetCreated,
            EventKind::DatasetDeleted
        ]
    );
    assert!(
        all.windows(2).all(|pair| pair[0].seq < pair[1].seq),
        "{all:?}"
    );
    assert_eq!(all[0].dataset_id, public_id);
    assert_eq!(all[0].owner_id, ada_id);
    assert_eq!(all[0].visibility, Visibility::Public);
    assert_eq!(all[1].visibility, Visibility::Private);
    assert_eq!(all[2].dataset_id, public_id);

    // The payload is the summary the list shows.
    let payload: Value = serde_json::from_str(&all[1].payload).expect("JSON payload");
    assert_eq!(payload["id"], private["id"]);
    assert_eq!(payload["name"], "mine");
    assert_eq!(payload["rows"], 2);
    assert!(payload.get("analysis").is_none());

    // Private events reach only their owner.
    assert!(all[1].visible_to(Some(&ada_id)));
    assert!(!all[1].visible_to(None));
    assert!(!all[1].visible_to(Some("someone-else")));
    assert!(all[0].visible_to(None));

    // Reading after a sequence number resumes exactly there.
    let after_first = events::since(&app.state.db, all[0].seq, 100)
        .await
        .expect("events");
    assert_eq!(after_first, all[1..].to_vec());
    let limited = events::since(&app.state.db, 0, 1).await.expect("events");
    assert_eq!(limited, all[..1].to_vec());
    assert_eq!(
        events::last_seq(&app.state.db).await.expect("seq"),
        all[2].seq
    );
}
db_test!(changes_are_recorded_as_events_in_order);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_notifies_each_event_with_its_seq() {
    let Some(db) = TestDb::postgres().await else {
        shared::testing::skip(
            shared::testing::Component::Postgres,
            "postgres_notifies_each_event_with_its_seq",
            "TEST_DATABASE_URL is not set",
        );
        return;
    };
    let app = TestApp::spawn(&db).await;
    let mut listener = sqlx::postgres::PgListener::connect(db.url())
        .await
        .expect("listen connection");
    listener.listen("flotilla_events").await.expect("LISTEN");
    let (token, _) = app.user("ada@example.org").await;
    app.public_dataset(&token, "noticed").await;

    let notification = tokio::time::timeout(crate::helpers::DEADLINE, listener.recv())
        .await
        .expect("a notification in time")
        .expect("a notification");
    let seq = events::last_seq(&app.state.db).await.expect("seq");
    assert_eq!(notification.payload(), seq.to_string());
}
