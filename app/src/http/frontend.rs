//! The web frontend: the files under `frontend/`, embedded in the binary at build time.
//!
//! Every instance serves the same bytes, so each file gets a strong `ETag` (a hash of its
//! bytes, computed once) and a `Cache-Control` that lets the proxy's cache and the browser
//! keep it: `index.html` is revalidated on every load (`no-cache`) so a new deployment shows
//! at once, while the scripts and styles it names may be reused for a few minutes.
//!
//! Every response also carries a strict Content-Security-Policy. The frontend is written
//! for it: no inline scripts, no inline styles, no third-party origins.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::Router;
use axum::body::Body;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Response, StatusCode};
use axum::routing::get;
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

/// The policy the frontend is written against; it names only this origin.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'self'";

/// `index.html` is checked with the server on every load so a deployment shows at once.
const CACHE_INDEX: &str = "no-cache";
/// Scripts, styles and images may be reused for five minutes without asking.
const CACHE_ASSET: &str = "public, max-age=300";

/// The files under `frontend/`, in the binary.
#[derive(RustEmbed)]
#[folder = "../frontend"]
struct Files;

/// One embedded file, with the headers that never change computed once.
struct Asset {
    bytes: &'static [u8],
    content_type: HeaderValue,
    etag: HeaderValue,
    cache_control: HeaderValue,
}

/// Every embedded file by its path (`index.html`, `js/app.js`, …).
static ASSETS: LazyLock<HashMap<String, Asset>> = LazyLock::new(|| {
    Files::iter()
        .filter_map(|path| {
            let file = Files::get(&path)?;
            // Leaked once per file at first use: the set is fixed at build time.
            let bytes: &'static [u8] = Box::leak(file.data.into_owned().into_boxed_slice());
            let digest = Sha256::digest(bytes);
            let etag = HeaderValue::try_from(format!("\"{}\"", hex::encode(&digest[..16]))).ok()?;
            let cache_control = if path == "index.html" {
                CACHE_INDEX
            } else {
                CACHE_ASSET
            };
            let asset = Asset {
                bytes,
                content_type: HeaderValue::from_static(content_type(&path)),
                etag,
                cache_control: HeaderValue::from_static(cache_control),
            };
            Some((path.into_owned(), asset))
        })
        .collect()
});

/// Serves `/` as `index.html` and every embedded file at its own path.
///
/// One route per file, and no wildcard and no fallback: paths that are not files fall
/// through to the app's own 404, and each file's route template is its path, so metrics
/// labels stay a fixed, small set.
pub(crate) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let assets: &'static HashMap<String, Asset> = &ASSETS;
    let mut router = Router::new();
    if let Some(index) = assets.get("index.html") {
        router = router.route("/", get(move |headers: HeaderMap| serve(index, headers)));
    }
    for (path, asset) in assets {
        // Route syntax reserves braces; no file of ours has them.
        if path.contains(['{', '}']) {
            continue;
        }
        router = router.route(
            &format!("/{path}"),
            get(move |headers: HeaderMap| serve(asset, headers)),
        );
    }
    router
}

/// The file, or a 304 when the client already holds these bytes.
async fn serve(asset: &'static Asset, request: HeaderMap) -> Response<Body> {
    let fresh = super::if_none_match(&request, &asset.etag);
    let (status, body) = if fresh {
        (StatusCode::NOT_MODIFIED, Body::empty())
    } else {
        (StatusCode::OK, Body::from(asset.bytes))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::ETAG, asset.etag.clone());
    headers.insert(header::CACHE_CONTROL, asset.cache_control.clone());
    if !fresh {
        headers.insert(header::CONTENT_TYPE, asset.content_type.clone());
    }
    security_headers(headers);
    response
}

fn security_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
}

