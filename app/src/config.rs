//! The app's typed configuration: command-line flags (with their documented environment
//! names) over `APP__*` environment variables over an optional TOML file.
//!
//! Four settings are contracts and have both a flag and a plain environment name:
//! `--listen`/`APP_LISTEN`, `--database-url`/`DATABASE_URL`, `--jwt-secret`/`JWT_SECRET` and
//! `--instance-id`/`APP_INSTANCE`. Everything else lives in the file (or `APP__KEY`).

mod flags;
mod oauth;

use std::fmt;
use std::net::SocketAddr;

use serde::Deserialize;
use shared::config::{ConfigError, Sources};
use shared::forwarding::TrustedProxies;
use shared::telemetry::LogFormat;

pub use flags::{Flags, JWT_SECRET_ENV};
pub use oauth::{OauthConfig, ProviderConfig, ProviderKind};

/// The environment prefix of file keys: `APP__MAX_UPLOAD_BYTES=1048576` sets
/// `max_upload_bytes`.
pub const ENV_PREFIX: &str = "APP__";

/// The shortest JWT secret the app accepts, in bytes.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// Everything the app needs to run, validated.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port, and `localhost:PORT` is 127.0.0.1
    /// (the rule of [`shared::config::address`]).
    #[serde(deserialize_with = "shared::config::address::deserialize_socket_addr")]
    pub listen: SocketAddr,
    /// `sqlite://PATH` (the file and its directory are created) or `postgres://...`.
    pub database_url: String,
    /// Secret for HS256 tokens, shared by every instance. Never logged.
    pub jwt_secret: Secret,
    /// Name sent in `X-Instance`; defaults to `HOSTNAME-PID`.
    pub instance_id: Option<String>,
    /// Largest accepted CSV upload, in bytes.
    pub max_upload_bytes: u64,
    /// How long a draining instance keeps serving after `/readyz` turns 503, in seconds.
    pub drain_secs: u64,
    /// After the drain: how long requests still in flight (and database connections still
    /// in use) may take before the instance exits anyway, in seconds.
    pub shutdown_timeout_secs: u64,
    /// How long a token stays valid, in seconds.
    pub token_lifetime_secs: u64,
    /// Failed logins for one account from one client address within the window before
    /// that address gets 429 for that account; the owner elsewhere is not locked out.
    pub login_max_failures_per_account_and_ip: u32,
    /// Failed logins for one account from all addresses together within the window before
    /// every login to it answers 429: the ceiling on guesses against one account.
    pub login_max_failures_per_account: u32,
    /// Longest wait before verifying a login to an account that many addresses are
    /// guessing at, in milliseconds; the wait grows from 100 ms once the account has more
    /// failures than one address may have. 0 turns it off.
    pub login_delay_max_ms: u64,
    /// Failed logins from one client IP within the window before logins answer 429.
    pub login_max_failures_per_ip: u32,
    /// The sliding window over which failed logins count, in seconds.
    pub login_window_secs: u64,
    /// Registrations attempted from one client address within `register_window_secs`
    /// before registering answers 429.
    pub register_max_per_ip: u32,
    /// The sliding window over which registrations count, in seconds.
    pub register_window_secs: u64,
    /// Password hashes (argon2id, 19 MiB each) computed at once; the rest queue for
    /// `max_queue_wait_ms`, then get 503. Defaults to the number of CPUs.
    pub max_concurrent_hashes: usize,
    /// Uploads analysed at once; the rest queue for `max_queue_wait_ms`, then get 503.
    /// Defaults to the number of CPUs.
    pub max_concurrent_analyses: usize,
    /// Longest wait for a hashing or analysis slot before answering 503, in milliseconds.
    pub max_queue_wait_ms: u64,
    /// Longest pause between two pieces of an upload's body before answering 408 and
    /// storing nothing, in milliseconds.
    pub body_idle_timeout_ms: u64,
    /// Most columns an uploaded CSV may have; more is 422, decided from the header.
    pub max_columns: usize,
    /// Longest text kept from a cell (or column name) in statistics, top values and the
    /// preview, in characters; longer text is cut and marked truncated.
    pub max_cell_chars: usize,
    /// Largest stored analysis (its JSON), in bytes; a bigger one is 422.
    pub max_analysis_bytes: u64,
    /// Largest number of database connections this instance holds.
    pub db_max_connections: u32,
    /// How often an idle live stream gets a heartbeat (SSE comment or WebSocket ping), in
    /// milliseconds; below the idle timeouts of proxies in between.
    pub heartbeat_interval_ms: u64,
    /// Longest wait for a database connection before the request answers 503, in ms.
    pub db_acquire_timeout_ms: u64,
    /// Long polls (`GET /api/events/poll`) this instance holds open at once; one more
    /// answers 503 with `Retry-After`, so waiting clients cannot exhaust the instance.
    pub max_concurrent_polls: usize,
    /// Requests in a row that find the database unreachable before the breaker opens and
    /// the ones after answer 503 at once.
    pub db_breaker_failures_to_open: u32,
    /// How often the open breaker probes the database, in ms; the first probe that
    /// succeeds closes it.
    pub db_breaker_probe_interval_ms: u64,
    /// `human` or `json` log lines.
    pub log_format: LogFormat,
    /// Peers (CIDR blocks or addresses) whose `X-Forwarded-For` is believed: the proxies in
    /// front of the app. The client's address, which the login limits and the access log
    /// use, is the right-most hop not in this list; a peer outside it is the client.
    /// Default: loopback and private networks (127.0.0.0/8, ::1, 10.0.0.0/8,
    /// 172.16.0.0/12, 192.168.0.0/16, fc00::/7).
    pub trusted_proxies: TrustedProxies,
    /// Sign-in with OAuth 2.0 / OpenID Connect providers: `[oauth]` and
    /// `[[oauth.providers]]`.
    pub oauth: OauthConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            database_url: "sqlite://data/app.db".to_owned(),
            jwt_secret: Secret(String::new()),
            instance_id: None,
            max_upload_bytes: 20 * 1024 * 1024,
            drain_secs: 5,
            shutdown_timeout_secs: 10,
            token_lifetime_secs: 24 * 60 * 60,
            login_max_failures_per_account_and_ip: 5,
            login_max_failures_per_account: 50,
            login_delay_max_ms: 2_000,
            login_max_failures_per_ip: 20,
            login_window_secs: 15 * 60,
            register_max_per_ip: 10,
            register_window_secs: 60 * 60,
            max_concurrent_hashes: cpus(),
            max_concurrent_analyses: cpus(),
            max_queue_wait_ms: 2_000,
            body_idle_timeout_ms: 15_000,
            max_columns: 1_000,
            max_cell_chars: 200,
            max_analysis_bytes: 4 * 1024 * 1024,
            db_max_connections: 10,
            heartbeat_interval_ms: 15_000,
            db_acquire_timeout_ms: 1000,
            max_concurrent_polls: 1_000,
            db_breaker_failures_to_open: 3,
            db_breaker_probe_interval_ms: 500,
            log_format: LogFormat::Human,
            trusted_proxies: TrustedProxies::local_and_private(),
            oauth: OauthConfig::default(),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("jwt_secret", &self.jwt_secret)
            .field("instance_id", &self.instance_id)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("drain_secs", &self.drain_secs)
            .field("shutdown_timeout_secs", &self.shutdown_timeout_secs)
            .field("trusted_proxies", &self.trusted_proxies.to_string())
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The defaults with a database and a secret, for embedding the app (tests, benches).
    pub fn new(database_url: impl Into<String>, jwt_secret: impl Into<String>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            jwt_secret: Secret(jwt_secret.into()),
            ..Self::default()
        }
    }

    /// Loads file, then `APP__*` environment, then flags, and validates the result.
    ///
    /// # Errors
    ///
    /// A bad file or value, named by key, or a missing or short secret.
    pub fn load(flags: &Flags) -> Result<Self, ConfigError> {
        let sources = Sources {
            file: flags.config.as_deref(),
            env_prefix: Some(ENV_PREFIX),
        };
        let config: Self = shared::config::load(sources, flags)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot.
    ///
    /// # Errors
    ///
    /// The offending key and why.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.jwt_secret.expose().is_empty() {
            return Err(ConfigError::invalid(
                "jwt_secret",
                "no JWT secret: pass --jwt-secret or set JWT_SECRET \
                 (the same secret on every instance)",
            ));
        }
        if is_placeholder(self.jwt_secret.expose()) {
            return Err(ConfigError::invalid(
                "jwt_secret",
                "the JWT secret from --jwt-secret or JWT_SECRET is a placeholder (it says \
                 CHANGE-ME); make a real one, e.g. with `openssl rand -base64 48`",
            ));
        }
        if self.jwt_secret.expose().len() < MIN_JWT_SECRET_BYTES {
            return Err(ConfigError::invalid(
                "jwt_secret",
                format!(
                    "the JWT secret from --jwt-secret or JWT_SECRET must be at least \
                     {MIN_JWT_SECRET_BYTES} bytes"
                ),
            ));
        }
        if let Some(id) = &self.instance_id {
            if id.is_empty() || http::HeaderValue::from_str(id).is_err() {
                return Err(ConfigError::invalid(
                    "instance_id",
                    "must be non-empty visible ASCII (it is sent as a header)",
                ));
            }
        }
        if crate::db::Backend::of_url(&self.database_url).is_err() {
            return Err(ConfigError::invalid(
                "database_url",
                crate::db::Backend::EXPECTED,
            ));
        }
        if self.max_upload_bytes == 0 {
            return Err(ConfigError::invalid("max_upload_bytes", "must be above 0"));
        }
        if self.token_lifetime_secs == 0 {
            return Err(ConfigError::invalid(
                "token_lifetime_secs",
                "must be above 0",
            ));
        }
        let positive = [
            ("db_max_connections", self.db_max_connections as u64),
            (
                "login_max_failures_per_account_and_ip",
                u64::from(self.login_max_failures_per_account_and_ip),
            ),
            (
                "login_max_failures_per_account",
                u64::from(self.login_max_failures_per_account),
            ),
            (
                "login_max_failures_per_ip",
                u64::from(self.login_max_failures_per_ip),
            ),
            ("login_window_secs", self.login_window_secs),
            ("register_max_per_ip", u64::from(self.register_max_per_ip)),
            ("register_window_secs", self.register_window_secs),
            ("max_concurrent_hashes", self.max_concurrent_hashes as u64),
            (
                "max_concurrent_analyses",
                self.max_concurrent_analyses as u64,
            ),
            ("body_idle_timeout_ms", self.body_idle_timeout_ms),
            ("max_columns", self.max_columns as u64),
            ("max_cell_chars", self.max_cell_chars as u64),
            ("max_analysis_bytes", self.max_analysis_bytes),
            ("max_concurrent_polls", self.max_concurrent_polls as u64),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(ConfigError::invalid(key, "must be above 0"));
        }
        for (key, value) in [
            ("heartbeat_interval_ms", self.heartbeat_interval_ms),
            ("db_acquire_timeout_ms", self.db_acquire_timeout_ms),
            (
                "db_breaker_failures_to_open",
                self.db_breaker_failures_to_open.into(),
            ),
            (
                "db_breaker_probe_interval_ms",
                self.db_breaker_probe_interval_ms,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be above 0"));
            }
        }
        self.oauth.validate()
    }

    /// How often an idle live stream gets a heartbeat.
    pub fn heartbeat_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.heartbeat_interval_ms)
    }

    /// The configured instance id, or `HOSTNAME-PID`.
    pub fn instance_name(&self) -> String {
        if let Some(id) = &self.instance_id {
            return id.clone();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty() && name.is_ascii())
            .unwrap_or_else(|| "app".to_owned());
        format!("{host}-{}", std::process::id())
    }
}

/// The CPUs this process may use, for the defaults of the concurrency limits.
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Whether a secret is a placeholder someone forgot to replace, such as `.env.example`'s
/// `CHANGE-ME-...`: it says "change me" in any case, with or without a separator.
fn is_placeholder(secret: &str) -> bool {
    let letters: String = secret
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    letters.contains("changeme")
}

/// A string that never appears in `Debug` output or logs.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that signs with it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// `postgres://user:password@host/db` without the password, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests;
