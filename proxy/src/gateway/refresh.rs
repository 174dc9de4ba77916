//! `stale-while-revalidate`: the client gets the stale copy at once, and a background
//! task asks one backend for a fresh one (with the stored validators) and stores it.
//! Only one refresh per URL runs at a time; it shares the coalescing lock with misses.
//! The origin sees it as it would see the client's request forwarded: hop-by-hop fields
//! stripped, `X-Forwarded-*`, `Via`, and the asking request's `X-Request-Id`.

use std::sync::Arc;

use bytes::BytesMut;
use http::{Method, StatusCode, header};
use pingora::connectors::http::v1::Connector;
use pingora::http::RequestHeader;
use pingora::protocols::http::client::HttpSession;
use pingora::upstreams::peer::HttpPeer;
use shared::forwarding::TrustedProxies;

use super::forwarding::{self, Client};
use crate::cache::{Cache, Entry, Turn, policy};
use crate::config::Timeouts;
use crate::upstreams::{Outcome, Upstream};

/// What a background refresh needs, captured from the request that found a stale copy.
pub(super) struct Refresh {
    pub(super) cache: Arc<Cache>,
    pub(super) connector: Arc<Connector>,
    pub(super) upstream: Arc<Upstream>,
    pub(super) timeouts: Timeouts,
    /// Whose forwarding headers are kept, as for the asking request.
    pub(super) trusted_proxies: TrustedProxies,
    /// The client's request as it arrived: its headers select the stored variant.
    pub(super) request: RequestHeader,
    /// Who asked, for the forwarding headers.
    pub(super) client: Client,
    /// The asking request's id: the refresh is its work, so the origin sees that id.
    pub(super) request_id: String,
    pub(super) primary: String,
    pub(super) stale: Arc<Entry>,
}

impl Refresh {
    /// Starts the refresh unless one (or a miss's fill) is already running for the URL.
    pub(super) fn spawn(self) {
        let Turn::Lead(leader) = self.cache.coalescer.join(&self.primary) else {
            return;
        };
        tokio::spawn(async move {
            let deadline = self.timeouts.connect() + self.timeouts.response_header();
            if tokio::time::timeout(deadline, self.run()).await.is_err() {
                tracing::debug!("background cache refresh timed out");
            }
            drop(leader);
        });
    }

    async fn run(&self) {
        let request = match self.origin_request() {
            Ok(request) => request,
            Err(error) => {
                tracing::debug!(%error, "cannot build the background cache refresh");
                return;
            }
        };
        let Some(selection) = self.upstream.select(None, &[]) else {
            return;
        };
        let outcome = self.fetch(selection.addr(), request).await;
        selection.finish(outcome);
    }

    /// The client's request as a conditional GET with the stored validators, forwarded.
    fn origin_request(&self) -> pingora::Result<RequestHeader> {
        let mut request = self.request.clone();
        request.set_method(Method::GET);
        // The backends speak HTTP/1.1; an HTTP/2 client's authority becomes the Host.
        request.set_version(http::Version::HTTP_11);
        if !request.headers.contains_key(header::HOST) {
            if let Some(authority) = request.uri.authority().map(|a| a.as_str().to_owned()) {
                request.insert_header(header::HOST, authority)?;
            }
        }
        forwarding::strip_hop_by_hop(&mut request);
        request.remove_header(&header::CONTENT_LENGTH);
        super::caching::insert_validators(&self.stale.header.headers, &mut request)?;
        forwarding::upstream_request(
            &self.trusted_proxies,
            self.client,
            &mut request,
            &self.request_id,
        )?;
        Ok(request)
    }

    async fn fetch(&self, addr: std::net::SocketAddr, request: RequestHeader) -> Outcome {
        let mut peer = HttpPeer::new(addr, false, String::new());
        peer.options.connection_timeout = Some(self.timeouts.connect());
        peer.options.read_timeout = Some(self.timeouts.response_header());
        let Ok((session, _reused)) = self.connector.get_http_session(&peer).await else {
            return Outcome::ConnectFailed;
        };
        let mut session: HttpSession = HttpSession::H1(session);
        if session
            .write_request_header(Box::new(request))
            .await
            .is_err()
            || session.finish_request_body().await.is_err()
            || session.read_response_header().await.is_err()
        {
            return Outcome::Broken;
        }
        let Some(response) = session.response_header().cloned() else {
            return Outcome::Broken;
        };
        // The backend answered: its status is the attempt's outcome, whatever is stored.
        let answered = Outcome::from_status(response.status.as_u16());
        let headers = &self.request.headers;
        if response.status == StatusCode::NOT_MODIFIED {
            let fresh = self.stale.refreshed(&response, &self.cache.rules);
            self.cache.store.insert(&self.primary, headers, fresh);
            return answered;
        }
        let directives =
            policy::Directives::of_response(&response.headers, &self.cache.rules.target);
        let refused = policy::not_storable(
            &Method::GET,
            headers,
            response.status,
            &response.headers,
            &directives,
        );
        if refused.is_some() {
            return answered;
        }
        let mut body = BytesMut::new();
        loop {
            match session.read_response_body().await {
                Ok(Some(chunk)) => {
                    if (body.len() + chunk.len()) as u64 > self.cache.max_object_bytes {
                        return answered;
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(_) => return Outcome::Broken,
            }
        }
        let entry = self.cache.entry(response, body.freeze());
        self.cache.store.insert(&self.primary, headers, entry);
        answered
    }
}
