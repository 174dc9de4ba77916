//! PLACEHOLDER for `[upstreams.<name>]`; the upstreams engineer's module replaces this file.
//! It parses the documented shape so the gateway can be built and tested against the API.

use std::net::SocketAddr;

use serde::Deserialize;
use shared::config::ConfigError;

/// One upstream group.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Static backends.
    #[serde(default)]
    pub backends: Vec<BackendConfig>,
    /// DNS discovery (ignored by the placeholder).
    #[serde(default)]
    pub dns: Option<toml::Table>,
    /// Balancing policy (ignored by the placeholder).
    #[serde(default)]
    pub balance: Option<String>,
    /// Hash key (ignored by the placeholder).
    #[serde(default)]
    pub hash_key: Option<String>,
    /// Slow start (ignored by the placeholder).
    #[serde(default)]
    pub slow_start_ms: Option<u64>,
    /// Active health checks (ignored by the placeholder).
    #[serde(default)]
    pub health: Option<toml::Table>,
    /// Passive ejection (ignored by the placeholder).
    #[serde(default)]
    pub passive: Option<toml::Table>,
    /// Retry policy.
    #[serde(default)]
    pub retry: RetryConfig,
}

/// One static backend.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// `ip:port`.
    pub addr: SocketAddr,
    /// Relative share of traffic.
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

/// Retry policy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts per request, the first included.
    pub max_attempts: usize,
    /// Retry budget ratio (ignored by the placeholder).
    pub budget_ratio: f64,
    /// Retry budget floor (ignored by the placeholder).
    pub budget_min_retries_per_sec: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            budget_ratio: 0.2,
            budget_min_retries_per_sec: 10,
        }
    }
}

impl UpstreamConfig {
    /// Checks the group.
    ///
    /// # Errors
    ///
    /// No backends, or a zero weight or attempt count.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        if self.backends.is_empty() && self.dns.is_none() {
            return Err(ConfigError::invalid(
                &format!("upstreams.{name}.backends"),
                "give `backends` or `dns`",
            ));
        }
        for (index, backend) in self.backends.iter().enumerate() {
            if backend.weight == 0 {
                return Err(ConfigError::invalid(
                    &format!("upstreams.{name}.backends[{index}].weight"),
                    "must be at least 1",
                ));
            }
        }
        if self.retry.max_attempts == 0 {
            return Err(ConfigError::invalid(
                &format!("upstreams.{name}.retry.max_attempts"),
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// Round robin over `addrs`, weight 1 each.
    pub fn from_addrs(addrs: Vec<SocketAddr>) -> Self {
        Self {
            backends: addrs
                .into_iter()
                .map(|addr| BackendConfig { addr, weight: 1 })
                .collect(),
            dns: None,
            balance: None,
            hash_key: None,
            slow_start_ms: None,
            health: None,
            passive: None,
            retry: RetryConfig::default(),
        }
    }
}
