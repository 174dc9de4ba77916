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

use axum::Router;

pub use self::error::{Error, Result};
use crate::state::AppState;

/// The whole app. Resource routers are merged before the layers so that every route and the
/// fallback get request ids, `X-Instance`, metrics and the access log.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(auth::router())
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
