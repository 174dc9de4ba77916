//! A thin layer between Pingora's listener and the proxy app, per client connection.
//!
//! - Admission: past `limits.max_connections`, or `limits.max_connections_per_ip` from one
//!   address, a new connection is answered 503 with `Retry-After` and closed, and counted
//!   in `proxy_connections_rejected_total{reason}`.
//! - Deadlines: every request head must arrive whole within `timeouts.client_header_ms`
//!   of its first byte (slowloris), and a keep-alive connection with no request in
//!   progress is closed after `timeouts.client_idle_ms`. Pingora's own timeouts are per
//!   `read()`, so a client trickling one byte at a time would never hit them.
//! - The stream is wrapped ([`stream::Watched`]) so the watchdog sees when a head begins
//!   and a request can put a deadline on the connection's reads.

mod stream;
mod tracker;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::{ALPN, Stream};
use pingora::server::ShutdownWatch;
use prometheus::{IntCounterVec, IntGauge};
use tokio::io::AsyncWriteExt;

pub use tracker::{ConnState, ConnectionTracker};

use self::stream::Watched;
use self::tracker::{Phase, Refusal};
use super::https::{ListenerPolicy, Listeners};
use crate::routing::SharedLive;

/// How long a refused client gets to take its 503 before the connection is dropped.
const REFUSAL_WRITE: Duration = Duration::from_secs(1);

/// Wraps the proxy app; see the module docs.
pub struct Front<A> {
    inner: Arc<A>,
    tracker: Arc<ConnectionTracker>,
    live: SharedLive,
    /// For the HSTS header on a refusal sent over a TLS listener that sets one.
    listeners: Arc<Listeners>,
    open_connections: IntGauge,
    rejected: IntCounterVec,
    client_faults: IntCounterVec,
}

impl<A> Front<A> {
    /// Wraps `inner` for the public `listeners`; `open_connections`, `rejected`
    /// (connections refused at accept) and `client_faults` (connections closed by a
    /// deadline) are the metrics it keeps.
    pub fn new(
        inner: A,
        tracker: Arc<ConnectionTracker>,
        live: SharedLive,
        listeners: Arc<Listeners>,
        open_connections: IntGauge,
        rejected: IntCounterVec,
        client_faults: IntCounterVec,
    ) -> Self {
        Self {
            inner: Arc::new(inner),
            tracker,
            live,
            listeners,
            open_connections,
            rejected,
            client_faults,
        }
    }
}

/// Decrements the gauge when the connection ends, however it ends.
struct Open<'a>(&'a IntGauge);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[async_trait]
impl<A> ServerApp for Front<A>
where
    A: ServerApp + Send + Sync + 'static,
{
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let digest = stream.get_socket_digest();
        let client = digest
            .as_ref()
            .and_then(|digest| digest.peer_addr().and_then(|a| a.as_inet()).copied());
        let Some(client) = client else {
            return self.inner.process_new(stream, shutdown).await;
        };
        let live = self.live.load_full();
        let admitted = match self.tracker.admit(client, &live.limits) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                self.rejected.with_label_values(&[refusal.label()]).inc();
                tracing::debug!(%client, reason = refusal.label(), "connection refused");
                let local = digest.and_then(|d| d.local_addr().and_then(|a| a.as_inet()).copied());
                let policy = self.listeners.policy_for(local);
                let hsts = policy.as_deref().and_then(ListenerPolicy::hsts);
                refuse(stream, refusal, hsts).await;
                return None;
            }
        };
        self.open_connections.inc();
        let _open = Open(&self.open_connections);
        let state = admitted.state.clone();
        if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
            state.set_multiplexed();
        }
        let work = self
            .inner
            .process_new(Box::new(Watched::new(stream, state.clone())), shutdown);
        tokio::pin!(work);
        loop {
            let (phase, since) = state.phase();
            let timeouts = &self.live.load().timeouts;
            let limit = match phase {
                Phase::Head => Some(timeouts.client_header()),
                Phase::Idle => Some(timeouts.client_idle()),
                Phase::Request => None,
            };
            let expiry = async {
                match limit {
                    Some(limit) => tokio::time::sleep_until(since + limit).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                out = &mut work => return out,
                () = state.changed.notified() => {}
                () = expiry => {
                    if state.phase() == (phase, since) {
                        let reason = match phase {
                            Phase::Idle => "keepalive_idle",
                            _ => "head_deadline",
                        };
                        self.client_faults.with_label_values(&[reason]).inc();
                        tracing::debug!(%client, ?phase, ?limit, "client too slow; closing the connection");
                        return None;
                    }
                }
            }
        }
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await;
    }
}

/// Marks the connection `session` arrived on as busy with a request (no idle deadline
/// while it runs), and gives the request that connection's state for its read deadlines;
/// none over HTTP/2, whose connection carries other requests.
pub(super) fn request_started(
    tracker: &ConnectionTracker,
    session: &pingora::proxy::Session,
) -> Option<Arc<ConnState>> {
    let conn = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .and_then(|client| tracker.connection(*client))?;
    conn.request_started();
    (!session.is_http2()).then_some(conn)
}

/// Answers a refused connection 503 (HTTP/1 only; an HTTP/2 client just sees it close),
/// with the listener's `Strict-Transport-Security` value if it has one.
async fn refuse(mut stream: Stream, refusal: Refusal, hsts: Option<&http::HeaderValue>) {
    if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
        return;
    }
    let body = serde_json::json!({
        "error": {
            "code": "service_unavailable",
            "message": match refusal {
                Refusal::Total => "the proxy has as many connections as it accepts; retry shortly",
                Refusal::PerIp => "too many connections from your address; retry shortly",
            },
        }
    })
    .to_string();
    let hsts = hsts
        .and_then(|value| value.to_str().ok())
        .map(|value| format!("strict-transport-security: {value}\r\n"))
        .unwrap_or_default();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\n{hsts}connection: close\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.flush().await
    };
    if tokio::time::timeout(REFUSAL_WRITE, write).await.is_ok() {
        pingora::protocols::Shutdown::shutdown(&mut *stream).await;
    }
}
