//! The forwarding contract between the proxy and the app: the header names, who may set
//! them, how the app finds the client's address, and the request-id rule. Both sides call
//! these functions, so they cannot drift apart.
//!
//! The trust model, in one paragraph: a forwarding header is a claim made by whoever sent
//! it. The proxy faces clients, so it believes nobody by default (`[server]
//! trusted_proxies = []`): from an untrusted peer it *replaces* `X-Forwarded-For`,
//! `X-Forwarded-Proto`, `X-Forwarded-Host` and `Forwarded` with what it saw itself; from a
//! trusted peer (a CDN or balancer in front of it) it keeps them and *appends* its peer to
//! `X-Forwarded-For` and its own element to `Forwarded`. The app believes peers in its
//! `trusted_proxies` (by default loopback and private networks, where the proxy runs) and
//! takes as client address the right-most `X-Forwarded-For` hop that is not trusted; a
//! peer outside the list is the client whatever the header says. Every hop left of the
//! first untrusted one was written by the client and is never read.
//!
//! `Forwarded` (RFC 7239) is maintained by the proxy by the same rule, for backends that
//! read it; the app reads only `X-Forwarded-For`.

mod trusted;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use http::HeaderMap;

pub use trusted::{Cidr, CidrError, TrustedProxies};

/// The hops of the forwarding chain, appended to by each proxy.
pub const X_FORWARDED_FOR: &str = "x-forwarded-for";
/// The scheme the client used, `http` or `https`.
pub const X_FORWARDED_PROTO: &str = "x-forwarded-proto";
/// The `Host` the client asked for.
pub const X_FORWARDED_HOST: &str = "x-forwarded-host";
/// RFC 7239's structured form of the three above.
pub const FORWARDED: &str = "forwarded";
/// The request id, kept from the client when it follows [`is_valid_request_id`], or made.
pub const X_REQUEST_ID: &str = "x-request-id";

/// The longest request id kept from a client, in bytes.
pub const MAX_REQUEST_ID_BYTES: usize = 128;

/// The most `X-Forwarded-For` hops the app walks back through; a longer chain of trusted
/// hops ends at the last one examined. No real deployment has this many proxies.
pub const MAX_HOPS: usize = 32;

// === request ids ===

/// 1 to [`MAX_REQUEST_ID_BYTES`] bytes of `A-Z a-z 0-9 - _ . :`, safe in headers, log
/// lines and JSON without escaping. A UUID, a ULID and a W3C trace id all qualify.
pub fn is_valid_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_BYTES).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A fresh request id: a hyphenated random UUID.
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The request's id: the first `X-Request-Id` when it is valid, else a fresh one. The proxy
/// and the app both call this, so an id the proxy kept is one the app keeps too.
pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(X_REQUEST_ID)
        .map(http::HeaderValue::as_bytes)
        .filter(|id| is_valid_request_id(id))
        .and_then(|id| std::str::from_utf8(id).ok())
        .map_or_else(new_request_id, str::to_owned)
}

// === the app's side ===

/// The client's address as the app sees it.
///
/// From `peer` leftwards through the `X-Forwarded-For` hops (all header lines, in order),
/// the first address that is not in `trusted` is the client. A hop that does not parse, or
/// the end of the chain, or [`MAX_HOPS`], stops the walk at the last trusted address seen:
/// a trusted proxy always writes a valid address, so anything else came from the client
/// and is not believed. An untrusted `peer` is the client, whatever the header says.
pub fn client_address(trusted: &TrustedProxies, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let mut client = peer.to_canonical();
    if !trusted.contains(client) {
        return client;
    }
    let mut examined = 0;
    for value in headers.get_all(X_FORWARDED_FOR).iter().rev() {
        let Ok(text) = value.to_str() else {
            return client;
        };
        for hop in text
            .rsplit(',')
            .map(str::trim)
            .filter(|hop| !hop.is_empty())
        {
            examined += 1;
            if examined > MAX_HOPS {
                return client;
            }
            let Some(ip) = parse_hop(hop) else {
                return client;
            };
            client = ip;
            if !trusted.contains(ip) {
                return ip;
            }
        }
    }
    client
}

