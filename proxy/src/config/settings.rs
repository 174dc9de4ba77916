//! The non-upstream tables of the config file: `[server]`, `[[listeners]]`, `[admin]`,
//! `[timeouts]`, `[limits]` and `[public]`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use shared::config::ConfigError;
use shared::forwarding::TrustedProxies;
use shared::telemetry::LogFormat;

/// `[server]`: process-wide settings, read once at start (a reload does not change them,
/// except `trusted_proxies`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Worker threads for the public listeners. By default, the CPUs this process may run
    /// on ([`available_cpus`]: its affinity mask and cgroup CPU quota).
    pub threads: usize,
    /// On SIGTERM: stop accepting, then give in-flight requests this many seconds.
    pub grace_period_secs: u64,
    /// After the grace period: how long the runtimes get to wind down, in seconds.
    pub graceful_shutdown_timeout_secs: u64,
    /// `human` or `json`; access-log lines follow it.
    pub log_format: LogFormat,
    /// Log lines (access lines above all) queued for the background writer at most; past
    /// that, lines are dropped and counted in `proxy_access_log_dropped_total` rather than
    /// making a request wait on a slow or stalled log reader.
    pub log_queue_lines: usize,
    /// Absolute path of the socket a new binary started with `--upgrade` takes the
    /// listening sockets over from (Pingora's graceful binary upgrade, on SIGQUIT).
    pub upgrade_sock: String,
    /// Peers (CIDR blocks or addresses, e.g. `["10.0.0.0/8", "::1"]`) whose
    /// `X-Forwarded-For`, `-Proto`, `-Host` and `Forwarded` are kept and appended to: a
    /// CDN or balancer in front of the proxy. From anyone else they are replaced by what
    /// the proxy saw. Empty by default: every client is untrusted. A reload applies it.
    pub trusted_proxies: TrustedProxies,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            threads: available_cpus(),
            grace_period_secs: 5,
            graceful_shutdown_timeout_secs: 3,
            log_format: LogFormat::Human,
            log_queue_lines: 16_384,
            upgrade_sock: "/tmp/flotilla-proxy-upgrade.sock".to_owned(),
            trusted_proxies: TrustedProxies::none(),
        }
    }
}

/// How many CPUs this process may use: the affinity mask (`taskset`, a container's
/// cpuset) and the cgroup CPU quota count, not just the machine's cores; 1 if unknown.
pub(crate) fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

impl ServerSettings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.threads == 0 {
            return Err(ConfigError::invalid("server.threads", "must be at least 1"));
        }
        if self.log_queue_lines == 0 {
            return Err(ConfigError::invalid(
                "server.log_queue_lines",
                "must be at least 1",
            ));
        }
        if !self.upgrade_sock.starts_with('/') {
            return Err(ConfigError::invalid(
                "server.upgrade_sock",
                "must be an absolute path",
            ));
        }
        Ok(())
    }
}

pub(super) fn default_listeners() -> Vec<ListenerConfig> {
    vec![ListenerConfig::plain(SocketAddr::from((
        [0, 0, 0, 0],
        8080,
    )))]
}

/// `[[listeners]]`: one public socket.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// `ip:port` to listen on; `localhost:PORT` is 127.0.0.1 (the rule of
    /// [`shared::config::address`]).
    #[serde(deserialize_with = "shared::config::address::deserialize_socket_addr")]
    pub addr: SocketAddr,
    /// With this, the listener speaks HTTPS and offers h2 then HTTP/1.1 by ALPN.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// On a plain listener: answer each request with a `308` to the same path and query
    /// over HTTPS, on the first TLS listener's port, instead of serving it. ACME
    /// challenges and `[public] health_path` are still served over HTTP. Only on a
    /// listener without `tls`, and only when some listener has one.
    #[serde(default)]
    pub redirect_to_https: bool,
    /// On a TLS listener: every response sent over it carries
    /// `Strict-Transport-Security: max-age=N`, so browsers use HTTPS for the host for the
    /// next N seconds (31536000 is a year; 0 tells them to forget it). Unset: no header.
    #[serde(default)]
    pub hsts_max_age_secs: Option<u64>,
    /// With `hsts_max_age_secs`: add `includeSubDomains`, so every subdomain of the host
    /// must be HTTPS too. Off by default.
    #[serde(default)]
    pub hsts_include_subdomains: bool,
}

impl ListenerConfig {
    /// A plain HTTP listener on `addr` with no redirect.
    pub fn plain(addr: SocketAddr) -> Self {
        Self {
            addr,
            tls: None,
            redirect_to_https: false,
            hsts_max_age_secs: None,
            hsts_include_subdomains: false,
        }
    }

