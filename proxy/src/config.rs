//! The proxy's configuration: one TOML file (then `PROXY__` environment variables), or the
//! quick-mode flags, into one typed [`Config`] that [`Config::validate`] checks as a whole.
//!
//! Every table denies unknown keys and every error names the key it is about, so
//! `proxy check --config FILE` can tell an operator exactly what to fix.

mod acme;
mod cache;
mod cli;
mod routes;
mod settings;
mod tls;
pub mod upstream;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};
use shared::config::{ConfigError, Sources};

pub use acme::{
    AcmeConfig, DEFAULT_RENEW_BEFORE_DAYS, LETSENCRYPT_PRODUCTION, LETSENCRYPT_STAGING, TlsSection,
};
pub use cache::{CacheConfig, parse_cache_size, parse_size};
pub use cli::{Cli, Command};
pub use routes::{CacheKeyQuery, RouteConfig};
pub use settings::{
    AdminConfig, Limits, ListenerConfig, PublicConfig, ServerSettings, Timeouts, TlsConfig,
    TlsSource,
};
pub use upstream::UpstreamConfig;

/// The environment prefix: `PROXY__SERVER__THREADS=4` sets `server.threads`.
pub const ENV_PREFIX: &str = "PROXY__";

/// The name quick mode gives its single upstream group.
pub const QUICK_UPSTREAM: &str = "default";

/// Everything the proxy needs to start, as read from the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Process-wide settings: threads, shutdown grace, log format, upgrade socket.
    #[serde(default)]
    pub server: ServerSettings,
    /// Public listeners; each is plain HTTP or, with `tls`, HTTPS with h2 by ALPN.
    #[serde(default = "settings::default_listeners")]
    pub listeners: Vec<ListenerConfig>,
    /// The admin listener (metrics, health, status, service discovery).
    #[serde(default)]
    pub admin: AdminConfig,
    /// Connect, response-header, idle and client-header timeouts.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Request header and body size limits.
    #[serde(default)]
    pub limits: Limits,
    /// What the public listeners refuse to forward.
    #[serde(default)]
    pub public: PublicConfig,
    /// Routes, first match wins. Empty with exactly one upstream means "everything to it".
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Named upstream groups of backends.
    #[serde(default)]
    pub upstreams: BTreeMap<String, UpstreamConfig>,
    /// The response cache (off by default).
    #[serde(default)]
    pub cache: CacheConfig,
    /// Certificates shared by the HTTPS listeners: `[tls.acme]`.
    #[serde(default)]
    pub tls: TlsSection,
}

/// Flags never override file keys in `--config` mode; this is the empty flag layer.
#[derive(Debug, Serialize)]
struct NoFlags {}

