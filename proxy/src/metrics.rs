//! The proxy's Prometheus series, in a per-process registry with the process collector.
//!
//! Request series are recorded by the gateway as requests finish. Per-backend gauges and
//! health-check counters are read from each group's [`crate::upstreams::Upstream::snapshot`]
//! at scrape time by [`UpstreamCollector`], so they can never drift from the real state.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use shared::metrics::{
    LATENCY_BUCKETS_SECONDS, STREAM_BUCKETS_SECONDS, counter, counter_vec, gauge, gauge_vec,
    histogram_vec, names,
};

use crate::routing::SharedLive;

/// The series the gateway records into.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    stream_duration: HistogramVec,
    upstream_requests: IntCounterVec,
    retries: IntCounterVec,
    hedges: IntCounterVec,
    cache_requests: IntCounterVec,
    cache_bytes: IntGauge,
    cache_entries: IntGauge,
    cache_evictions: IntCounter,
    access_log_dropped: IntCounter,
    /// Client connections open on the public listeners.
    pub open_connections: IntGauge,
    /// Client connections refused at accept, by limit.
    pub connections_rejected: IntCounterVec,
    /// Requests and connections ended by the client's doing, by reason.
    pub client_faults: IntCounterVec,
    certificate_expiry: IntGaugeVec,
    certificate_renewals: IntCounterVec,
}

/// Why an upstream attempt ended, as a bounded label value.
pub fn outcome_label(outcome: crate::upstreams::Outcome) -> &'static str {
    use crate::upstreams::Outcome;
    match outcome {
        Outcome::Success => "success",
        Outcome::ConnectFailed => "connect_failed",
        Outcome::Timeout => "timeout",
        Outcome::Broken => "broken",
        Outcome::Status(_) => "http_5xx",
    }
}

impl Metrics {
    /// Registers every proxy series, plus the scrape-time upstream collector over `live`.
    ///
    /// # Errors
    ///
    /// Only if a series is malformed, which is a programming error caught by tests.
    pub fn new(live: SharedLive) -> prometheus::Result<Self> {
        let registry = shared::metrics::registry();
        registry.register(Box::new(UpstreamCollector::new(live)?))?;
        Ok(Self {
            requests: counter_vec(
                &registry,
                names::PROXY_REQUESTS_TOTAL,
                "Client requests by route, upstream, method and status class.",
                &["route", "upstream", "method", "code"],
            )?,
            duration: histogram_vec(
                &registry,
                names::PROXY_REQUEST_DURATION_SECONDS,
                "Request latency as the client sees it.",
                &["route", "upstream"],
                LATENCY_BUCKETS_SECONDS,
            )?,
            stream_duration: histogram_vec(
                &registry,
                names::PROXY_STREAM_DURATION_SECONDS,
                "How long WebSocket and event streams stayed open.",
                &["route", "upstream"],
                STREAM_BUCKETS_SECONDS,
            )?,
            upstream_requests: counter_vec(
                &registry,
                names::PROXY_UPSTREAM_REQUESTS_TOTAL,
                "Attempts sent to each backend, by outcome.",
                &["upstream", "backend", "outcome"],
            )?,
            retries: counter_vec(
                &registry,
                names::PROXY_RETRIES_TOTAL,
                "Attempts beyond the first, by reason.",
                &["upstream", "reason"],
            )?,
            hedges: counter_vec(
                &registry,
                names::PROXY_HEDGES_TOTAL,
                "Hedged requests: won, lost, or skipped (no backend or retry budget left).",
                &["upstream", "result"],
            )?,
            cache_requests: counter_vec(
                &registry,
                names::PROXY_CACHE_REQUESTS_TOTAL,
                "Requests on cache-enabled routes, by what the cache did (X-Cache).",
                &["result"],
            )?,
            cache_bytes: gauge(
                &registry,
                names::PROXY_CACHE_BYTES,
                "Bytes held by the response cache.",
            )?,
            cache_entries: gauge(
                &registry,
                names::PROXY_CACHE_ENTRIES,
                "Responses held by the response cache.",
            )?,
            cache_evictions: counter(
                &registry,
                names::PROXY_CACHE_EVICTIONS_TOTAL,
                "Responses evicted to keep the cache within its byte bound.",
            )?,
            access_log_dropped: counter(
                &registry,
                names::PROXY_ACCESS_LOG_DROPPED_TOTAL,
                "Log lines dropped because the log writer's queue (server.log_queue_lines) was full.",
            )?,
            open_connections: gauge(
                &registry,
                names::PROXY_OPEN_CONNECTIONS,
                "Client connections open on the public listeners.",
            )?,
            connections_rejected: counter_vec(
                &registry,
                names::PROXY_CONNECTIONS_REJECTED_TOTAL,
                "Client connections answered 503 and closed at accept, by the limit reached.",
                &["reason"],
            )?,
            client_faults: counter_vec(
                &registry,
                names::PROXY_CLIENT_FAULTS_TOTAL,
                "Requests failed by the client (not held against a backend), by reason.",
                &["reason"],
            )?,
            certificate_expiry: gauge_vec(
                &registry,
                names::PROXY_TLS_CERTIFICATE_EXPIRY_TIMESTAMP_SECONDS,
                "notAfter (Unix seconds) of the certificate served for each DNS name.",
                &["domain"],
            )?,
            certificate_renewals: counter_vec(
                &registry,
                names::PROXY_TLS_CERTIFICATE_RENEWALS_TOTAL,
                "ACME orders (first certificate and renewals), by result: success or failure.",
                &["result"],
            )?,
            registry,
        })
    }

