//! Keep-alive HTTP/1.1 connections to the targets, opened on demand.
//!
//! A connection the server closed while idle is replaced silently, as any pooling client
//! would; a failure once a request is on the wire is the target's, and is recorded.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::record::Outcome;

/// One request the schedule repeats: where, how, and with what body.
#[derive(Debug, Clone)]
pub struct Target {
    /// The URL as given, for the CSV.
    pub url: String,
    /// `host:port` to connect to.
    pub authority: String,
    /// Path and query to request.
    pub path: String,
    /// The request method.
    pub method: Method,
    /// The body sent with every request (empty for none).
    pub body: Bytes,
}

impl Target {
    /// Parses `[METHOD ]URL[ @FILE]`; `method` and `body` apply when the spec names none.
    pub fn parse(spec: &str, method: &Method, body: &Bytes) -> anyhow::Result<Self> {
        let mut words = spec.split_whitespace();
        let mut first = words.next().unwrap_or_default();
        let mut method = method.clone();
        if !first.contains("://") {
            method = first
                .parse()
                .map_err(|_| anyhow::anyhow!("--url {spec:?}: {first:?} is not a method"))?;
            first = words.next().unwrap_or_default();
        }
        let uri: Uri = first
            .parse()
            .map_err(|e| anyhow::anyhow!("--url {spec:?}: {e}"))?;
        if uri.scheme_str() != Some("http") {
            anyhow::bail!("--url {spec:?}: only http:// targets are supported");
        }
        let host = uri
            .host()
            .ok_or_else(|| anyhow::anyhow!("--url {spec:?}: no host"))?;
        let authority = format!("{host}:{}", uri.port_u16().unwrap_or(80));
        let body = match words.next() {
            Some(file) if file.starts_with('@') => std::fs::read(&file[1..])
                .map(Bytes::from)
                .map_err(|e| anyhow::anyhow!("--url {spec:?}: body {}: {e}", &file[1..]))?,
            Some(other) => anyhow::bail!("--url {spec:?}: {other:?} should be @FILE"),
            None => body.clone(),
        };
        Ok(Self {
            url: first.to_owned(),
            authority,
            path: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
            method,
            body,
        })
    }
}

/// Idle connections per target authority.
#[derive(Default)]
pub struct Pool {
    idle: Mutex<HashMap<String, Vec<SendRequest<Full<Bytes>>>>>,
}

impl Pool {
    /// One request, start to end of body.
    pub async fn send(&self, target: &Target) -> Outcome {
        let mut sender = match self.checkout(&target.authority).await {
            Ok(sender) => sender,
            Err(outcome) => return outcome,
        };
        let request = Request::builder()
            .method(target.method.clone())
            .uri(target.path.as_str())
            .header(http::header::HOST, target.authority.as_str())
            .body(Full::new(target.body.clone()));
        let Ok(request) = request else {
            return Outcome::Error("bad_request");
        };
        let response = match sender.send_request(request).await {
            Ok(response) => response,
            Err(error) => return Outcome::Error(classify(&error)),
        };
        let status = response.status().as_u16();
        let instance = response
            .headers()
            .get("x-instance")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if response.into_body().collect().await.is_err() {
            return Outcome::Error("body_cut");
        }
        if let Ok(mut idle) = self.idle.lock() {
            idle.entry(target.authority.clone())
                .or_default()
                .push(sender);
        }
        Outcome::Response { status, instance }
    }

    async fn checkout(&self, authority: &str) -> Result<SendRequest<Full<Bytes>>, Outcome> {
        loop {
            let popped = self
                .idle
                .lock()
                .ok()
                .and_then(|mut idle| idle.get_mut(authority).and_then(Vec::pop));
            let Some(mut sender) = popped else { break };
            if sender.ready().await.is_ok() {
                return Ok(sender);
            }
        }
        let stream = TcpStream::connect(authority)
            .await
            .map_err(|e| Outcome::Error(connect_kind(&e)))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Outcome::Error(classify(&e)))?;
        tokio::spawn(connection);
        Ok(sender)
    }
}

/// Names a failed connect after what the client saw (the `Outcome::Error` kinds, shared
/// with the benchmark's load generator).
pub fn connect_kind(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect_refused",
        std::io::ErrorKind::TimedOut => "connect_timeout",
        _ => "connect_other",
    }
}

/// Names a hyper failure after what the client saw.
pub fn classify(error: &hyper::Error) -> &'static str {
    if error.is_incomplete_message() {
        "closed_before_response"
    } else if error.is_canceled() {
        "canceled"
    } else if error.is_parse() {
        "bad_response"
    } else if error.is_timeout() {
        "timeout"
    } else {
        "reset"
    }
}