/// The media type for a file name; `nosniff` makes browsers trust exactly this.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use axum::body::to_bytes;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn get_with(path: &str, headers: &[(&str, &str)]) -> Response<Body> {
        let mut request = Request::get(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        router::<()>()
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("infallible")
    }

    fn header<'a>(response: &'a Response<Body>, name: &str) -> &'a str {
        response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .expect("ascii header")
    }

    async fn body(response: Response<Body>) -> Vec<u8> {
        to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body")
            .to_vec()
    }

    #[tokio::test]
    async fn root_is_index_html_revalidated_on_every_load() {
        let response = get_with("/", &[]).await;

        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header(&response, "content-type"),
            "text/html; charset=utf-8"
        );
        assert_eq!(header(&response, "cache-control"), "no-cache");
        let html = String::from_utf8(body(response).await).expect("utf-8");
        assert!(html.contains("<!doctype html>"), "{html}");
        assert!(html.contains(r#"<script type="module" src="/js/app.js">"#));
    }

    #[tokio::test]
    async fn every_response_carries_the_strict_policy() {
        for path in ["/", "/styles.css", "/js/app.js", "/favicon.svg"] {
            let response = get_with(path, &[]).await;
            assert_eq!(
                header(&response, "content-security-policy"),
                CONTENT_SECURITY_POLICY,
                "{path}"
            );
            assert_eq!(header(&response, "x-content-type-options"), "nosniff");
            assert_eq!(header(&response, "referrer-policy"), "no-referrer");
        }
        let policy = CONTENT_SECURITY_POLICY;
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(policy.contains(directive), "{directive}");
        }
        assert!(!policy.contains("unsafe"), "{policy}");
    }

    #[tokio::test]
    async fn assets_get_their_media_type_and_a_short_public_lifetime() {
        for (path, media) in [
            ("/styles.css", "text/css; charset=utf-8"),
            ("/js/app.js", "text/javascript; charset=utf-8"),
            ("/favicon.svg", "image/svg+xml"),
        ] {
            let response = get_with(path, &[]).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(header(&response, "content-type"), media, "{path}");
            assert_eq!(header(&response, "cache-control"), "public, max-age=300");
            assert!(!body(response).await.is_empty(), "{path}");
        }
    }

    #[tokio::test]
    async fn the_etag_is_strong_stable_and_differs_between_files() {
        let first = get_with("/js/app.js", &[]).await;
        let again = get_with("/js/app.js", &[]).await;
        let other = get_with("/styles.css", &[]).await;

        let etag = header(&first, "etag").to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        assert!(!etag.starts_with("W/"), "strong: {etag}");
        assert_eq!(header(&again, "etag"), etag);
        assert_ne!(header(&other, "etag"), etag);
    }

    #[tokio::test]
    async fn a_matching_if_none_match_gets_304_without_a_body() {
        let etag = header(&get_with("/styles.css", &[]).await, "etag").to_owned();
        let listed = format!("\"nope\", W/{etag}");

        for if_none_match in [etag.as_str(), listed.as_str(), "*"] {
            let response = get_with("/styles.css", &[("if-none-match", if_none_match)]).await;
            assert_eq!(
                response.status(),
                StatusCode::NOT_MODIFIED,
                "{if_none_match}"
            );
            assert_eq!(header(&response, "etag"), etag);
            assert_eq!(header(&response, "cache-control"), "public, max-age=300");
            assert!(body(response).await.is_empty());
        }
    }

    #[tokio::test]
    async fn a_stale_if_none_match_gets_the_file() {
        let response = get_with("/", &[("if-none-match", "\"0123\"")]).await;

        assert_eq!(response.status(), StatusCode::OK);
        assert!(!body(response).await.is_empty());
    }

    #[tokio::test]
    async fn anything_but_an_embedded_file_is_left_to_the_app() {
        for path in [
            "/nope.js",
            "/js/../Cargo.toml",
            "/../Cargo.toml",
            "/js/",
            "/api/x",
        ] {
            let response = get_with(path, &[]).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        }
        let response = router::<()>()
            .oneshot(Request::post("/").body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[tokio::test]
    async fn head_gets_the_headers() {
        let response = router::<()>()
            .oneshot(
                Request::head("/js/app.js")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible");

        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().contains_key("etag"));
    }

    #[test]
    fn index_html_has_no_inline_script_or_style() {
        let html =
            std::str::from_utf8(ASSETS.get("index.html").expect("index").bytes).expect("utf-8");
        assert!(!html.contains("style="), "inline style attribute");
        assert!(!html.contains("<style"), "inline style element");
        for script in html.split("<script").skip(1) {
            assert!(script.trim_start().contains("src="), "inline script");
        }
        assert!(!html.contains("onclick") && !html.contains("onload"));
    }
}
