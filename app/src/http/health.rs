//! Operations endpoints: `/healthz` (the process is alive), `/readyz` (the database answers
//! and the instance is not draining; while the database breaker is open it says the
//! database is down, at once) and `/metrics`.

use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::{StatusCode, header};
use serde_json::json;

use crate::db;
use crate::state::AppState;

/// How long `/readyz` waits for the database.
const READY_DB_TIMEOUT: Duration = Duration::from_secs(2);

/// `/healthz`, `/readyz`, `/metrics`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> Response {
    no_store(StatusCode::OK, json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.draining.is_cancelled() {
        return no_store(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "draining" }),
        );
    }
    match tokio::time::timeout(READY_DB_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => no_store(StatusCode::OK, json!({ "status": "ready" })),
        Ok(Err(db::Error::Down(open))) => no_store(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({
                "status": "database down",
                "detail": format!(
                    "the database is unreachable; requests answer 503 until a probe, \
                     every {} ms, reaches it",
                    open.retry_after.as_millis()
                ),
            }),
        ),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: database unreachable");
            no_store(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "status": "database unavailable" }),
            )
        }
        Err(_) => {
            tracing::warn!("readiness: database did not answer in time");
            no_store(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "status": "database unavailable" }),
            )
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let (in_use, idle) = state.db.pool_connections();
    let gauge = &state.metrics.pool_connections;
    gauge.with_label_values(&["in_use"]).set(i64::from(in_use));
    gauge.with_label_values(&["idle"]).set(i64::from(idle));
    state
        .metrics
        .db_breaker_open
        .set(i64::from(state.db.is_down()));
    let (content_type, body) = shared::metrics::encode(&state.metrics.registry);
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn no_store(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}
