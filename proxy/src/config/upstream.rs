//! `[upstreams.<name>]`: one named group of interchangeable backends, how requests are
//! spread over them, how their health is judged and how retries are rationed.
//!
//! Every table denies unknown keys and every field has a default except the member list,
//! so the smallest valid group is `backends = [{ addr = "127.0.0.1:3001" }]`. Deserializing
//! checks types and addresses; [`UpstreamConfig::validate`] checks everything that spans fields, naming the
//! full key (`upstreams.app.backends[1].addr`) in its error.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use http::HeaderName;
use serde::{Deserialize, Serialize};
use shared::config::ConfigError;

/// One upstream group as written in the config file (or built by quick mode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// A static member list; exactly one of `backends` or `dns` must be given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backends: Option<Vec<BackendConfig>>,
    /// Members found by resolving a DNS name at an interval (Compose `--scale`, Kubernetes
    /// headless services); exactly one of `backends` or `dns` must be given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsConfig>,
    /// How each request's backend is chosen.
    #[serde(default)]
    pub balance: Balance,
    /// What `consistent_hash` hashes; required if and only if `balance = "consistent_hash"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_key: Option<HashKey>,
    /// How long a readmitted (or newly added) backend takes to ramp from about 10% to its full
    /// weight; 0 turns slow start off.
    #[serde(default)]
    pub slow_start_ms: u64,
    /// Active HTTP health checks.
    #[serde(default)]
    pub health: HealthConfig,
    /// Ejection of backends that fail live requests.
    #[serde(default)]
    pub passive: PassiveConfig,
    /// How often one request may be tried, and how many retries the group may spend.
    #[serde(default)]
    pub retry: RetryConfig,
}

/// One statically listed backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// `IP:port`, or `localhost:PORT` for 127.0.0.1 (the rule of
    /// [`shared::config::address`]); other names are refused: `dns` is for names.
    #[serde(deserialize_with = "backend_addr")]
    pub addr: SocketAddr,
    /// Relative share of traffic (1..=1000), honoured by every policy.
    #[serde(default = "one")]
    pub weight: u32,
}

/// A DNS name whose A/AAAA answers are the group's members (each with weight 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// The name to resolve, e.g. `app` under Compose.
    pub name: String,
    /// The port every resolved address is reached on.
    pub port: u16,
    /// How often the name is resolved again. An empty or failed answer keeps the last good set.
    #[serde(default = "default_dns_refresh_ms")]
    pub refresh_interval_ms: u64,
}

/// The balancing policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    /// Each eligible backend in turn; exact over the eligible set. Unequal weights are
    /// honoured by interleaving, as under `weighted_round_robin`.
    #[default]
    RoundRobin,
    /// nginx's smooth weighted round robin: heavy backends are interleaved, not bunched.
    WeightedRoundRobin,
    /// Power of two choices: of two random eligible backends, the one with fewer requests in
    /// flight per unit of weight.
    LeastOutstanding,
    /// A hash ring keyed by `hash_key`, so one key keeps landing on one backend.
    ConsistentHash,
}

/// What a consistent-hash key is taken from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum HashKey {
    /// `header:NAME`: the value of a request header.
    Header(HeaderName),
    /// `cookie:NAME`: the value of one cookie.
    Cookie(String),
    /// `client_ip`: the client's address (without port).
    ClientIp,
}

impl TryFrom<String> for HashKey {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        if text == "client_ip" {
            return Ok(Self::ClientIp);
        }
        if let Some(name) = text.strip_prefix("header:") {
            return HeaderName::from_bytes(name.as_bytes())
                .map(Self::Header)
                .map_err(|_| format!("`{name}` is not a valid header name"));
        }
        if let Some(name) = text.strip_prefix("cookie:") {
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
            return if valid {
                Ok(Self::Cookie(name.to_owned()))
            } else {
                Err(format!("`{name}` is not a valid cookie name"))
            };
        }
        Err(format!(
            "`{text}` is not a hash key; use \"header:NAME\", \"cookie:NAME\" or \"client_ip\""
        ))
    }
}

impl From<HashKey> for String {
    fn from(key: HashKey) -> Self {
        key.to_string()
    }
}

impl fmt::Display for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header(name) => write!(f, "header:{name}"),
            Self::Cookie(name) => write!(f, "cookie:{name}"),
            Self::ClientIp => f.write_str("client_ip"),
        }
    }
}

/// Active checks: `GET path` on every backend at an interval, judged by status code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Turns active checks off; every member then counts as healthy (passive ejection still
    /// applies).
    pub enabled: bool,
    /// The path requested.
    pub path: String,
    /// Time between the starts of two checks of one backend.
    pub interval_ms: u64,
    /// Limit on connect plus response head; a backend that accepts but never answers fails.
    pub timeout_ms: u64,
    /// Consecutive passed checks that bring a down backend back.
    pub rise: u32,
    /// Consecutive failed checks that take a backend down.
    pub fall: u32,
    /// The status, or list of statuses, that pass.
    pub expected_status: ExpectedStatus,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            path: "/healthz".to_owned(),
            interval_ms: 1000,
            timeout_ms: 500,
            rise: 2,
            fall: 2,
            expected_status: ExpectedStatus::One(200),
        }
    }
}

impl HealthConfig {
    /// The check interval as a duration.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }

    /// The check timeout as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Statuses that count as a passed check: `200` or `[200, 204]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExpectedStatus {
    /// A single status code.
    One(u16),
    /// Any of several status codes.
    Many(Vec<u16>),
}

impl ExpectedStatus {
    /// The accepted codes as a slice.
    pub fn codes(&self) -> &[u16] {
        match self {
            Self::One(code) => std::slice::from_ref(code),
            Self::Many(codes) => codes,
        }
    }
}

