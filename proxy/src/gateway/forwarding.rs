//! What the gateway adds to messages as they pass: `X-Forwarded-*`, `Forwarded`,
//! `X-Request-Id`, `Via` and `X-Cache`, and the hop-by-hop headers it strips where Pingora does not.
//!
//! Who may set the forwarding headers, and the request-id rule, are the contract in
//! [`shared::forwarding`], shared with the app: from a peer outside `[server]
//! trusted_proxies` they are replaced by what the proxy saw, from a trusted one appended to.

use std::net::IpAddr;

use http::header::{self, HeaderName};
use pingora::Result;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;
use shared::forwarding::{
    FORWARDED, Hop, TrustedProxies, X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO,
};

/// The `Via` entry this proxy adds, both ways.
pub(super) const VIA: &str = "1.1 flotilla";
/// The request-id header, kept from the client or generated.
pub(super) const REQUEST_ID: &str = shared::forwarding::X_REQUEST_ID;
/// What the response cache did for the request (`HIT`, `MISS`, …), on every response of a
/// route with the cache on.
pub(super) const X_CACHE: &str = "x-cache";

/// The client's request id when it follows the shared rule, else a fresh UUID.
pub(super) fn request_id(req: &RequestHeader) -> String {
    shared::forwarding::request_id(&req.headers)
}

/// The host the client asked for: `Host`, or the URI authority on HTTP/2.
pub(super) fn client_host(req: &RequestHeader) -> Option<&str> {
    req.headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri.authority().map(|a| a.as_str()))
}

/// What the forwarding headers say about the client, captured from its session so a
/// request made later on its behalf (a background cache refresh) says the same.
#[derive(Debug, Clone, Copy)]
pub(super) struct Client {
    /// The address the request came from.
    pub(super) ip: Option<IpAddr>,
    /// It reached us over TLS.
    pub(super) tls: bool,
}

impl Client {
    pub(super) fn of(session: &Session) -> Self {
        Self {
            ip: session
                .client_addr()
                .and_then(|a| a.as_inet())
                .map(|a| a.ip()),
            tls: session
                .digest()
                .is_some_and(|digest| digest.ssl_digest.is_some()),
        }
    }

    /// The scheme the client used.
    pub(super) fn scheme(self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }
}

/// Prepares the request for the backend: `X-Forwarded-For`, `-Proto`, `-Host` and
/// `Forwarded` by the shared rule (replaced unless the client's address is in `trusted`,
/// then appended to), `X-Request-Id` and `Via`.
///
/// On the proxy path Pingora's standard upstream request policy has already run:
/// hop-by-hop fields and the fields `Connection` nominates are gone (a WebSocket upgrade
/// keeps its pair), and an HTTP/2 request's authority is its `Host`, which is otherwise
/// kept as the client sent it. A request built outside that path strips them with
/// [`strip_hop_by_hop`] first.
pub(super) fn upstream_request(
    trusted: &TrustedProxies,
    client: Client,
    req: &mut RequestHeader,
    request_id: &str,
) -> Result<()> {
    let hop = Hop {
        peer: client.ip,
        scheme: client.scheme(),
        host: client_host(req),
    };
    let forwarding = shared::forwarding::forward(trusted, hop, &req.headers);
    match forwarding.x_forwarded_for {
        Some(value) => req.insert_header(X_FORWARDED_FOR, value)?,
        None => {
            req.remove_header(X_FORWARDED_FOR);
        }
    }
    req.insert_header(X_FORWARDED_PROTO, forwarding.x_forwarded_proto)?;
    match forwarding.x_forwarded_host {
        Some(value) => req.insert_header(X_FORWARDED_HOST, value)?,
        None => {
            req.remove_header(X_FORWARDED_HOST);
        }
    }
    req.insert_header(FORWARDED, forwarding.forwarded)?;
    req.insert_header(REQUEST_ID, request_id)?;
    append_via(&req.headers.get(header::VIA).cloned(), |v| {
        req.insert_header(header::VIA, v)
    })?;
    Ok(())
}

/// Removes what describes the client's hop alone (RFC 9110 §7.6.1): the fields its
/// `Connection` header nominates, then the standard hop-by-hop fields. Only for requests
/// the gateway sends itself; Pingora does this for every request it proxies.
pub(super) fn strip_hop_by_hop(req: &mut RequestHeader) {
    let mut doomed = present(&req.headers, |name| HOP_BY_HOP.contains(name));
    if doomed.contains(&header::CONNECTION) {
        doomed.extend(
            req.headers
                .get_all(header::CONNECTION)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok()),
        );
    }
    for name in &doomed {
        req.remove_header(name);
    }
}

/// The request fields that describe one hop only, besides those `Connection` names.
static HOP_BY_HOP: std::sync::LazyLock<[HeaderName; 9]> = std::sync::LazyLock::new(|| {
    [
        header::CONNECTION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
    ]
});

/// The response fields a backend may send that are for its hop alone.
static RESPONSE_HOP_BY_HOP: std::sync::LazyLock<[HeaderName; 3]> = std::sync::LazyLock::new(|| {
    [
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
        header::PROXY_AUTHENTICATE,
    ]
});

/// The names in `headers` that `pick` picks, each once. One pass over the names present
/// rather than a lookup per name looked for: a message carries none of them nearly always,
/// and then this costs a few comparisons and no allocation.
fn present(headers: &http::HeaderMap, pick: impl Fn(&HeaderName) -> bool) -> Vec<HeaderName> {
    headers.keys().filter(|name| pick(name)).cloned().collect()
}

/// Prepares the backend's response for the client.
pub(super) fn downstream_response(resp: &mut ResponseHeader, request_id: &str) -> Result<()> {
    for name in present(&resp.headers, |name| RESPONSE_HOP_BY_HOP.contains(name)) {
        resp.remove_header(&name);
    }
    resp.insert_header(REQUEST_ID, request_id)?;
    append_via(&resp.headers.get(header::VIA).cloned(), |v| {
        resp.insert_header(header::VIA, v)
    })
}

fn append_via(
    prior: &Option<http::HeaderValue>,
    set: impl FnOnce(String) -> Result<()>,
) -> Result<()> {
    match prior.as_ref().and_then(|v| v.to_str().ok()) {
        Some(prior) if prior.contains(VIA) => Ok(()),
        Some(prior) => set(format!("{prior}, {VIA}")),
        None => set(VIA.to_owned()),
    }
}
