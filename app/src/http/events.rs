//! Live events over Server-Sent Events (`GET /api/events`) and WebSocket (`GET /api/ws`),
//! and by long polling (`GET /api/events/poll`, in [`poll`]) where a stream cannot pass.
//!
//! Both carry the same JSON per event (see [`realtime::event_json`]). SSE frames carry the
//! event's `seq` as `id:` and its kind as `event:`, start with a `retry:` hint, and get a
//! `: ping` comment every `heartbeat_interval_ms` so idle connections stay open through proxies. A
//! client resumes with `Last-Event-ID` (SSE) or `?since=` (either transport); without one
//! it starts from now. Anonymous streams carry public datasets' events; a bearer token adds
//! the caller's private ones. When the instance drains, streams end and new ones get 503,
//! so clients reconnect to an instance that is staying up.

mod poll;

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::Stream;
use http::{HeaderMap, HeaderValue, header};
use serde::Deserialize;

use super::extract::{MaybeAuthUser, Query};
use super::{Error, Result};
use crate::realtime::{self, Subscription, Transport};
use crate::state::AppState;

/// The reconnection delay suggested to SSE clients.
const RETRY_HINT: Duration = Duration::from_secs(2);
/// WebSocket close code 1001: the server is going away.
const GOING_AWAY: u16 = 1001;

/// The live-event routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/events", get(sse))
        .route("/api/ws", get(websocket))
        .route("/api/events/poll", get(poll::poll))
}

/// Where to resume from, for clients that cannot send `Last-Event-ID`.
#[derive(Debug, Deserialize)]
struct Resume {
    since: Option<i64>,
}

/// `GET /api/events`
async fn sse(
    State(state): State<AppState>,
    user: MaybeAuthUser,
    Query(resume): Query<Resume>,
    headers: HeaderMap,
) -> Result<Response> {
    let after = match last_event_id(&headers)? {
        Some(seq) => Some(seq),
        None => resume.since,
    };
    let subscription = subscribe(&state, user, after, Transport::Sse)?;
    let mut response = Sse::new(sse_stream(subscription))
        .keep_alive(
            KeepAlive::new()
                .interval(state.config.heartbeat_interval())
                .text("ping"),
        )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Tells buffering intermediaries (nginx among them) to pass events through at once.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// `GET /api/ws`
async fn websocket(
    State(state): State<AppState>,
    user: MaybeAuthUser,
    Query(resume): Query<Resume>,
    upgrade: WebSocketUpgrade,
) -> Result<Response> {
    let subscription = subscribe(&state, user, resume.since, Transport::WebSocket)?;
    let heartbeat = state.config.heartbeat_interval();
    Ok(upgrade.on_upgrade(move |socket| pump(socket, subscription, heartbeat)))
}

fn subscribe(
    state: &AppState,
    user: MaybeAuthUser,
    after: Option<i64>,
    transport: Transport,
) -> Result<Subscription> {
    if state.draining.is_cancelled() {
        return Err(Error::Draining);
    }
    let after = after.unwrap_or_else(|| state.hub.latest());
    Ok(state
        .hub
        .subscribe(user.0.map(|user| user.id), after, transport))
}

/// The `Last-Event-ID` header as a sequence number; an unparseable one is a 400.
fn last_event_id(headers: &HeaderMap) -> Result<Option<i64>> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse::<i64>().ok())
        .filter(|seq| *seq >= 0)
        .map(Some)
        .ok_or_else(|| Error::BadRequest("Last-Event-ID must be an event sequence number".into()))
}

fn sse_stream(
    subscription: Subscription,
) -> impl Stream<Item = std::result::Result<SseEvent, Infallible>> {
    let hint = SseEvent::default().retry(RETRY_HINT).comment("connected");
    let events = futures::stream::unfold(Some(subscription), |subscription| async move {
        let mut subscription = subscription?;
        match subscription.next_batch().await? {
            Ok(batch) => {
                let frames: Vec<_> = batch
                    .iter()
                    .map(|event| {
                        Ok(SseEvent::default()
                            .id(event.seq.to_string())
                            .event(event.kind.as_str())
                            .data(realtime::event_json(event)))
                    })
                    .collect();
                Some((futures::stream::iter(frames), Some(subscription)))
            }
            Err(error) => {
                // Ending the stream makes the client reconnect and resume from its last id.
                tracing::warn!(%error, "live event stream could not read events; ending it");
                None
            }
        }
    });
    futures::stream::once(async move { Ok(hint) }).chain(futures::StreamExt::flatten(events))
}

use futures::StreamExt as _;

/// Sends events as text messages and pings while idle, until either side ends it.
async fn pump(mut socket: WebSocket, mut subscription: Subscription, heartbeat: Duration) {
    let mut heartbeat = tokio::time::interval(heartbeat);
    heartbeat.tick().await;
    loop {
        tokio::select! {
            batch = subscription.next_batch() => match batch {
                Some(Ok(batch)) => {
                    for event in &batch {
                        let text = realtime::event_json(event);
                        if socket.send(Message::Text(text.into())).await.is_err() {
                            return;
                        }
                    }
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "live event socket could not read events; closing it");
                    let _ = socket.send(close(1011, "cannot read events")).await;
                    return;
                }
                None => {
                    let _ = socket.send(close(GOING_AWAY, "instance draining; reconnect")).await;
                    return;
                }
            },
            message = socket.recv() => match message {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
            _ = heartbeat.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}
