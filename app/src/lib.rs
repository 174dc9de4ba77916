//! Flotilla's app service: a stateless axum + sqlx instance that registers users, analyses
//! uploaded CSV files and serves the results, many of it behind the proxy.
//!
//! # Layout
//!
//! - [`cli`]: the program's entry point, shared by the `app` binary and the stack.
//! - [`config`]: flags, environment and file into one validated [`config::Config`].
//! - [`startup`]: [`startup::Application`] builds (connect, migrate, bind) and runs with a
//!   drain on shutdown.
//! - [`state`]: [`state::AppState`], what every handler can reach, and the metrics.
//! - [`auth`]: signed tokens and password hashing, each with its own error type.
//! - [`http`]: the router; one module per resource (`health`, `auth`, `datasets`,
//!   `events`), the error
//!   type and its HTTP mapping (`error`), extractors (`extract`) and the per-request layer
//!   (`middleware`).
//! - [`analysis`]: CSV parsing, type inference and statistics; synchronous, run on blocking
//!   threads.
//! - [`realtime`]: live events: wakes this instance's SSE and WebSocket streams when a
//!   change commits on any instance (Postgres LISTEN/NOTIFY, or polling SQLite).
//! - [`work`]: bounded blocking pools, one for password hashing and one for analyses, so
//!   neither can exhaust the instance or starve the other.
//! - [`db`]: the pool over SQLite or Postgres, embedded migrations, and one module per table.

pub mod analysis;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod http;
pub mod realtime;
pub mod startup;
pub mod state;
pub mod work;
