//! Live events over SSE and WebSocket: delivery, visibility, resumption, fan-out across
//! instances, and ending on drain.

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{DEADLINE, SMALL_CSV, TestApp, TestDb, db_test};

/// One parsed SSE frame.
#[derive(Debug, Default)]
struct Frame {
    id: Option<i64>,
    event: Option<String>,
    data: Option<Value>,
    comments: Vec<String>,
    retry_ms: Option<u64>,
}

/// An open `GET /api/events` response, read frame by frame.
struct SseClient {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl SseClient {
    async fn open(app: &TestApp, token: Option<&str>, last_event_id: Option<i64>) -> Self {
        let response = open_events(app, token, last_event_id).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "SSE content type"
        );
        assert_eq!(response.headers()["cache-control"], "no-store");
        Self {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next frame, or `None` when the server ended the stream.
    async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                return Some(parse(&raw));
            }
            let chunk = tokio::time::timeout(DEADLINE, self.body.next())
                .await
                .expect("a frame within the deadline")?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk.expect("stream chunk")).expect("utf-8"));
        }
    }

    /// The next frame that carries an event, skipping comments and hints.
    async fn next_event(&mut self) -> Frame {
        loop {
            let frame = self.next_frame().await.expect("the stream stays open");
            if frame.event.is_some() {
                return frame;
            }
        }
    }
}

async fn open_events(
    app: &TestApp,
    token: Option<&str>,
    last_event_id: Option<i64>,
) -> reqwest::Response {
    let mut request = app.client.get(app.url("/api/events"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(seq) = last_event_id {
        request = request.header("last-event-id", seq.to_string());
    }
    request.send().await.expect("GET /api/events")
}

fn parse(raw: &str) -> Frame {
    let mut frame = Frame::default();
    for line in raw.lines() {
        if let Some(comment) = line.strip_prefix(':') {
            frame.comments.push(comment.trim().to_owned());
        } else if let Some((field, value)) = line.split_once(':') {
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => frame.id = Some(value.parse().expect("numeric id")),
                "event" => frame.event = Some(value.to_owned()),
                "data" => frame.data = Some(serde_json::from_str(value).expect("JSON data")),
                "retry" => frame.retry_ms = Some(value.parse().expect("numeric retry")),
                _ => {}
            }
        }
    }
    frame
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

async fn a_stream_starts_with_a_retry_hint_and_carries_new_events(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (ada, _) = app.user("ada@example.org").await;
    let mut stream = SseClient::open(&app, None, None).await;

    let first = stream.next_frame().await.expect("a first frame");
    assert_eq!(first.retry_ms, Some(2000), "{first:?}");

    let id = upload(&app, &ada, "rainfall", "public").await;
    let frame = stream.next_event().await;
    assert_eq!(frame.event.as_deref(), Some("dataset.created"));
    let data = frame.data.expect("data");
    assert_eq!(data["kind"], "dataset.created");
    assert_eq!(data["dataset"]["id"], id.as_str());
    assert_eq!(data["dataset"]["name"], "rainfall");
    assert_eq!(Some(data["seq"].as_i64().expect("seq")), frame.id);

    let response = app.delete(&format!("/api/datasets/{id}"), Some(&ada)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let deleted = stream.next_event().await;
    assert_eq!(deleted.event.as_deref(), Some("dataset.deleted"));
    assert!(deleted.id > frame.id);
}
db_test!(a_stream_starts_with_a_retry_hint_and_carries_new_events);

async fn private_events_reach_only_their_owner(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (ada, _) = app.user("ada@example.org").await;
    let (bob, _) = app.user("bob@example.org").await;
    let mut anonymous = SseClient::open(&app, None, None).await;
    let mut bobs = SseClient::open(&app, Some(&bob), None).await;
    let mut adas = SseClient::open(&app, Some(&ada), None).await;

    let private = upload(&app, &ada, "diary", "private").await;
    let public = upload(&app, &ada, "census", "public").await;

    for stream in [&mut anonymous, &mut bobs] {
        let frame = stream.next_event().await;
        assert_eq!(frame.data.expect("data")["dataset"]["id"], public.as_str());
    }
    let first = adas.next_event().await;
    let second = adas.next_event().await;
    assert_eq!(first.data.expect("data")["dataset"]["id"], private.as_str());
    assert_eq!(second.data.expect("data")["dataset"]["id"], public.as_str());
}
db_test!(private_events_reach_only_their_owner);

async fn resuming_after_last_event_id_loses_and_repeats_nothing(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (ada, _) = app.user("ada@example.org").await;
    let mut first_stream = SseClient::open(&app, None, None).await;
    let ids = [
        upload(&app, &ada, "one", "public").await,
        upload(&app, &ada, "two", "public").await,
        upload(&app, &ada, "three", "public").await,
    ];
    let seen = first_stream.next_event().await;
    assert_eq!(
        seen.data.as_ref().expect("data")["dataset"]["id"],
        ids[0].as_str()
    );
    drop(first_stream);

    // The client lost its connection after the first event and resumes from it.
    let mut resumed = SseClient::open(&app, None, seen.id).await;
    let two = resumed.next_event().await;
    let three = resumed.next_event().await;
    assert_eq!(two.data.expect("data")["dataset"]["id"], ids[1].as_str());
    assert_eq!(three.data.expect("data")["dataset"]["id"], ids[2].as_str());

    let four = upload(&app, &ada, "four", "public").await;
    let next = resumed.next_event().await;
    assert_eq!(next.data.expect("data")["dataset"]["id"], four.as_str());
    assert!(next.id > three.id);
}
db_test!(resuming_after_last_event_id_loses_and_repeats_nothing);

async fn an_event_on_one_instance_reaches_a_stream_on_another(db: &TestDb) {
    let a = TestApp::spawn(db).await;
    let b = TestApp::spawn(db).await;
    let (ada, _) = a.user("ada@example.org").await;
    let mut on_b = SseClient::open(&b, None, None).await;

    let id = upload(&a, &ada, "shared", "public").await;

    let frame = on_b.next_event().await;
    assert_eq!(frame.data.expect("data")["dataset"]["id"], id.as_str());
}
db_test!(an_event_on_one_instance_reaches_a_stream_on_another);

async fn a_websocket_carries_the_same_events_and_resumes_with_since(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let (ada, _) = app.user("ada@example.org").await;
    let first = upload(&app, &ada, "before", "public").await;

    let url = format!("ws://{}/api/ws?since=0", app.addr);
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let backlog = next_text(&mut socket).await;
    assert_eq!(backlog["dataset"]["id"], first.as_str());

    let second = upload(&app, &ada, "after", "public").await;
    let live = next_text(&mut socket).await;
    assert_eq!(live["kind"], "dataset.created");
    assert_eq!(live["dataset"]["id"], second.as_str());
    assert!(live["seq"].as_i64() > backlog["seq"].as_i64());
}
db_test!(a_websocket_carries_the_same_events_and_resumes_with_since);

async fn next_text<S>(socket: &mut S) -> Value
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let message = tokio::time::timeout(DEADLINE, socket.next())
            .await
            .expect("a message within the deadline")
            .expect("socket open")
            .expect("message");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).expect("JSON event");
        }
    }
}

