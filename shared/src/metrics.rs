//! The metric-name contract, and registries that carry the process collector.
//!
//! Every Flotilla binary exports through the `prometheus` crate, version 0.14, the one
//! Pingora's own metrics use; two versions would mean two registries and silently missing
//! series. Names live in [`names`] and nowhere else. Labels are bounded: route templates,
//! upstream names, backend addresses, status classes; never raw paths or user ids.

use prometheus::{Encoder, Registry, TextEncoder};

/// Metric names, one home for all of them. Dashboards, alert rules and tests refer to these.
pub mod names {
    // --- proxy ---
    /// Counter `{route, upstream, method, code}`; `code` is the status class (`2xx`, `5xx`).
    pub const PROXY_REQUESTS_TOTAL: &str = "proxy_requests_total";
    /// Histogram `{route, upstream}` of whole-request latency as the client sees it.
    pub const PROXY_REQUEST_DURATION_SECONDS: &str = "proxy_request_duration_seconds";
    /// Counter `{upstream, backend, outcome}` of attempts sent to each backend.
    pub const PROXY_UPSTREAM_REQUESTS_TOTAL: &str = "proxy_upstream_requests_total";
    /// Gauge `{upstream, backend}`: 1 while the backend is eligible for traffic.
    pub const PROXY_UPSTREAM_UP: &str = "proxy_upstream_up";
    /// Gauge `{upstream, backend}`: requests currently outstanding at the backend.
    pub const PROXY_UPSTREAM_INFLIGHT: &str = "proxy_upstream_inflight";
    /// Counter `{upstream, reason}` of attempts beyond the first.
    pub const PROXY_RETRIES_TOTAL: &str = "proxy_retries_total";
    /// Counter `{upstream, result}` of hedged requests: `won` (the hedge's response came
    /// first), `lost` (the first attempt's did), `skipped` (due, but no backend or budget).
    pub const PROXY_HEDGES_TOTAL: &str = "proxy_hedges_total";
    /// Counter `{upstream, backend, result}` of active health checks.
    pub const PROXY_HEALTH_CHECKS_TOTAL: &str = "proxy_health_checks_total";
    /// Gauge of client connections currently open on the public listeners.
    pub const PROXY_OPEN_CONNECTIONS: &str = "proxy_open_connections";
    /// Counter `{result}`: `hit`, `miss`, `stale`, `revalidated`, `bypass`.
    pub const PROXY_CACHE_REQUESTS_TOTAL: &str = "proxy_cache_requests_total";
    /// Gauge of bytes held by the response cache.
    pub const PROXY_CACHE_BYTES: &str = "proxy_cache_bytes";
    /// Gauge of entries held by the response cache.
    pub const PROXY_CACHE_ENTRIES: &str = "proxy_cache_entries";
    /// Counter of entries evicted for space.
    pub const PROXY_CACHE_EVICTIONS_TOTAL: &str = "proxy_cache_evictions_total";

    // --- app ---
    /// Counter `{method, route, status}`; `route` is the matched template.
    pub const HTTP_REQUESTS_TOTAL: &str = "http_requests_total";
    /// Histogram `{method, route}` of handler latency.
    pub const HTTP_REQUEST_DURATION_SECONDS: &str = "http_request_duration_seconds";
    /// Gauge `{state}`: database pool connections `in_use` and `idle`.
    pub const APP_DB_POOL_CONNECTIONS: &str = "app_db_pool_connections";
    /// Gauge: 1 while the database breaker is open (the database is known down), else 0.
    pub const APP_DB_BREAKER_OPEN: &str = "app_db_breaker_open";
    /// Gauge `{transport}`: live event clients connected (`sse`, `websocket`).
    pub const APP_LIVE_CLIENTS: &str = "app_live_clients";
    /// Counter of datasets analysed and stored.
    pub const APP_DATASETS_ANALYSED_TOTAL: &str = "app_datasets_analysed_total";
    /// Counter of CSV data rows processed by the analysis.
    pub const APP_ANALYSIS_ROWS_TOTAL: &str = "app_analysis_rows_total";

    // --- every process (registered by [`super::registry`]) ---
    /// Counter of CPU seconds, user plus system.
    pub const PROCESS_CPU_SECONDS_TOTAL: &str = "process_cpu_seconds_total";
    /// Gauge of resident memory.
    pub const PROCESS_RESIDENT_MEMORY_BYTES: &str = "process_resident_memory_bytes";
    /// Gauge of open file descriptors.
    pub const PROCESS_OPEN_FDS: &str = "process_open_fds";
}

/// HTTP methods that get their own `method` label value (RFC 9110's, plus `PATCH`).
pub const KNOWN_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
];

/// The `method` label value for a request method: the method itself when it is one of
/// [`KNOWN_METHODS`], else `OTHER`. A client can invent any number of methods; labelled as
/// sent, each would add series until `/metrics` is megabytes long.
pub fn method_label(method: &str) -> &'static str {
    KNOWN_METHODS
        .iter()
        .find(|known| **known == method)
        .copied()
        .unwrap_or("OTHER")
}

/// Histogram buckets for request latency, in seconds: 1 ms to 10 s.
pub const LATENCY_BUCKETS_SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A fresh registry with the process collector (CPU, resident memory, open fds) registered.
///
/// Each server instance owns its registry rather than using the global default, so several
/// servers can run inside one test process without their series colliding.
pub fn registry() -> Registry {
    let registry = Registry::new();
    #[cfg(target_os = "linux")]
    {
        let collector = prometheus::process_collector::ProcessCollector::for_self();
        // Registration into a fresh registry cannot collide.
        let _ = registry.register(Box::new(collector));
    }
    registry
}

/// The Prometheus text exposition of everything in `registry`, and its content type.
pub fn encode(registry: &Registry) -> (&'static str, Vec<u8>) {
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    // Encoding into a Vec fails only on a malformed metric family, which the registry
    // has already rejected at registration.
    let _ = encoder.encode(&registry.gather(), &mut body);
    (prometheus::TEXT_FORMAT, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        for known in KNOWN_METHODS {
            assert_eq!(method_label(known), known);
        }
        for invented in ["FOO", "get", "PROPFIND", "", "GETS", &"X".repeat(10_000)] {
            assert_eq!(method_label(invented), "OTHER", "{invented}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_registry_exports_process_metrics() {
        let (content_type, body) = encode(&registry());
        let text = String::from_utf8(body).expect("utf-8 exposition");
        assert!(content_type.starts_with("text/plain"));
        for name in [
            names::PROCESS_CPU_SECONDS_TOTAL,
            names::PROCESS_RESIDENT_MEMORY_BYTES,
            names::PROCESS_OPEN_FDS,
        ] {
            assert!(
                text.contains(&format!("\n{name} ")),
                "{name} missing:\n{text}"
            );
        }
    }
}
