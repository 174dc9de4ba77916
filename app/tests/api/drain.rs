//! Graceful drain: `/readyz` fails at once, serving continues through the drain period,
//! in-flight requests finish, then the server returns.

use std::time::Duration;

use reqwest::StatusCode;
use shared::testing::wait_until;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::helpers::{DEADLINE, TestApp, TestDb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_fails_readiness_then_finishes_in_flight_requests() {
    let db = TestDb::sqlite();
    let mut app = TestApp::spawn_with(&db, |config| config.drain_secs = 1).await;
    let (token, _) = app.user("ada@example.org").await;

    // A request first, so the client holds an accepted keep-alive connection that the
    // upload then reuses: the server is reading the upload before the drain begins.
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);

    // An upload whose body is still arriving when the drain starts.
    let (chunks, body) = mpsc::channel::<Result<String, std::io::Error>>(4);
    chunks
        .send(Ok("city,population\n".to_owned()))
        .await
        .expect("first chunk");
    let upload = {
        let request = app
            .client
            .post(app.url("/api/datasets?name=slow&visibility=public"))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body(reqwest::Body::wrap_stream(ReceiverStream::new(body)));
        tokio::spawn(request.send())
    };

    let addr = app.addr;
    let server = app.begin_shutdown();

    // Readiness fails at once, while the instance still serves.
    wait_until("/readyz to answer 503", Duration::from_secs(1), || async {
        (shared::testing::get_status(addr, "/readyz").await.ok() == Some(503)).then_some(())
    })
    .await
    .expect("readyz 503 during the drain");
    assert_eq!(
        shared::testing::get_status(addr, "/healthz")
            .await
            .expect("healthz"),
        200,
        "still serving during the drain period"
    );

    // After the drain period the listener closes, but the upload is still open.
    wait_until("the listener to close", DEADLINE, || async {
        tokio::net::TcpStream::connect(addr).await.err().map(|_| ())
    })
    .await
    .expect("listener closed after the drain period");
    assert!(
        !server.is_finished(),
        "the server waits for the in-flight upload"
    );

    chunks
        .send(Ok("Lisbon,545000\n".to_owned()))
        .await
        .expect("last chunk");
    drop(chunks);
    let response = upload.await.expect("join").expect("upload response");
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["connection"], "close");
    // The proxy reads this as "stop sending here" before any readiness check runs.
    assert_eq!(response.headers()[shared::shutdown::DRAINING_HEADER], "1");

    let result = tokio::time::timeout(DEADLINE, server)
        .await
        .expect("the server returns after in-flight work")
        .expect("join");
    assert!(result.is_ok(), "{result:?}");
}