    pub(super) fn validate(&self, key: &str) -> Result<(), ConfigError> {
        match &self.tls {
            Some(tls) => {
                let key = format!("{key}.tls");
                match tls.source() {
                    Some(TlsSource::Files { cert, key: private }) => {
                        super::tls::check_files(&key, cert, private)?;
                    }
                    Some(TlsSource::Acme) => {}
                    None if tls.acme => {
                        return Err(ConfigError::invalid(
                            &key,
                            "`acme = true` takes the certificate from [tls.acme]; drop cert_path and key_path",
                        ));
                    }
                    None => {
                        return Err(ConfigError::invalid(
                            &key,
                            "give both cert_path and key_path, or acme = true",
                        ));
                    }
                }
            }
            None => {
                let misplaced = [
                    ("hsts_max_age_secs", self.hsts_max_age_secs.is_some()),
                    ("hsts_include_subdomains", self.hsts_include_subdomains),
                ];
                if let Some((name, _)) = misplaced.iter().find(|(_, set)| *set) {
                    return Err(ConfigError::invalid(
                        &format!("{key}.{name}"),
                        "only a listener with `tls` sends HSTS (browsers ignore it over HTTP)",
                    ));
                }
            }
        }
        if self.tls.is_some() && self.redirect_to_https {
            return Err(ConfigError::invalid(
                &format!("{key}.redirect_to_https"),
                "only on a listener without `tls`: this one already speaks HTTPS",
            ));
        }
        if self.hsts_include_subdomains && self.hsts_max_age_secs.is_none() {
            return Err(ConfigError::invalid(
                &format!("{key}.hsts_include_subdomains"),
                "needs `hsts_max_age_secs` on the same listener",
            ));
        }
        Ok(())
    }
}

/// `tls = { cert_path, key_path }` or `tls = { acme = true }` on a listener.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    #[serde(default)]
    pub cert_path: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) matching the certificate.
    #[serde(default)]
    pub key_path: Option<PathBuf>,
    /// `true`: serve the certificate `[tls.acme]` orders and renews, instead of files.
    #[serde(default)]
    pub acme: bool,
}

/// Where a listener's certificate comes from, once [`TlsConfig`] is validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsSource<'a> {
    /// A certificate chain and key read from files at start.
    Files {
        /// PEM certificate chain.
        cert: &'a std::path::Path,
        /// PEM private key.
        key: &'a std::path::Path,
    },
    /// The `[tls.acme]` certificate, swapped in place on renewal.
    Acme,
}

impl TlsConfig {
    /// The certificate's source; `None` only for a table [`ListenerConfig::validate`]
    /// refuses.
    pub fn source(&self) -> Option<TlsSource<'_>> {
        match (self.acme, &self.cert_path, &self.key_path) {
            (true, None, None) => Some(TlsSource::Acme),
            (false, Some(cert), Some(key)) => Some(TlsSource::Files { cert, key }),
            _ => None,
        }
    }
}

/// `[admin]`: the operator's listener; keep it on loopback or a private network.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// `ip:port` serving the dashboard, `/metrics`, `/healthz`, `/status` and `/sd`;
    /// `localhost:PORT` is 127.0.0.1.
    #[serde(deserialize_with = "shared::config::address::deserialize_socket_addr")]
    pub addr: SocketAddr,
    /// The bearer token the actions (drain, undrain, cache purge) require. Without one,
    /// actions are allowed on a loopback `addr` and refused (403) elsewhere; with the
    /// cache on and `addr` off loopback it is mandatory. `purge_token` is its old name.
    #[serde(alias = "purge_token")]
    pub token: Option<String>,
    /// How many dashboard event streams (`/events`) may be open at once; more are
    /// answered 503 with `Retry-After`.
    pub max_event_streams: usize,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8081)),
            token: None,
            max_event_streams: 16,
        }
    }
}

impl AdminConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_event_streams == 0 {
            return Err(ConfigError::invalid(
                "admin.max_event_streams",
                "must be above 0",
            ));
        }
        Ok(())
    }
}

/// `[timeouts]`, all in milliseconds.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// TCP connect to a backend; past it the attempt counts as a connect failure.
    pub connect_ms: u64,
    /// Longest wait for any byte from a backend while a plain request is outstanding.
    /// Not applied to WebSocket upgrades or `Accept: text/event-stream` requests, which
    /// live as long as the client keeps them.
    pub response_header_ms: u64,
    /// How long an unused keep-alive connection to a backend stays pooled. Kept below the
    /// backends' own keep-alive timeout (Node and uvicorn close idle connections after 5 s),
    /// so the proxy never sends a request on a connection the backend is closing; a
    /// backend's `Keep-Alive: timeout=N` shortens it further for that backend.
    pub upstream_idle_ms: u64,
    /// A client must send each request head within this, counted from its first byte
    /// (the first head: from the connection's accept). Past it the connection is closed
    /// (slowloris protection).
    pub client_header_ms: u64,
    /// A keep-alive client connection with no request in progress is closed after this.
    pub client_idle_ms: u64,
    /// While a request body is arriving, the longest gap between two reads that bring
    /// bytes; past it the client gets 408 and the connection closes.
    pub client_body_idle_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect_ms: 1_000,
            response_header_ms: 30_000,
            upstream_idle_ms: 4_000,
            client_header_ms: 10_000,
            client_idle_ms: 60_000,
            client_body_idle_ms: 15_000,
        }
    }
}