async fn draining_ends_streams_and_sends_new_ones_elsewhere(db: &TestDb) {
    let mut app = TestApp::spawn_with(db, |config| config.drain_secs = 3).await;
    let mut stream = SseClient::open(&app, None, None).await;
    let _hint = stream.next_frame().await.expect("hint");
    let metrics = app
        .get("/metrics", None)
        .await
        .text()
        .await
        .expect("metrics");
    assert!(
        metrics.contains("app_live_clients{transport=\"sse\"} 1"),
        "{metrics}"
    );

    let server = app.begin_shutdown();

    // The open stream ends, so its client reconnects through the proxy to another instance.
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while stream.next_frame().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the stream ended when the drain began");
    // A new stream during the drain is refused with a retryable 503.
    let refused = open_events(&app, None, None).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.expect("error body");
    assert_eq!(body["error"]["code"], "draining");

    tokio::time::timeout(DEADLINE, server)
        .await
        .expect("the server stops after the drain")
        .expect("server task")
        .expect("clean stop");
}
db_test!(draining_ends_streams_and_sends_new_ones_elsewhere);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_stream_gets_a_heartbeat_comment() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn_with(&db, |config| config.heartbeat_interval_ms = 1_000).await;
    let mut stream = SseClient::open(&app, None, None).await;
    let started = std::time::Instant::now();
    loop {
        let frame = stream.next_frame().await.expect("the stream stays open");
        if frame.comments.iter().any(|comment| comment == "ping") {
            break;
        }
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited <= Duration::from_secs(5),
        "heartbeat after {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_last_event_id_is_a_bad_request() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(&db).await;
    let response = app
        .client
        .get(app.url("/api/events"))
        .header("last-event-id", "yesterday")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}
