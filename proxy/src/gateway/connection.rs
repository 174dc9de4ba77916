//! A thin layer between Pingora's listener and the proxy app, per client connection: it
//! counts open connections and closes a connection whose first request head does not
//! arrive within `timeouts.client_header_ms` (slowloris). Pingora's own header read
//! timeout is per `read()`, so a client trickling one byte at a time would never hit it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use prometheus::IntGauge;

use crate::routing::SharedLive;

/// Connections still waiting for their first request head, by client address.
#[derive(Debug, Default)]
pub struct HeaderTracker {
    pending: Mutex<HashMap<SocketAddr, Arc<AtomicBool>>>,
}

impl HeaderTracker {
    fn register(&self, client: SocketAddr) -> Arc<AtomicBool> {
        let flag = Arc::new(AtomicBool::new(false));
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(client, flag.clone());
        }
        flag
    }

    /// A request head from `client` arrived; its connection is no longer at risk.
    pub fn arrived(&self, client: SocketAddr) {
        let flag = self.pending.lock().ok().and_then(|mut p| p.remove(&client));
        if let Some(flag) = flag {
            flag.store(true, Ordering::Release);
        }
    }

    fn forget(&self, client: SocketAddr) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(&client);
        }
    }
}

/// Wraps the proxy app; see the module docs.
pub struct Front<A> {
    inner: Arc<A>,
    tracker: Arc<HeaderTracker>,
    live: SharedLive,
    open_connections: IntGauge,
}

impl<A> Front<A> {
    /// Wraps `inner`.
    pub fn new(
        inner: A,
        tracker: Arc<HeaderTracker>,
        live: SharedLive,
        open_connections: IntGauge,
    ) -> Self {
        Self {
            inner: Arc::new(inner),
            tracker,
            live,
            open_connections,
        }
    }
}

/// Decrements the gauge and forgets the client when the connection ends, however it ends.
struct Open<'a> {
    gauge: &'a IntGauge,
    tracker: &'a HeaderTracker,
    client: Option<SocketAddr>,
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.gauge.dec();
        if let Some(client) = self.client {
            self.tracker.forget(client);
        }
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
        let client = stream
            .get_socket_digest()
            .and_then(|digest| digest.peer_addr().and_then(|a| a.as_inet()).copied());
        self.open_connections.inc();
        let _open = Open {
            gauge: &self.open_connections,
            tracker: &self.tracker,
            client,
        };
        let Some(client) = client else {
            return self.inner.process_new(stream, shutdown).await;
        };
        let arrived = self.tracker.register(client);
        let deadline = self.live.load().timeouts.client_header();
        let work = self.inner.process_new(stream, shutdown);
        tokio::pin!(work);
        tokio::select! {
            out = &mut work => return out,
            () = tokio::time::sleep(deadline) => {}
        }
        if arrived.load(Ordering::Acquire) {
            work.await
        } else {
            tracing::debug!(%client, ?deadline, "no request head in time; closing the connection");
            None
        }
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await;
    }
}
