//! The HTTP surface: one router per resource, merged here, wrapped in the layers every
//! response goes through (request id, `X-Instance`, metrics, access log, panic guard).

pub mod auth;
pub mod datasets;
pub mod error;
pub mod events;
pub mod extract;
mod frontend;
pub mod health;
pub mod middleware;
pub mod oauth;

use axum::Router;

pub use self::error::{Error, Result};
use crate::state::AppState;

/// The whole app. Resource routers are merged before the layers so that every route and the
/// fallback get request ids, `X-Instance`, metrics and the access log.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(auth::router())
        .merge(oauth::router())
        .merge(datasets::router())
        .merge(events::router())
        .merge(frontend::router())
        .fallback(not_found)
        // Inside `observe`, so a panic's 500 is still counted, logged and labelled.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            middleware::panic_response,
        ))
        .layer(axum::middleware::from_fn(middleware::json_security_headers))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe,
        ))
        .with_state(state)
}

async fn not_found() -> Error {
    Error::NotFound
}

/// Whether the request's `If-None-Match` lists `etag` (or `*`): the client already holds
/// these bytes and gets a 304. Comparison is weak, per RFC 9110 §13.1.2, and every header
/// line counts.
fn if_none_match(headers: &http::HeaderMap, etag: &http::HeaderValue) -> bool {
    let Ok(etag) = etag.to_str() else {
        return false;
    };
    let etag = etag.trim_start_matches("W/");
    headers
        .get_all(http::header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|list| list.split(','))
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == etag)
}