impl Timeouts {
    /// [`Self::connect_ms`] as a duration.
    pub fn connect(&self) -> Duration {
        Duration::from_millis(self.connect_ms)
    }
    /// [`Self::response_header_ms`] as a duration.
    pub fn response_header(&self) -> Duration {
        Duration::from_millis(self.response_header_ms)
    }
    /// [`Self::upstream_idle_ms`] as a duration.
    pub fn upstream_idle(&self) -> Duration {
        Duration::from_millis(self.upstream_idle_ms)
    }
    /// [`Self::client_header_ms`] as a duration.
    pub fn client_header(&self) -> Duration {
        Duration::from_millis(self.client_header_ms)
    }
    /// [`Self::client_idle_ms`] as a duration.
    pub fn client_idle(&self) -> Duration {
        Duration::from_millis(self.client_idle_ms)
    }
    /// [`Self::client_body_idle_ms`] as a duration.
    pub fn client_body_idle(&self) -> Duration {
        Duration::from_millis(self.client_body_idle_ms)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("timeouts.connect_ms", self.connect_ms),
            ("timeouts.response_header_ms", self.response_header_ms),
            ("timeouts.upstream_idle_ms", self.upstream_idle_ms),
            ("timeouts.client_header_ms", self.client_header_ms),
            ("timeouts.client_idle_ms", self.client_idle_ms),
            ("timeouts.client_body_idle_ms", self.client_body_idle_ms),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be greater than 0"));
            }
        }
        Ok(())
    }
}

/// `[limits]`: sizes past which a request is refused.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Request line plus headers; larger gets 431.
    pub max_request_header_bytes: usize,
    /// Request body; larger gets 413 (from `Content-Length` before forwarding, or when a
    /// streamed body crosses the limit).
    pub max_request_body_bytes: u64,
    /// Client connections open at once on the public listeners; a connection past it is
    /// answered 503 (with `Retry-After`) and closed. The proxy raises its open-file limit
    /// to the hard limit at start; keep this below that figure.
    pub max_connections: usize,
    /// Client connections open at once from one IP address; past it, as for
    /// `max_connections`, so one client cannot take every slot.
    pub max_connections_per_ip: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_header_bytes: 16 * 1024,
            max_request_body_bytes: 100 * 1024 * 1024,
            max_connections: 10_000,
            max_connections_per_ip: 1_000,
        }
    }
}

impl Limits {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_request_header_bytes < 256 {
            return Err(ConfigError::invalid(
                "limits.max_request_header_bytes",
                "must be at least 256",
            ));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::invalid(
                "limits.max_connections",
                "must be at least 1",
            ));
        }
        if self.max_connections_per_ip == 0 {
            return Err(ConfigError::invalid(
                "limits.max_connections_per_ip",
                "must be at least 1",
            ));
        }
        if self.max_connections_per_ip > self.max_connections {
            return Err(ConfigError::invalid(
                "limits.max_connections_per_ip",
                format!(
                    "must not exceed limits.max_connections ({})",
                    self.max_connections
                ),
            ));
        }
        Ok(())
    }
}

/// `[public]`: what the public listeners never forward.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublicConfig {
    /// Paths answered 404 on the public listeners, matched exactly and as a prefix
    /// followed by `/`. The default keeps the app instances' operational endpoints
    /// private; set `deny_paths = []` to expose them.
    pub deny_paths: Vec<String>,
    /// The proxy's own health endpoint on the public listeners: answered `200 ok` by the
    /// proxy itself (never forwarded) while it runs, for a platform's health check
    /// (Render, a load balancer in front). `""` turns it off.
    pub health_path: String,
}

impl Default for PublicConfig {
    fn default() -> Self {
        Self {
            deny_paths: vec!["/metrics".into(), "/healthz".into(), "/readyz".into()],
            health_path: "/.flotilla/health".into(),
        }
    }
}

impl PublicConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !self.health_path.is_empty() && !self.health_path.starts_with('/') {
            return Err(ConfigError::invalid(
                "public.health_path",
                format!(
                    "`{}` must start with `/` (or be \"\" for none)",
                    self.health_path
                ),
            ));
        }
        for (index, path) in self.deny_paths.iter().enumerate() {
            if !path.starts_with('/') {
                return Err(ConfigError::invalid(
                    &format!("public.deny_paths[{index}]"),
                    format!("`{path}` must start with `/`"),
                ));
            }
        }
        Ok(())
    }
}
