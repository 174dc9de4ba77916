//! Why the proxy could not start. Request-time failures never surface as Rust errors to
//! callers: the gateway turns them into responses (see `gateway::respond`).

use shared::config::ConfigError;

/// A start-up failure, naming the config key where one is at fault.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A listener address cannot be bound.
    #[error("`{key}`: cannot listen on {addr}: {source}")]
    Bind {
        /// The config key of the listener.
        key: String,
        /// The address.
        addr: std::net::SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// `[tls.acme] storage_dir` cannot be created or opened.
    #[error("`tls.acme.storage_dir`: cannot use {}: {source}", dir.display())]
    AcmeStorage {
        /// The directory.
        dir: std::path::PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The metrics registry rejected a series (a programming error).
    #[error("metrics registry: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The control thread (reloads, health checks) could not start.
    #[error("cannot start the control thread: {0}")]
    Control(#[source] std::io::Error),
}