/// One `X-Forwarded-For` element: an address, optionally with a port
/// (`192.0.2.1:5000`, `[2001:db8::1]:443`), or a bracketed IPv6 address. In canonical
/// form, so `::ffff:192.0.2.1` is `192.0.2.1`.
pub fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    // The longest form is a bracketed IPv6 address with a port.
    if hop.len() > 64 {
        return None;
    }
    let ip = if let Some(rest) = hop.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port_ok = after.is_empty()
            || after
                .strip_prefix(':')
                .is_some_and(|port| port.parse::<u16>().is_ok());
        if !port_ok {
            return None;
        }
        IpAddr::V6(inside.parse::<Ipv6Addr>().ok()?)
    } else {
        hop.parse::<IpAddr>()
            .ok()
            .or_else(|| hop.parse::<SocketAddr>().ok().map(|addr| addr.ip()))?
    };
    Some(ip.to_canonical())
}

// === the proxy's side ===

/// What the proxy itself saw of the client's hop.
#[derive(Debug, Clone, Copy)]
pub struct Hop<'a> {
    /// The peer's address; `None` when the connection has none (a Unix socket), which is
    /// never trusted.
    pub peer: Option<IpAddr>,
    /// The connection's scheme: `https` over TLS, else `http`.
    pub scheme: &'static str,
    /// The `Host` (or HTTP/2 authority) of the request.
    pub host: Option<&'a str>,
}

/// The forwarding headers the proxy sends upstream. `None` means the header is removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarding {
    /// `X-Forwarded-For`.
    pub x_forwarded_for: Option<String>,
    /// `X-Forwarded-Proto`.
    pub x_forwarded_proto: String,
    /// `X-Forwarded-Host`.
    pub x_forwarded_host: Option<String>,
    /// `Forwarded`.
    pub forwarded: String,
}

/// The forwarding headers for a request that arrived over `hop` with `headers`: replaced
/// by what the proxy saw when the peer is not in `trusted`; kept and appended to when it
/// is (`X-Forwarded-For` gains the peer, `Forwarded` gains an element, and
/// `X-Forwarded-Proto` and `-Host` are kept when present, since the trusted hop saw the
/// client's scheme and host first).
pub fn forward(trusted: &TrustedProxies, hop: Hop<'_>, headers: &HeaderMap) -> Forwarding {
    let peer = hop.peer.map(|ip| ip.to_canonical());
    let element = forwarded_element(peer, hop.scheme, hop.host);
    let Some(trusted_peer) = peer.filter(|ip| trusted.contains(*ip)) else {
        return Forwarding {
            x_forwarded_for: peer.map(|ip| ip.to_string()),
            x_forwarded_proto: hop.scheme.to_owned(),
            x_forwarded_host: hop.host.map(str::to_owned),
            forwarded: element,
        };
    };
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let append = |prior: Option<String>, own: String| match prior {
        Some(prior) => format!("{prior}, {own}"),
        None => own,
    };
    Forwarding {
        x_forwarded_for: Some(append(
            joined(headers, X_FORWARDED_FOR),
            trusted_peer.to_string(),
        )),
        x_forwarded_proto: first(X_FORWARDED_PROTO).unwrap_or_else(|| hop.scheme.to_owned()),
        x_forwarded_host: first(X_FORWARDED_HOST).or_else(|| hop.host.map(str::to_owned)),
        forwarded: append(joined(headers, FORWARDED), element),
    }
}

/// Every line of the list header `name`, joined with `, `; `None` when there is none or a
/// line is not text (then the prior chain is dropped rather than passed on garbled).
fn joined(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut parts = Vec::new();
    for value in headers.get_all(name) {
        let text = value.to_str().ok()?.trim();
        if !text.is_empty() {
            parts.push(text);
        }
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// One RFC 7239 element: `for=192.0.2.1;proto=http;host="example.com"`. An IPv6 node is
/// bracketed and quoted, an unknown one is `unknown`, and the host is always quoted.
fn forwarded_element(peer: Option<IpAddr>, scheme: &str, host: Option<&str>) -> String {
    let node = match peer {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => format!("\"[{v6}]\""),
        None => "unknown".to_owned(),
    };
    let mut element = format!("for={node};proto={scheme}");
    if let Some(host) = host {
        element.push_str(";host=\"");
        for c in host.chars() {
            if matches!(c, '"' | '\\') {
                element.push('\\');
            }
            element.push(c);
        }
        element.push('"');
    }
    element
}

#[cfg(test)]
mod tests;
