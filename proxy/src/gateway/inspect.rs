//! What the gateway reads from a request before routing it: whether it streams or has a
//! body, its size on the wire, and the bytes a consistent-hash policy hashes.

use pingora::http::RequestHeader;
use pingora::proxy::Session;

use crate::upstreams::HashKey;

/// The request line plus headers, as sent on the wire.
pub(super) fn header_bytes(req: &RequestHeader) -> usize {
    let line = req.method.as_str().len() + req.raw_path().len() + 12;
    req.headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum::<usize>()
        + line
}

/// The bytes a consistent-hash policy hashes for this request, if the key is present.
pub(super) fn hash_input(session: &Session, key: &HashKey) -> Option<Vec<u8>> {
    let req = session.req_header();
    match key {
        HashKey::Header(name) => req.headers.get(name).map(|v| v.as_bytes().to_vec()),
        HashKey::Cookie(cookie) => req
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| name == cookie)
            .map(|(_, value)| value.as_bytes().to_vec()),
        HashKey::ClientIp => session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip().to_string().into_bytes()),
    }
}

/// An `Accept: text/event-stream` request: no read timeout, never cached.
pub(super) fn wants_event_stream(req: &RequestHeader) -> bool {
    req.headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

/// The request carries a body (chunked, or a non-zero `Content-Length`).
pub(super) fn has_body(req: &RequestHeader) -> bool {
    req.headers.contains_key(http::header::TRANSFER_ENCODING)
        || req
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}
