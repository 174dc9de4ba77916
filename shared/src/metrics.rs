//! The metric-name contract, registries that carry the process collector, and series
//! created and registered in one call.
//!
//! Every Flotilla binary exports through the `prometheus` crate, version 0.14, the one
//! Pingora's own metrics use; two versions would mean two registries and silently missing
//! series. Names live in [`names`] and nowhere else. Labels are bounded: route templates,
//! upstream names, backend addresses, status classes; never raw paths or user ids.
//!
//! A series is made with [`counter`], [`counter_vec`], [`gauge`], [`gauge_vec`] or
//! [`histogram_vec`], which register it as they create it. A series created on its own and
//! never registered is recorded into and exported by nobody, and nothing fails; with these
//! there is no such step to forget.

use prometheus::core::Collector;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Metric names, one home for all of them. Dashboards, alert rules and tests refer to these.
pub mod names {
    // --- proxy ---
    /// Counter `{route, upstream, method, code}`; `code` is the status class (`2xx`, `5xx`).
    pub const PROXY_REQUESTS_TOTAL: &str = "proxy_requests_total";
    /// Histogram `{route, upstream}` of whole-request latency as the client sees it.
    /// Streams (a WebSocket after its 101, an event stream) are not in it: their lifetime
    /// is the client's choice, and would make its quantiles meaningless.
    pub const PROXY_REQUEST_DURATION_SECONDS: &str = "proxy_request_duration_seconds";
    /// Histogram `{route, upstream}` of how long streams (WebSocket, server-sent events)
    /// stayed open, with [`super::STREAM_BUCKETS_SECONDS`].
    pub const PROXY_STREAM_DURATION_SECONDS: &str = "proxy_stream_duration_seconds";
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
    /// Counter of log lines (access lines, mostly) dropped because the log writer's queue
    /// was full: the log reader is slower than the traffic.
    pub const PROXY_ACCESS_LOG_DROPPED_TOTAL: &str = "proxy_access_log_dropped_total";
    /// Counter `{reason}` of client connections refused at accept, by the limit that
    /// refused them (`max_connections`, `max_connections_per_ip`).
    pub const PROXY_CONNECTIONS_REJECTED_TOTAL: &str = "proxy_connections_rejected_total";
    /// Counter `{reason}` of requests and connections that ended by the client's doing and
    /// were not held against a backend: `body_idle` (a body that stopped arriving, 408),
    /// `head_deadline` (a request head slower than `client_header_ms`), `keepalive_idle`
    /// (a keep-alive connection idle past `client_idle_ms`).
    pub const PROXY_CLIENT_FAULTS_TOTAL: &str = "proxy_client_faults_total";
    /// Gauge `{domain}`: the `notAfter` (Unix seconds) of the certificate an HTTPS
    /// listener serves for each DNS name of its leaf, from files or `[tls.acme]`.
    pub const PROXY_TLS_CERTIFICATE_EXPIRY_TIMESTAMP_SECONDS: &str =
        "proxy_tls_certificate_expiry_timestamp_seconds";
    /// Counter `{result}` of ACME orders (the first certificate and every renewal):
    /// `success` or `failure`.
    pub const PROXY_TLS_CERTIFICATE_RENEWALS_TOTAL: &str = "proxy_tls_certificate_renewals_total";

    // --- app ---
    /// Counter `{method, route, status}`; `route` is the matched template.
    pub const APP_HTTP_REQUESTS_TOTAL: &str = "app_http_requests_total";
    /// Histogram `{method, route}` of handler latency.
    pub const APP_HTTP_REQUEST_DURATION_SECONDS: &str = "app_http_request_duration_seconds";
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

/// Bucket bounds, in seconds, for stream lifetimes: a second to a day, since a live page
/// keeps its event stream open as long as it is open.
pub const STREAM_BUCKETS_SECONDS: &[f64] = &[
    1.0,
    10.0,
    60.0,
    300.0,
    900.0,
    1800.0,
    3600.0,
    4.0 * 3600.0,
    12.0 * 3600.0,
    86400.0,
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

/// An integer counter named `name`, registered in `registry`.
///
/// # Errors
///
/// When the name is malformed or already registered: a programming error.
pub fn counter(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntCounter> {
    registered(registry, IntCounter::new(name, help)?)
}

/// An integer counter with `labels`, registered in `registry`.
///
/// # Errors
///
/// As [`counter`].
pub fn counter_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    registered(registry, IntCounterVec::new(Opts::new(name, help), labels)?)
}

/// An integer gauge named `name`, registered in `registry`.
///
/// # Errors
///
/// As [`counter`].
pub fn gauge(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntGauge> {
    registered(registry, IntGauge::new(name, help)?)
}

/// An integer gauge with `labels`, registered in `registry`.
///
/// # Errors
///
/// As [`counter`].
pub fn gauge_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntGaugeVec> {
    registered(registry, IntGaugeVec::new(Opts::new(name, help), labels)?)
}

/// A histogram with `labels` and `buckets` (upper bounds, e.g.
/// [`LATENCY_BUCKETS_SECONDS`]), registered in `registry`.
///
/// # Errors
///
/// As [`counter`], or when the buckets are not increasing.
pub fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> prometheus::Result<HistogramVec> {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    registered(registry, HistogramVec::new(opts, labels)?)
}

/// `series`, once `registry` holds it too (series are handles onto shared values, so the
/// registry's clone exports what the caller's records).
fn registered<C: Collector + Clone + 'static>(
    registry: &Registry,
    series: C,
) -> prometheus::Result<C> {
    registry.register(Box::new(series.clone()))?;
    Ok(series)
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

    #[test]
    fn every_series_made_here_is_exported() {
        let registry = Registry::new();
        let help = "a test series";
        counter(&registry, "test_counter_total", help)
            .expect("counter")
            .inc();
        counter_vec(&registry, "test_counter_vec_total", help, &["kind"])
            .expect("counter_vec")
            .with_label_values(&["a"])
            .inc();
        gauge(&registry, "test_gauge", help).expect("gauge").set(3);
        gauge_vec(&registry, "test_gauge_vec", help, &["kind"])
            .expect("gauge_vec")
            .with_label_values(&["a"])
            .set(4);
        histogram_vec(
            &registry,
            "test_duration_seconds",
            help,
            &["kind"],
            LATENCY_BUCKETS_SECONDS,
        )
        .expect("histogram_vec")
        .with_label_values(&["a"])
        .observe(0.02);

        let text = String::from_utf8(encode(&registry).1).expect("utf-8 exposition");
        for line in [
            "test_counter_total 1",
            r#"test_counter_vec_total{kind="a"} 1"#,
            "test_gauge 3",
            r#"test_gauge_vec{kind="a"} 4"#,
            r#"test_duration_seconds_bucket{kind="a",le="0.025"} 1"#,
        ] {
            assert!(
                text.lines().any(|exported| exported == line),
                "{line} missing:\n{text}"
            );
        }
    }

    #[test]
    fn a_name_is_registered_once() {
        let registry = Registry::new();
        counter(&registry, "test_total", "first").expect("first");
        assert!(counter_vec(&registry, "test_total", "second", &["kind"]).is_err());
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
