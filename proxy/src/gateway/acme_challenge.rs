//! The ACME HTTP-01 responder: `GET /.well-known/acme-challenge/{token}` is answered by
//! the proxy itself, before routing, with the key authorization of an order in progress
//! (RFC 8555 §8.3), or 404. Never forwarded: the CA must see this proxy's answer, not an
//! app's. Only while `[tls.acme]` is configured; otherwise the path is routed like any.

use bytes::Bytes;
use pingora::Result;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

use super::ctx::RequestCtx;
use super::respond;
use crate::tls::acme::Challenges;

/// Where the CA asks for HTTP-01 tokens. A redirect to HTTPS must leave this path alone
/// (the CA follows redirects, but the first request is plain HTTP on port 80).
pub const CHALLENGE_PATH_PREFIX: &str = "/.well-known/acme-challenge/";

/// Whether `path` is under [`CHALLENGE_PATH_PREFIX`].
pub fn is_challenge_path(path: &str) -> bool {
    path.starts_with(CHALLENGE_PATH_PREFIX)
}

/// Answers a challenge request: 200 with the key authorization, 404 for an unknown token,
/// 405 for a method other than `GET` or `HEAD`.
pub(super) async fn answer(
    challenges: &Challenges,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> Result<()> {
    let method = session.req_header().method.clone();
    if method != http::Method::GET && method != http::Method::HEAD {
        let mut header = ResponseHeader::build(405, Some(3))?;
        header.insert_header(http::header::ALLOW, "GET, HEAD")?;
        header.insert_header(http::header::CONTENT_LENGTH, "0")?;
        return respond::send(session, ctx, header, None).await;
    }
    let path = session.req_header().uri.path().to_owned();
    let token = path.strip_prefix(CHALLENGE_PATH_PREFIX).unwrap_or_default();
    let (status, body) = match challenges.lookup(token).await {
        Some(key_authorization) => (200, Bytes::from(key_authorization)),
        None => (404, Bytes::from_static(b"unknown token\n")),
    };
    let mut header = ResponseHeader::build(status, Some(4))?;
    header.insert_header(http::header::CONTENT_TYPE, "application/octet-stream")?;
    header.insert_header(http::header::CACHE_CONTROL, "no-store")?;
    header.insert_header(http::header::CONTENT_LENGTH, body.len().to_string())?;
    let body = (method != http::Method::HEAD).then_some(body);
    respond::send(session, ctx, header, body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_challenge_directory_is_taken() {
        assert!(is_challenge_path("/.well-known/acme-challenge/abc"));
        assert!(!is_challenge_path("/.well-known/acme-challengeX"));
        assert!(!is_challenge_path("/.well-known/security.txt"));
    }
}