/// Passive ejection: live failures take a backend out for a growing back-off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PassiveConfig {
    /// Consecutive failed connections (refused, reset, timed out) that eject a backend;
    /// 0 turns passive ejection off. A refused connection always ejects; the other
    /// failures, and 5xx answers, eject only while at least half of the group stays
    /// eligible. A timeout while the client was still sending its body is the client's
    /// fault and never counts.
    pub failures_to_eject: u32,
    /// Consecutive 5xx answers that eject a backend (as Envoy's outlier detection), so a
    /// single failing request cannot take a healthy backend out. Any other answer starts
    /// the count over. Only with `eject_on_5xx`.
    pub consecutive_5xx_to_eject: u32,
    /// Whether 5xx answers count towards ejection at all.
    pub eject_on_5xx: bool,
    /// The first ejection's length; each repeat doubles it.
    pub base_ejection_ms: u64,
    /// The longest ejection; also the quiet period after which the doubling starts over.
    pub max_ejection_ms: u64,
}

impl Default for PassiveConfig {
    fn default() -> Self {
        Self {
            failures_to_eject: 1,
            consecutive_5xx_to_eject: 5,
            eject_on_5xx: true,
            base_ejection_ms: 2000,
            max_ejection_ms: 30_000,
        }
    }
}

/// Retry limits for requests to this group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Total attempts for one request, the first included (>= 1).
    pub max_attempts: u32,
    /// Retries allowed as a fraction of the requests of the last 10 s.
    pub budget_ratio: f64,
    /// Retries always allowed per second, however little traffic there was.
    pub budget_min_retries_per_sec: u32,
    /// Hedged requests: a `GET` or `HEAD` without a body that has no response head after
    /// the hedge delay is sent to a second backend as well, and the first head wins. Hedges
    /// count against `max_attempts` and the retry budget. Off: no hedge (re-dispatch when a
    /// backend goes down still applies). A route's own `hedge` overrides this.
    pub hedge: bool,
    /// A fixed hedge delay in milliseconds; absent, the delay adapts to twice the group's
    /// recent p95 time to first byte, within `hedge_min_ms..=hedge_max_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hedge_after_ms: Option<u64>,
    /// The shortest adaptive hedge delay, in milliseconds.
    pub hedge_min_ms: u64,
    /// The longest adaptive hedge delay (also the delay before enough samples exist), in
    /// milliseconds.
    pub hedge_max_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            budget_ratio: 0.2,
            budget_min_retries_per_sec: 10,
            hedge: true,
            hedge_after_ms: None,
            hedge_min_ms: 50,
            hedge_max_ms: 1000,
        }
    }
}

/// The address rule, with the hint that a group of named members is a `dns` group.
fn backend_addr<'de, D>(deserializer: D) -> Result<SocketAddr, D::Error>
where
    D: serde::Deserializer<'de>,
{
    shared::config::address::deserialize_socket_addr_or(deserializer, "use `dns` for names")
}

fn one() -> u32 {
    1
}

fn default_dns_refresh_ms() -> u64 {
    5000
}

/// The largest weight accepted, which keeps the hash ring small.
pub const MAX_WEIGHT: u32 = 1000;

impl UpstreamConfig {
    /// The group quick mode builds from `--backend` flags: round robin, checks on `/healthz`
    /// every second, three attempts, everything else at its default.
    pub fn from_addrs(addrs: Vec<SocketAddr>) -> Self {
        Self {
            backends: Some(
                addrs
                    .into_iter()
                    .map(|addr| BackendConfig { addr, weight: 1 })
                    .collect(),
            ),
            dns: None,
            balance: Balance::RoundRobin,
            hash_key: None,
            slow_start_ms: 0,
            health: HealthConfig::default(),
            passive: PassiveConfig::default(),
            retry: RetryConfig::default(),
        }
    }

    /// The static members with their weights (empty for a DNS group).
    pub fn static_members(&self) -> Vec<(SocketAddr, u32)> {
        self.backends
            .iter()
            .flatten()
            .map(|b| (b.addr, b.weight.clamp(1, MAX_WEIGHT)))
            .collect()
    }

    /// Checks what deserialization cannot: one member source, no address twice, ranges, and the
    /// fields that depend on `balance`. `name` is the group's key under `upstreams`.
    ///
    /// # Errors
    ///
    /// The first problem found, naming the full key, e.g. `upstreams.app.backends[1].addr`.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let key = |field: &str| format!("upstreams.{name}.{field}");
        match (&self.backends, &self.dns) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    &key("dns"),
                    "give either `backends` or `dns`, not both",
                ));
            }
            (None, None) => {
                return Err(ConfigError::invalid(
                    &format!("upstreams.{name}"),
                    "needs `backends` (a static list) or `dns` (a name to resolve)",
                ));
            }
            (Some(backends), None) => validate::backends(backends, &key("backends"))?,
            (None, Some(dns)) => validate::dns(dns, &key("dns"))?,
        }
        match (self.balance, &self.hash_key) {
            (Balance::ConsistentHash, None) => {
                return Err(ConfigError::invalid(
                    &key("hash_key"),
                    "required when balance = consistent_hash",
                ));
            }
            (balance, Some(_)) if balance != Balance::ConsistentHash => {
                return Err(ConfigError::invalid(
                    &key("hash_key"),
                    "only used when balance = consistent_hash",
                ));
            }
            _ => {}
        }
        validate::health(&self.health, &key("health"))?;
        validate::passive(&self.passive, &key("passive"))?;
        validate::retry(&self.retry, &key("retry"))
    }
}

mod validate;

#[cfg(test)]
mod tests;