    /// The registry, for the admin listener's `/metrics`.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// One finished client request. A `stream` (an upgraded WebSocket or an event stream)
    /// counts like any request but its lifetime goes to the stream histogram, so that the
    /// latency one stays a measure of how fast requests are answered.
    pub fn request(
        &self,
        route: &str,
        upstream: &str,
        method: &str,
        status: u16,
        seconds: f64,
        stream: bool,
    ) {
        let method = shared::metrics::method_label(method);
        let code = match status {
            100..=599 => ["1xx", "2xx", "3xx", "4xx", "5xx"][usize::from(status / 100 - 1)],
            _ => "none",
        };
        self.requests
            .with_label_values(&[route, upstream, method, code])
            .inc();
        let histogram = if stream {
            &self.stream_duration
        } else {
            &self.duration
        };
        histogram
            .with_label_values(&[route, upstream])
            .observe(seconds);
    }

    /// One attempt at a backend and how it ended.
    pub fn attempt(&self, upstream: &str, backend: &str, outcome: &str) {
        self.upstream_requests
            .with_label_values(&[upstream, backend, outcome])
            .inc();
    }

    /// One request on a cache-enabled route, by its `X-Cache` value.
    pub fn cache_request(&self, result: &str) {
        self.cache_requests.with_label_values(&[result]).inc();
    }

    /// Copies the cache's size and eviction count into the gauges, before a scrape.
    pub fn observe_cache(&self, state: &crate::cache::CacheState) {
        self.cache_bytes
            .set(i64::try_from(state.bytes).unwrap_or(i64::MAX));
        self.cache_entries
            .set(i64::try_from(state.entries).unwrap_or(i64::MAX));
        let seen = self.cache_evictions.get();
        self.cache_evictions
            .inc_by(state.evictions.saturating_sub(seen));
    }

    /// Copies the log writer's drop count into its counter, before a scrape.
    pub fn observe_log(&self, dropped: u64) {
        let seen = self.access_log_dropped.get();
        self.access_log_dropped.inc_by(dropped.saturating_sub(seen));
    }

    /// One request that failed by the client's fault.
    pub fn client_fault(&self, reason: &str) {
        self.client_faults.with_label_values(&[reason]).inc();
    }

    /// One retry, and why.
    pub fn retry(&self, upstream: &str, reason: &str) {
        self.retries.with_label_values(&[upstream, reason]).inc();
    }

    /// Records the expiry of a certificate now in service, for each of its DNS names.
    pub fn certificate_expiry(&self, leaf: &crate::tls::certificate::Leaf) {
        for name in &leaf.names {
            self.certificate_expiry
                .with_label_values(&[name.as_str()])
                .set(leaf.not_after_unix);
        }
    }

    /// Shows both ACME order counters at 0 before the first order ends, so that rates and
    /// `increase()` over them work from the start.
    pub fn certificate_orders_start(&self) {
        for result in ["success", "failure"] {
            self.certificate_renewals
                .with_label_values(&[result])
                .inc_by(0);
        }
    }

    /// One ACME order that ended in `success` or `failure`.
    pub fn certificate_order(&self, result: &str) {
        self.certificate_renewals.with_label_values(&[result]).inc();
    }

