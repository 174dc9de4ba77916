//! What the gateway adds to and strips from messages as they pass: `X-Forwarded-*`,
//! `X-Request-Id`, `Via`, and hop-by-hop headers.

use http::header::{self, HeaderName};
use pingora::Result;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;

/// The `Via` entry this proxy adds, both ways.
pub(super) const VIA: &str = "1.1 flotilla";
/// The request-id header, kept from the client or generated.
pub(super) const REQUEST_ID: &str = "x-request-id";

/// Headers that describe one hop and must not be forwarded (RFC 9110 §7.6.1), besides
/// `Connection` and `Upgrade`, which Pingora's upstream policy normalises for WebSocket.
const HOP_BY_HOP: &[&str] = &[
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
];

/// The client's request id when it is a sane token, else a fresh UUID.
pub(super) fn request_id(req: &RequestHeader) -> String {
    req.headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// The host the client asked for: `Host`, or the URI authority on HTTP/2.
pub(super) fn client_host(req: &RequestHeader) -> Option<&str> {
    req.headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri.authority().map(|a| a.as_str()))
}

/// Whether the client reached us over TLS.
pub(super) fn is_tls(session: &Session) -> bool {
    session
        .digest()
        .is_some_and(|digest| digest.ssl_digest.is_some())
}

/// Prepares the request for the backend.
pub(super) fn upstream_request(
    session: &Session,
    req: &mut RequestHeader,
    request_id: &str,
) -> Result<()> {
    strip_hop_by_hop_request(req)?;

    let client_ip = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip().to_string());
    if let Some(ip) = client_ip {
        let forwarded_for = match req
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
            Some(prior) if !prior.trim().is_empty() => format!("{prior}, {ip}"),
            _ => ip,
        };
        req.insert_header("x-forwarded-for", forwarded_for)?;
    }
    let proto = if is_tls(session) { "https" } else { "http" };
    req.insert_header("x-forwarded-proto", proto)?;
    let host = client_host(req).map(str::to_owned);
    if let Some(host) = host {
        if !req.headers.contains_key("x-forwarded-host") {
            req.insert_header("x-forwarded-host", host.as_str())?;
        }
        // Host is preserved; HTTP/2 clients carry it as the authority only.
        if !req.headers.contains_key(header::HOST) {
            req.insert_header(header::HOST, host)?;
        }
    }
    req.insert_header(REQUEST_ID, request_id)?;
    append_via(&req.headers.get(header::VIA).cloned(), |v| {
        req.insert_header(header::VIA, v)
    })?;
    Ok(())
}

/// Prepares the backend's response for the client.
pub(super) fn downstream_response(resp: &mut ResponseHeader, request_id: &str) -> Result<()> {
    for name in ["keep-alive", "proxy-connection", "proxy-authenticate"] {
        resp.remove_header(name);
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

fn strip_hop_by_hop_request(req: &mut RequestHeader) -> Result<()> {
    // Headers the client nominated in `Connection` are hop-by-hop too, except the
    // WebSocket `Upgrade` pair, which Pingora forwards for a valid upgrade.
    let nominated: Vec<HeaderName> = req
        .headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .filter(|token| !matches!(token.as_str(), "upgrade" | "keep-alive" | "close" | ""))
        .filter_map(|token| HeaderName::from_bytes(token.as_bytes()).ok())
        .collect();
    for name in nominated {
        req.remove_header(&name);
    }
    let trailers_only = req
        .headers
        .get(header::TE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("trailers"));
    for name in HOP_BY_HOP {
        if *name == "te" && trailers_only {
            continue;
        }
        req.remove_header(*name);
    }
    Ok(())
}
