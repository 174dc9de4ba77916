//! What every Flotilla binary needs and none of them should own: layered configuration,
//! the forwarding contract, telemetry, the Prometheus process collector and metric names,
//! the shutdown signal, and (behind the `test-util` feature) the harness integration
//! tests use to start real servers.
//!
//! # Layout
//!
//! - [`config`]: file, then environment, then flags, into one typed and validated struct;
//!   [`config::address`], the one rule for addresses (`IP:PORT`, `localhost` as 127.0.0.1).
//! - [`forwarding`]: the forwarding contract of proxy and app: header names, trusted-proxy
//!   CIDR lists, the client-address and replace-or-append rules, the request-id rule.
//! - [`telemetry`]: `tracing` set-up, human-readable or JSON; silent in tests unless `TEST_LOG`.
//! - [`metrics`]: the metric-name contract, bounded label values, and a registry with the
//!   process collector.
//! - [`probe`]: the one HTTP status probe (`GET path`, the status code) behind the proxy's
//!   health checks, the stack's readiness wait and the test harness.
//! - [`shutdown`]: a future that resolves on SIGTERM or Ctrl-C.
//! - `testing` (feature `test-util`): port-0 listeners, readiness polling with a deadline,
//!   child processes that cannot outlive the test, and the `FLOTILLA_REQUIRE` switch that
//!   turns a missing external component from a skip into a failure.
#![warn(missing_docs)]

pub mod config;
pub mod forwarding;
pub mod metrics;
pub mod probe;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "test-util")]
pub mod testing;
