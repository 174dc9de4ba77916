//! The one-command local stack: `cargo run --release` at the repository root starts the
//! proxy and N app instances as separate, supervised OS processes.
//!
//! One binary carries all three programs. The launcher re-executes itself as
//! `stack app …` and `stack proxy …`, so a single `cargo run` builds everything the stack
//! needs, and every instance is still its own process that can be killed, restarted and
//! watched on its own.
//!
//! # Layout
//!
//! - [`cli`]: the launcher's flags, and the hidden `app` / `proxy` entry points.
//! - [`plan`]: what to start: ports, addresses, the per-run JWT secret, each command line.
//! - [`supervise`]: spawning, restart with back-off, and the orderly stop on Ctrl-C/SIGTERM.
//! - [`tls`]: `--tls`'s local CA and `localhost` certificate, made once and reused.

pub mod cli;
pub mod plan;
pub mod supervise;
pub mod tls;
