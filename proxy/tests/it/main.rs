//! Integration tests: the real `proxy` binary in front of real `proxy-test-origin`
//! processes on loopback. Run with `cargo test -p proxy`; `TEST_LOG=1` shows their logs.

mod helpers;
mod hostile;
mod raw;

mod access_log;
mod acme;
mod admin;
mod balancing;
mod cache;
mod client_faults;
mod config_check;
mod connections;
mod dashboard;
mod failover;
mod forwarding;
mod hedging;
mod https;
mod lifecycle;
mod limits;
mod metrics;
mod pooling;
mod redispatch;
mod reload;
mod streaming;
mod tls;
