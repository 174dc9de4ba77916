//! `[[routes]]`: which upstream group serves which host and path prefix.

use std::collections::BTreeMap;

use serde::Deserialize;
use shared::config::ConfigError;

use super::UpstreamConfig;

/// One route. Routes are tried in file order and the first match wins.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The metrics and log label; defaults to the path prefix (with the host, if any).
    #[serde(default)]
    pub name: Option<String>,
    /// Match only this `Host` (case-insensitive, port ignored). Absent: any host.
    #[serde(default)]
    pub host: Option<String>,
    /// Match paths equal to this or continuing it after a `/`. Default `/`: everything.
    #[serde(default = "root")]
    pub path_prefix: String,
    /// The upstream group that serves matching requests.
    #[serde(default)]
    pub upstream: Option<String>,
    /// Answer matching requests 404 instead of forwarding them.
    #[serde(default)]
    pub deny: bool,
    /// With `[cache]` enabled: `false` keeps this route's responses out of the cache.
    #[serde(default = "yes")]
    pub cache: bool,
    /// Which of the query string goes into this route's cache keys: `"all"` (the default),
    /// `"none"`, or a list of parameter names (sorted in the key, so order does not matter).
    #[serde(default)]
    pub cache_key_query: CacheKeyQuery,
    /// Hedge this route's `GET` and `HEAD` requests (`true`) or never (`false`), whatever
    /// its group's `retry.hedge` says. Absent: the group decides.
    #[serde(default)]
    pub hedge: Option<bool>,
}

/// A route's `cache_key_query`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CacheKeyQuery {
    /// The whole query string, as it came.
    #[default]
    All,
    /// No query string: every query of a path shares one entry.
    None,
    /// Only these parameters, by name.
    Only(Vec<String>),
}

impl<'de> Deserialize<'de> for CacheKeyQuery {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            Names(Vec<String>),
        }
        let expected = "`\"all\"`, `\"none\"` or a list of query parameter names";
        match Raw::deserialize(deserializer)
            .map_err(|_| serde::de::Error::custom(format!("expected {expected}")))?
        {
            Raw::Word(word) if word == "all" => Ok(Self::All),
            Raw::Word(word) if word == "none" => Ok(Self::None),
            Raw::Word(word) => Err(serde::de::Error::custom(format!(
                "`{word}`: expected {expected}"
            ))),
            Raw::Names(names) => Ok(Self::Only(names)),
        }
    }
}

fn yes() -> bool {
    true
}

fn root() -> String {
    "/".to_owned()
}

impl RouteConfig {
    /// The route quick mode and single-upstream files get: everything to `upstream`.
    pub fn catch_all(upstream: &str) -> Self {
        Self {
            name: None,
            host: None,
            path_prefix: root(),
            upstream: Some(upstream.to_owned()),
            deny: false,
            cache: true,
            cache_key_query: CacheKeyQuery::All,
            hedge: None,
        }
    }

    /// The bounded label for metrics and logs.
    pub fn label(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        match &self.host {
            Some(host) => format!("{host}{}", self.path_prefix),
            None => self.path_prefix.clone(),
        }
    }

    pub(super) fn validate(
        &self,
        key: &str,
        upstreams: &BTreeMap<String, UpstreamConfig>,
    ) -> Result<(), ConfigError> {
        if !self.path_prefix.starts_with('/') {
            return Err(ConfigError::invalid(
                &format!("{key}.path_prefix"),
                format!("`{}` must start with `/`", self.path_prefix),
            ));
        }
        match (&self.upstream, self.deny) {
            (Some(_), true) => Err(ConfigError::invalid(
                key,
                "a route either denies or names an upstream, not both",
            )),
            (None, false) => Err(ConfigError::invalid(
                key,
                "a route needs `upstream = \"NAME\"` or `deny = true`",
            )),
            (Some(name), false) if !upstreams.contains_key(name) => Err(ConfigError::invalid(
                &format!("{key}.upstream"),
                format!("no upstream named `{name}` is configured"),
            )),
            _ => Ok(()),
        }
    }
}
