//! Keep-alive HTTP/1.1 connections to one target, opened on demand.
//!
//! A connection the server closed while idle is replaced silently (and counted), as a browser
//! or any pooling client would; a failure once a request is on the wire is the target's.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::uri::Authority;
use http::{Request, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use lab::load::client::{classify, connect_kind};

use crate::report::Outcome;

/// Idle connections plus how to open another.
pub(crate) struct Pool {
    authority: Authority,
    uri: Uri,
    idle: Mutex<Vec<SendRequest<Empty<Bytes>>>>,
    reconnects: AtomicU64,
}

impl Pool {
    /// A pool for GETs of `uri` on `authority`.
    pub(crate) fn new(authority: Authority, uri: Uri) -> Self {
        Self {
            authority,
            uri,
            idle: Mutex::new(Vec::new()),
            reconnects: AtomicU64::new(0),
        }
    }

    /// Idle connections found closed and replaced.
    pub(crate) fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    /// One GET, start to end of body.
    pub(crate) async fn get(&self) -> Outcome {
        let mut sender = match self.checkout().await {
            Ok(sender) => sender,
            Err(outcome) => return outcome,
        };
        let path = self
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let request = match Request::get(path)
            .header(http::header::HOST, self.authority.as_str())
            .body(Empty::<Bytes>::new())
        {
            Ok(request) => request,
            Err(_) => return Outcome::Error("bad_request"),
        };
        let response = match sender.send_request(request).await {
            Ok(response) => response,
            Err(error) => return Outcome::Error(classify(&error)),
        };
        let status = response.status().as_u16();
        if response.into_body().collect().await.is_err() {
            return Outcome::Error("body_cut");
        }
        self.checkin(sender);
        Outcome::Response { status }
    }

    async fn checkout(&self) -> Result<SendRequest<Empty<Bytes>>, Outcome> {
        loop {
            let popped = self.idle.lock().ok().and_then(|mut idle| idle.pop());
            let Some(mut sender) = popped else { break };
            if sender.ready().await.is_ok() {
                return Ok(sender);
            }
            self.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        let stream = TcpStream::connect(self.authority.as_str())
            .await
            .map_err(|e| Outcome::Error(connect_kind(&e)))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Outcome::Error(classify(&e)))?;
        tokio::spawn(connection);
        Ok(sender)
    }

    fn checkin(&self, sender: SendRequest<Empty<Bytes>>) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(sender);
        }
    }
}
