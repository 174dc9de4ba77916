//! The dashboard's three files, embedded in the binary: no build step, nothing to deploy
//! beside the proxy. The page runs only its own script (`script-src 'self'`, no inline
//! code) and talks only to this listener.

use http::{Response, StatusCode, header};

use super::reply;

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/dashboard.js");
const STYLE: &str = include_str!("page/dashboard.css");

/// The policy every dashboard file is served with.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// `GET /`.
pub(super) fn index() -> Response<Vec<u8>> {
    file("text/html; charset=utf-8", INDEX)
}

/// `GET /dashboard.js`.
pub(super) fn script() -> Response<Vec<u8>> {
    file("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /dashboard.css`.
pub(super) fn style() -> Response<Vec<u8>> {
    file("text/css; charset=utf-8", STYLE)
}

fn file(content_type: &str, body: &str) -> Response<Vec<u8>> {
    let mut response = reply(StatusCode::OK, content_type, body.as_bytes().to_vec());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    response
}
