//! What the gateway reads from a request before routing it: its authority (validated),
//! whether it streams or has a body, its size on the wire, and the bytes a
//! consistent-hash policy hashes.

use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;

use super::respond::Refusal;
use crate::config::Limits;
use crate::upstreams::HashKey;

/// Checks a request head against what the proxy accepts before routing it: a `Host` that
/// is a valid authority (else 400), headers within `limits.max_request_header_bytes`
/// (431) and a declared body within `max_request_body_bytes` (413). The authority, when
/// the request names one.
pub(super) fn admit(req: &RequestHeader, limits: &Limits) -> Result<Option<Authority>, Refusal> {
    let authority = authority(req).map_err(|()| Refusal {
        status: 400,
        message: "the Host is not a valid authority",
    })?;
    if header_bytes(req) > limits.max_request_header_bytes {
        return Err(Refusal::of(431));
    }
    let declared = content_length(&req.headers);
    if declared.is_some_and(|len| len > limits.max_request_body_bytes) {
        return Err(Refusal::of(413));
    }
    Ok(authority)
}

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

/// A message's declared `Content-Length`, when it has a valid one.
pub(super) fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
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

/// A response that is an event stream (`Content-Type: text/event-stream`).
pub(super) fn is_event_stream(response: &ResponseHeader) -> bool {
    response
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|media| media.trim().eq_ignore_ascii_case("text/event-stream"))
        })
}

/// A request authority (`host[:port]`) that passed [`authority`]: a registered name, an
/// IPv4 address or a bracketed IPv6 literal, lowercased, with an optional numeric port.
/// It never contains `/`, `?`, `#`, `@` or whitespace, so a URL built from it and an
/// origin-form path splits back into the same parts (the cache key relies on this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority(String);

impl Authority {
    /// Validates `text` as `host[:port]`.
    pub fn parse(text: &str) -> Option<Self> {
        let (host, port) = match text.strip_prefix('[') {
            Some(rest) => {
                let (literal, after) = rest.split_once(']')?;
                let valid = !literal.is_empty()
                    && literal.contains(':')
                    && literal
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
                if !valid {
                    return None;
                }
                let port = match after {
                    "" => None,
                    _ => Some(after.strip_prefix(':')?),
                };
                (&text[..literal.len() + 2], port)
            }
            None => match text.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            },
        };
        let name_ok = host.starts_with('[')
            || (!host.is_empty()
                && host.len() <= 253
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')));
        let port_ok = port.is_none_or(|port| {
            !port.is_empty()
                && port.len() <= 5
                && port.chars().all(|c| c.is_ascii_digit())
                && port.parse::<u32>().is_ok_and(|p| p <= 65_535)
        });
        (name_ok && port_ok).then(|| Self(text.to_ascii_lowercase()))
    }

    /// The authority as it goes into keys and routing, lowercased.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host without its port: a name, an IPv4 address, or a bracketed IPv6 literal.
    pub fn host(&self) -> &str {
        let end = match self.0.strip_prefix('[') {
            Some(rest) => rest.find(']').map_or(self.0.len(), |close| close + 2),
            None => self.0.find(':').unwrap_or(self.0.len()),
        };
        &self.0[..end]
    }
}

/// The request's authority: its `Host` header, else the absolute-form target's. `Ok(None)`
/// when it names none (HTTP/1.0); `Err` (answered 400) when a `Host` is repeated, not
/// text, or not a valid authority, or the target's authority is invalid.
pub(super) fn authority(req: &RequestHeader) -> Result<Option<Authority>, ()> {
    let mut hosts = req.headers.get_all(http::header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(());
    }
    let target = req.uri.authority().map(|a| a.as_str());
    if let Some(target) = target {
        Authority::parse(target).ok_or(())?;
    }
    match host {
        Some(value) => {
            let text = value.to_str().map_err(|_| ())?;
            Authority::parse(text).map(Some).ok_or(())
        }
        None => Ok(target.and_then(Authority::parse)),
    }
}

#[cfg(test)]
mod tests;
