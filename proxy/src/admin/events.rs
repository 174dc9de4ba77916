//! `GET /events`: the dashboard's live feed, as server-sent events. A new stream gets one
//! `history` event (five minutes of samples per backend) and then a `snapshot` event per
//! sampler tick; the browser's `EventSource` reconnects by itself (`retry: 2000`).
//!
//! Streams are counted: past `admin.max_event_streams` open at once, a new one is answered
//! 503 with `Retry-After`, so a tab left open everywhere cannot pile up writers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;

use super::Admin;

/// How long a quiet stream waits before a comment line keeps intermediaries from timing it
/// out (the sampler normally writes every second).
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);
/// Seconds a refused client is asked to wait.
const RETRY_AFTER_SECS: &str = "5";
/// The body of a refusal.
const REFUSAL: &[u8] = b"too many event streams\n";

/// The count of open streams and its bound.
#[derive(Debug)]
pub(super) struct Streams {
    open: Arc<AtomicUsize>,
    max: usize,
}

/// One open stream's place in the count; gives it back on drop.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Streams {
    pub(super) fn new(max: usize) -> Self {
        Self {
            open: Arc::default(),
            max,
        }
    }

    fn try_open(&self) -> Option<Slot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.max).then_some(open + 1)
            })
            .ok()
            .map(|_| Slot(self.open.clone()))
    }
}

/// Serves one `/events` request until the client goes away or the proxy shuts down.
pub(super) async fn serve(admin: &Admin, mut session: ServerSession, mut shutdown: ShutdownWatch) {
    let Some(_slot) = admin.streams.try_open() else {
        let _ = write_head(&mut session, 503, true).await;
        let _ = session
            .write_response_body(Bytes::from_static(REFUSAL), true)
            .await;
        let _ = session.finish().await;
        return;
    };
    if write_head(&mut session, 200, false).await.is_err() {
        return;
    }
    let mut updates = admin.history.subscribe();
    let history = serde_json::to_string(&admin.history.backlog()).unwrap_or_else(|_| "{}".into());
    if send(&mut session, "history", &history).await.is_err() {
        return;
    }
    // The latest snapshot at once, so the page fills before the next tick.
    let mut pending = updates.borrow_and_update().clone();
    loop {
        if let Some(snapshot) = pending.take() {
            if send(&mut session, "snapshot", &snapshot).await.is_err() {
                return;
            }
        }
        tokio::select! {
            changed = updates.changed() => {
                if changed.is_err() {
                    return;
                }
                pending = updates.borrow_and_update().clone();
            }
            _ = tokio::time::sleep(KEEP_ALIVE) => {
                if session.write_response_body(Bytes::from_static(b": keep-alive\n\n"), false).await.is_err() {
                    return;
                }
            }
            _ = shutdown.changed() => {
                let _ = session.write_response_body(Bytes::new(), true).await;
                return;
            }
        }
    }
}

async fn write_head(
    session: &mut ServerSession,
    status: u16,
    refused: bool,
) -> pingora::Result<()> {
    let mut head = ResponseHeader::build(status, Some(5))?;
    if refused {
        head.insert_header("content-type", "text/plain; charset=utf-8")?;
        head.insert_header("retry-after", RETRY_AFTER_SECS)?;
        head.insert_header("content-length", REFUSAL.len().to_string())?;
    } else {
        head.insert_header("content-type", "text/event-stream")?;
        head.insert_header("cache-control", "no-store")?;
        head.insert_header("transfer-encoding", "chunked")?;
        head.insert_header("x-content-type-options", "nosniff")?;
    }
    session.set_keepalive(None);
    session.write_response_header(Box::new(head)).await
}

/// Writes one event; `data` is one line of JSON.
async fn send(session: &mut ServerSession, event: &str, data: &str) -> pingora::Result<()> {
    let mut frame = String::with_capacity(data.len() + event.len() + 32);
    frame.push_str("retry: 2000\nevent: ");
    frame.push_str(event);
    frame.push_str("\ndata: ");
    frame.push_str(data);
    frame.push_str("\n\n");
    session.write_response_body(Bytes::from(frame), false).await
}
