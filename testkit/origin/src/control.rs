//! The faults a test or the lab switches on in a running origin: slowness on request, and
//! a drain on SIGTERM.

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, Uri};

use crate::Origin;

/// `POST /__slow?ms=N`: every later response waits N ms first.
pub(crate) async fn slow_down(State(origin): State<Origin>, uri: Uri) -> StatusCode {
    let ms = uri
        .query()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("ms=")))
        .and_then(|v| v.parse::<u64>().ok());
    let Some(ms) = ms else {
        return StatusCode::BAD_REQUEST;
    };
    origin
        .delay_ms
        .store(ms, std::sync::atomic::Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

/// Waits for SIGTERM, then announces draining and exits after `grace`.
pub(crate) async fn drain_on_sigterm(origin: Origin, grace: Duration) {
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        return;
    };
    term.recv().await;
    origin
        .draining
        .store(true, std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(grace).await;
    std::process::exit(0);
}
