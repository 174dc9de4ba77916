//! Flotilla's load balancer (this branch carries only the upstream groups; the gateway,
//! server, admin and metrics modules arrive from their own branch).
//!
//! # Layout
//!
//! - [`config`]: the typed TOML configuration; [`config::upstream`] is one upstream group.
//! - [`upstreams`]: backend membership, selection, active and passive health, retry budget.

pub mod config;
pub mod upstreams;
