//! What every handler can reach: the database, the token keys, the metrics, this instance's
//! name and the drain signal. Built once in `startup`; cheap to clone.

use std::sync::Arc;

use http::HeaderValue;
use prometheus::{HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Registry};
use shared::metrics::{
    LATENCY_BUCKETS_SECONDS, counter, counter_vec, gauge, gauge_vec, histogram_vec, names,
};
use tokio_util::sync::CancellationToken;

use crate::auth::token::Tokens;
use crate::config::Config;
use crate::db::Db;
use crate::realtime::Hub;
use crate::work::Pools;

/// Shared state handed to every handler through `State<AppState>`.
#[derive(Clone)]
pub struct AppState {
    /// The pool and its engine.
    pub db: Db,
    /// The validated configuration.
    pub config: Arc<Config>,
    /// JWT signing and verification keys from the shared secret.
    pub tokens: Arc<Tokens>,
    /// This instance's Prometheus registry and series.
    pub metrics: Arc<Metrics>,
    /// The `X-Instance` header value.
    pub instance: HeaderValue,
    /// Cancelled when the drain begins: `/readyz` fails, and live streams should end so
    /// their clients reconnect to another instance.
    pub draining: CancellationToken,
    /// Wakes live streams when a change commits on any instance.
    pub hub: Hub,
    /// Sign-in with OAuth 2.0 / OpenID Connect providers.
    pub oauth: Arc<crate::auth::oauth::Oauth>,
    /// Slots for long polls, `max_concurrent_polls` of them; a poll that finds none
    /// answers 503.
    pub polls: Arc<tokio::sync::Semaphore>,
    /// Bounded blocking pools for password hashing and for analyses.
    pub pools: Pools,
    /// A real argon2id hash that unknown-email logins verify against, so that a login for a
    /// missing account takes as long as one with a wrong password.
    pub dummy_password_hash: Arc<str>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("instance", &self.instance)
            .field("backend", &self.db.backend())
            .field("draining", &self.draining.is_cancelled())
            .finish_non_exhaustive()
    }
}

/// The series this instance exports, registered in its own registry.
#[derive(Debug)]
pub struct Metrics {
    /// Everything `/metrics` exposes, process metrics included.
    pub registry: Registry,
    /// `app_http_requests_total{method,route,status}`.
    pub requests: IntCounterVec,
    /// `app_http_request_duration_seconds{method,route}`.
    pub request_duration: HistogramVec,
    /// `app_db_pool_connections{state}`, refreshed at each scrape.
    pub pool_connections: IntGaugeVec,
    /// `app_db_breaker_open`, refreshed at each scrape.
    pub db_breaker_open: IntGauge,
    /// `app_live_clients{transport}`: open SSE and WebSocket streams.
    pub live_clients: IntGaugeVec,
    /// `app_datasets_analysed_total`.
    pub datasets_analysed: IntCounter,
    /// `app_analysis_rows_total`.
    pub analysis_rows: IntCounter,
}

impl Metrics {
    /// A fresh registry with the process collector and the app's series.
    ///
    /// # Errors
    ///
    /// Only if two series share a name, which is a programming error.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = shared::metrics::registry();
        Ok(Self {
            requests: counter_vec(
                &registry,
                names::APP_HTTP_REQUESTS_TOTAL,
                "HTTP requests answered",
                &["method", "route", "status"],
            )?,
            request_duration: histogram_vec(
                &registry,
                names::APP_HTTP_REQUEST_DURATION_SECONDS,
                "Time from request to response head",
                &["method", "route"],
                LATENCY_BUCKETS_SECONDS,
            )?,
            pool_connections: gauge_vec(
                &registry,
                names::APP_DB_POOL_CONNECTIONS,
                "Database pool connections",
                &["state"],
            )?,
            db_breaker_open: gauge(
                &registry,
                names::APP_DB_BREAKER_OPEN,
                "1 while the database is known to be unreachable",
            )?,
            live_clients: gauge_vec(
                &registry,
                names::APP_LIVE_CLIENTS,
                "Live event clients connected",
                &["transport"],
            )?,
            datasets_analysed: counter(
                &registry,
                names::APP_DATASETS_ANALYSED_TOTAL,
                "Datasets analysed and stored",
            )?,
            analysis_rows: counter(
                &registry,
                names::APP_ANALYSIS_ROWS_TOTAL,
                "CSV data rows in stored datasets",
            )?,
            registry,
        })
    }
}