impl Config {
    /// Reads `path`, then `PROXY__` environment variables, and validates the result.
    ///
    /// # Errors
    ///
    /// A missing or unparsable file, an unknown key, a wrong type, or any failed check
    /// of [`Config::validate`], each naming the key.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let sources = Sources {
            file: Some(path),
            env_prefix: Some(ENV_PREFIX),
        };
        let config: Self = shared::config::load(sources, &NoFlags {})?;
        config.validate()?;
        Ok(config)
    }

    /// Quick mode: one listener, one round-robin upstream of `backends`, an admin listener,
    /// and a response cache of `cache_bytes` when given and not zero.
    ///
    /// # Errors
    ///
    /// When no backend is given or the result fails validation.
    pub fn quick(
        listen: SocketAddr,
        backends: Vec<SocketAddr>,
        admin: Option<SocketAddr>,
        cache_bytes: Option<u64>,
    ) -> Result<Self, ConfigError> {
        if backends.is_empty() {
            return Err(ConfigError::invalid(
                "--backend",
                "give at least one backend address",
            ));
        }
        let mut upstreams = BTreeMap::new();
        upstreams.insert(
            QUICK_UPSTREAM.to_owned(),
            UpstreamConfig::from_addrs(backends),
        );
        let config = Self {
            server: ServerSettings::default(),
            listeners: vec![ListenerConfig::plain(listen)],
            admin: AdminConfig {
                addr: admin.unwrap_or_else(|| AdminConfig::default().addr),
                ..AdminConfig::default()
            },
            timeouts: Timeouts::default(),
            limits: Limits::default(),
            public: PublicConfig::default(),
            routes: Vec::new(),
            upstreams,
            cache: cache_bytes
                .filter(|bytes| *bytes > 0)
                .map(CacheConfig::sized)
                .unwrap_or_default(),
            tls: TlsSection::default(),
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot: TLS files load, routes point at
    /// upstreams that exist, every upstream is valid, and numbers are in range.
    ///
    /// # Errors
    ///
    /// The first problem found, naming its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate()?;
        if self.listeners.is_empty() {
            return Err(ConfigError::invalid(
                "listeners",
                "at least one listener is needed",
            ));
        }
        for (index, listener) in self.listeners.iter().enumerate() {
            listener.validate(&format!("listeners[{index}]"))?;
        }
        let has_tls = self.listeners.iter().any(|l| l.tls.is_some());
        let redirecting = self.listeners.iter().position(|l| l.redirect_to_https);
        if let (Some(index), false) = (redirecting, has_tls) {
            return Err(ConfigError::invalid(
                &format!("listeners[{index}].redirect_to_https"),
                "no listener has `tls`, so there is no HTTPS port to redirect to",
            ));
        }
        self.validate_acme()?;
        self.admin.validate()?;
        self.timeouts.validate()?;
        self.limits.validate()?;
        self.public.validate()?;
        self.cache.validate()?;
        let admin_loopback = self.admin.addr.ip().is_loopback();
        if self.cache.enabled && !admin_loopback && self.admin.token.is_none() {
            return Err(ConfigError::invalid(
                "admin.token",
                "the cache is on and the admin listener is not on loopback, so purging needs a token",
            ));
        }
        for (name, upstream) in &self.upstreams {
            if name.is_empty() {
                return Err(ConfigError::invalid(
                    "upstreams",
                    "an upstream name is empty",
                ));
            }
            upstream.validate(name)?;
        }
        if self.upstreams.is_empty() {
            return Err(ConfigError::invalid(
                "upstreams",
                "at least one upstream is needed",
            ));
        }
        if self.routes.is_empty() && self.upstreams.len() > 1 {
            return Err(ConfigError::invalid(
                "routes",
                "several upstreams are configured, so routes must say which one serves what",
            ));
        }
        for (index, route) in self.routes.iter().enumerate() {
            route.validate(&format!("routes[{index}]"), &self.upstreams)?;
        }
        Ok(())
    }

    /// `tls = { acme = true }` needs `[tls.acme]`; `[tls.acme]` needs a listener that uses
    /// it, and a plain-HTTP listener for the CA's HTTP-01 requests (Pingora's listener
    /// cannot offer `acme-tls/1` beside h2 and HTTP/1.1, so TLS-ALPN-01 is not available).
    fn validate_acme(&self) -> Result<(), ConfigError> {
        let uses_acme = self
            .listeners
            .iter()
            .position(|l| l.tls.as_ref().is_some_and(|tls| tls.acme));
        let Some(acme) = &self.tls.acme else {
            return match uses_acme {
                Some(index) => Err(ConfigError::invalid(
                    &format!("listeners[{index}].tls.acme"),
                    "needs a [tls.acme] table (domains, contact_email, ...) to order the certificate",
                )),
                None => Ok(()),
            };
        };
        acme.validate()?;
        if uses_acme.is_none() {
            return Err(ConfigError::invalid(
                "tls.acme",
                "no listener uses it: add `tls = { acme = true }` to an HTTPS listener",
            ));
        }
        if self.listeners.iter().all(|l| l.tls.is_some()) {
            return Err(ConfigError::invalid(
                "tls.acme",
                "HTTP-01 validation needs a plain-HTTP listener (port 80 as the CA sees it); add one without `tls`",
            ));
        }
        Ok(())
    }

    /// The routes in force: the configured ones, or one catch-all to the only upstream.
    pub fn effective_routes(&self) -> Vec<RouteConfig> {
        if !self.routes.is_empty() {
            return self.routes.clone();
        }
        self.upstreams
            .keys()
            .next()
            .map(|name| vec![RouteConfig::catch_all(name)])
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
