//! The operator's actions: drain a backend, put it back, purge cached responses. Each is a
//! `POST`, behind the admin token (see the module docs of [`super`]).

use std::net::SocketAddr;

use http::{Method, Response, StatusCode, header};
use pingora::protocols::http::ServerSession;

use super::{Admin, json, text};

/// Who may act.
#[derive(Debug)]
pub(super) struct Guard {
    token: Option<String>,
    loopback: bool,
}

impl Guard {
    pub(super) fn new(token: Option<String>, loopback: bool) -> Self {
        Self { token, loopback }
    }

    /// `None` when the request may act (by `POST`, or `also` for an endpoint that accepts
    /// another method too); otherwise the refusal to send.
    fn refuse(&self, session: &ServerSession, also: Option<Method>) -> Option<Response<Vec<u8>>> {
        let req = session.req_header();
        if req.method != Method::POST && Some(&req.method) != also.as_ref() {
            let mut refusal = text(StatusCode::METHOD_NOT_ALLOWED, "use POST\n");
            refusal
                .headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            return Some(refusal);
        }
        let Some(token) = &self.token else {
            return (!self.loopback).then(|| {
                text(
                    StatusCode::FORBIDDEN,
                    "actions off loopback need admin.token to be set\n",
                )
            });
        };
        let given = req
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given.is_some_and(|given| same_token(given, token)) {
            return None;
        }
        let mut refusal = text(StatusCode::UNAUTHORIZED, "bearer token required\n");
        refusal.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"flotilla-admin\""),
        );
        Some(refusal)
    }
}

/// `POST /backends/{upstream}/{addr}/drain` or `/undrain` (`rest` is what follows
/// `/backends/`). Answers the backend's new state:
/// `{"upstream", "addr", "operator_drain", "changed"}`.
pub(super) async fn backend(
    admin: &Admin,
    session: &ServerSession,
    rest: &str,
) -> Response<Vec<u8>> {
    let Some((target, drain)) = parse_backend_path(rest) else {
        return text(
            StatusCode::NOT_FOUND,
            "use /backends/{upstream}/{addr}/drain or /undrain\n",
        );
    };
    if let Some(refusal) = admin.guard.refuse(session, None) {
        return refusal;
    }
    let live = admin.live.load();
    let Some(group) = live.upstreams().get(&target.upstream) else {
        return text(StatusCode::NOT_FOUND, "no such upstream\n");
    };
    let Some(changed) = group.set_operator_drain(target.addr, drain) else {
        return text(StatusCode::NOT_FOUND, "no such backend in that upstream\n");
    };
    json(&serde_json::json!({
        "upstream": target.upstream,
        "addr": target.addr,
        "operator_drain": drain,
        "changed": changed,
    }))
}

/// `POST /cache/purge?url=URL` drops one URL (all its variants); `?prefix=URL` drops every
/// URL starting with it. Keys look like `http://host/path?query`. Answers `{"purged": N}`.
pub(super) async fn purge(admin: &Admin, session: &ServerSession) -> Response<Vec<u8>> {
    if let Some(refusal) = admin.guard.refuse(session, Some(Method::DELETE)) {
        return refusal;
    }
    let Some(cache) = &admin.cache else {
        return text(StatusCode::NOT_FOUND, "the cache is off\n");
    };
    let query = session.req_header().uri.query().unwrap_or("");
    let param = |name: &str| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let purged = match (param("url"), param("prefix")) {
        (Some(url), None) => cache.store.invalidate(&url),
        (None, Some(prefix)) => cache.store.purge_prefix(&prefix),
        _ => {
            return text(
                StatusCode::BAD_REQUEST,
                "give exactly one of ?url= or ?prefix=\n",
            );
        }
    };
    json(&serde_json::json!({ "purged": purged }))
}

/// One backend named in a path.
#[derive(Debug, PartialEq)]
struct Target {
    upstream: String,
    addr: SocketAddr,
}

/// `{upstream}/{addr}/drain` → (target, true); `…/undrain` → (target, false). The address
/// may be percent-encoded (`%5B%3A%3A1%5D%3A3001` for `[::1]:3001`).
fn parse_backend_path(rest: &str) -> Option<(Target, bool)> {
    let (rest, action) = rest.rsplit_once('/')?;
    let drain = match action {
        "drain" => true,
        "undrain" => false,
        _ => return None,
    };
    let (upstream, addr) = rest.split_once('/')?;
    let addr = percent_decode(addr)?.parse().ok()?;
    let upstream = percent_decode(upstream)?;
    Some((Target { upstream, addr }, drain))
}

fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = tail.get(..2)?;
            let value = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            bytes.push(value);
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

/// Compares a presented token with the configured one in time that does not depend on
/// where they differ, so the token cannot be guessed byte by byte from response times.
/// (Only its length can show.)
fn same_token(given: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_matches() {
        assert!(same_token("s3cret-token", "s3cret-token"));
        assert!(!same_token("s3cret-tokem", "s3cret-token"));
        assert!(!same_token("s3cret", "s3cret-token"));
        assert!(!same_token("", "s3cret-token"));
    }

    #[test]
    fn backend_paths_name_an_upstream_an_address_and_an_action() {
        let target = |upstream: &str, addr: &str| Target {
            upstream: upstream.to_owned(),
            addr: addr.parse().expect("addr"),
        };
        assert_eq!(
            parse_backend_path("app/127.0.0.1:3001/drain"),
            Some((target("app", "127.0.0.1:3001"), true))
        );
        assert_eq!(
            parse_backend_path("app/%5B%3A%3A1%5D%3A3001/undrain"),
            Some((target("app", "[::1]:3001"), false))
        );
        assert_eq!(
            parse_backend_path("app/[::1]:3001/drain"),
            Some((target("app", "[::1]:3001"), true))
        );
        for bad in [
            "app/127.0.0.1:3001/remove",
            "app/127.0.0.1/drain",
            "127.0.0.1:3001/drain",
            "app/127.0.0.1:3001",
            "app/%zz/drain",
        ] {
            assert_eq!(parse_backend_path(bad), None, "{bad}");
        }
    }
}