    /// One hedge decision: `won`, `lost` or `skipped`.
    pub fn hedge(&self, upstream: &str, result: &str) {
        self.hedges.with_label_values(&[upstream, result]).inc();
    }
}

/// Running totals the admin page turns into rates.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    /// Attempts beyond the first.
    pub retries: u64,
    /// Hedges sent (won or lost; not the skipped ones).
    pub hedges: u64,
    /// Requests the cache answered: fresh hits, stale answers and revalidations.
    pub cache_served: u64,
    /// Requests the cache looked up: the served ones plus misses (bypasses excluded).
    pub cache_lookups: u64,
}

impl Metrics {
    /// The totals now.
    pub fn totals(&self) -> Totals {
        // The sum over the series whose `label` value passes `keep`.
        let sum = |vec: &IntCounterVec, label: &str, keep: &dyn Fn(&str) -> bool| -> u64 {
            vec.collect()
                .iter()
                .flat_map(|family| family.get_metric())
                .filter(|metric| {
                    metric
                        .get_label()
                        .iter()
                        .filter(|pair| pair.name() == label)
                        .all(|pair| keep(pair.value()))
                })
                .map(|metric| metric.get_counter().value() as u64)
                .sum()
        };
        let cache_served = sum(&self.cache_requests, "result", &|result| {
            matches!(result, "hit" | "stale" | "revalidated")
        });
        Totals {
            retries: sum(&self.retries, "reason", &|_| true),
            hedges: sum(&self.hedges, "result", &|result| result != "skipped"),
            cache_served,
            cache_lookups: cache_served
                + sum(&self.cache_requests, "result", &|result| result == "miss"),
        }
    }
}

/// Reads every group's snapshot at scrape time into `proxy_upstream_up`,
/// `proxy_upstream_inflight` and `proxy_health_checks_total`.
struct UpstreamCollector {
    live: SharedLive,
    descs: Vec<Desc>,
}

impl UpstreamCollector {
    fn new(live: SharedLive) -> prometheus::Result<Self> {
        let descs = Self::fresh()?
            .iter()
            .flat_map(|c| c.desc().into_iter().cloned())
            .collect();
        Ok(Self { live, descs })
    }

    fn fresh() -> prometheus::Result<[Box<dyn Collector>; 3]> {
        let (up, inflight, checks) = Self::vecs()?;
        Ok([Box::new(up), Box::new(inflight), Box::new(checks)])
    }

    /// Fresh, unregistered series, filled at each scrape and handed over as families: the
    /// collector is what the registry holds, so these are made with the bare constructors.
    fn vecs() -> prometheus::Result<(IntGaugeVec, IntGaugeVec, IntCounterVec)> {
        let labels = &["upstream", "backend"];
        Ok((
            IntGaugeVec::new(
                Opts::new(
                    names::PROXY_UPSTREAM_UP,
                    "1 while the backend is eligible for traffic.",
                ),
                labels,
            )?,
            IntGaugeVec::new(
                Opts::new(
                    names::PROXY_UPSTREAM_INFLIGHT,
                    "Requests outstanding at the backend.",
                ),
                labels,
            )?,
            IntCounterVec::new(
                Opts::new(
                    names::PROXY_HEALTH_CHECKS_TOTAL,
                    "Active health checks by result.",
                ),
                &["upstream", "backend", "result"],
            )?,
        ))
    }
}

impl Collector for UpstreamCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Ok((up, inflight, checks)) = Self::vecs() else {
            return Vec::new();
        };
        let live = self.live.load();
        for (name, group) in live.upstreams() {
            for backend in group.snapshot() {
                let addr = backend.addr.to_string();
                let labels = [name.as_str(), addr.as_str()];
                up.with_label_values(&labels)
                    .set(i64::from(backend.eligible));
                inflight
                    .with_label_values(&labels)
                    .set(i64::try_from(backend.inflight).unwrap_or(i64::MAX));
                checks
                    .with_label_values(&[name.as_str(), addr.as_str(), "ok"])
                    .inc_by(backend.checks_ok_total);
                checks
                    .with_label_values(&[name.as_str(), addr.as_str(), "failed"])
                    .inc_by(backend.checks_failed_total);
            }
        }
        let mut families = up.collect();
        families.extend(inflight.collect());
        families.extend(checks.collect());
        families
    }
}
