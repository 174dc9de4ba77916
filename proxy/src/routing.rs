//! The swappable part of the proxy: routes, the upstream groups they point at, and the
//! per-request settings. A SIGHUP reload builds a new [`Live`] and swaps it in whole, so a
//! request sees one consistent version from start to end.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use shared::forwarding::TrustedProxies;

use crate::config::{CacheKeyQuery, Config, Limits, RouteConfig, Timeouts};
use crate::upstreams::Upstream;

/// Shared handle to the configuration in force.
pub type SharedLive = Arc<ArcSwap<Live>>;

/// One version of the routing state.
#[derive(Debug)]
pub struct Live {
    routes: Vec<Route>,
    upstreams: BTreeMap<String, Arc<Upstream>>,
    deny_paths: Vec<String>,
    health_path: String,
    /// Timeouts for requests that start under this version.
    pub timeouts: Timeouts,
    /// Size limits for requests that start under this version.
    pub limits: Limits,
    /// Peers whose forwarding headers are appended to rather than replaced
    /// (`[server] trusted_proxies`).
    pub trusted_proxies: TrustedProxies,
}

#[derive(Debug)]
struct Route {
    label: Arc<str>,
    host: Option<String>,
    prefix: String,
    upstream: Option<Arc<Upstream>>,
    cache: bool,
    key_query: Arc<CacheKeyQuery>,
    hedge: Option<bool>,
}

/// Where a request goes.
#[derive(Debug)]
pub enum Resolution {
    /// To this upstream group, under this route label.
    Forward {
        /// The route's metrics label.
        route: Arc<str>,
        /// The group.
        upstream: Arc<Upstream>,
        /// Whether the route lets the response cache answer and store.
        cache: bool,
        /// How much of the query string the route's cache keys hold.
        key_query: Arc<CacheKeyQuery>,
        /// Whether the request's `GET`s and `HEAD`s are hedged: the route's `hedge`, else
        /// the group's `retry.hedge`.
        hedge: bool,
    },
    /// Answered 404 by a deny route or a denied internal path.
    Denied {
        /// The route's metrics label.
        route: Arc<str>,
    },
    /// No route matched.
    NoRoute,
}

impl Live {
    /// Builds the state for `config`, reusing groups in `existing` by name so their health
    /// and counters survive a reload (the caller reconfigures them).
    pub fn build(config: &Config, existing: &BTreeMap<String, Arc<Upstream>>) -> Self {
        let upstreams: BTreeMap<String, Arc<Upstream>> = config
            .upstreams
            .iter()
            .map(|(name, upstream_config)| {
                let group = match existing.get(name) {
                    Some(group) => {
                        group.reconfigure(upstream_config);
                        group.clone()
                    }
                    None => Upstream::new(name, upstream_config),
                };
                (name.clone(), group)
            })
            .collect();
        let routes = config
            .effective_routes()
            .iter()
            .map(|route| Route::new(route, &upstreams))
            .collect();
        Self {
            routes,
            upstreams,
            deny_paths: config.public.deny_paths.clone(),
            health_path: config.public.health_path.clone(),
            timeouts: config.timeouts.clone(),
            limits: config.limits.clone(),
            trusted_proxies: config.server.trusted_proxies.clone(),
        }
    }

    /// Whether `path` is the proxy's own health endpoint (`[public] health_path`).
    pub fn is_health_path(&self, path: &str) -> bool {
        !self.health_path.is_empty() && path == self.health_path
    }

    /// Every upstream group by name.
    pub fn upstreams(&self) -> &BTreeMap<String, Arc<Upstream>> {
        &self.upstreams
    }

    /// Finds where a request for `host` (may include a port) and `path` goes.
    pub fn resolve(&self, host: Option<&str>, path: &str) -> Resolution {
        if self
            .deny_paths
            .iter()
            .any(|denied| prefix_matches(denied, path))
        {
            return Resolution::Denied {
                route: Arc::from("internal"),
            };
        }
        let host = host.map(strip_port);
        let found = self.routes.iter().find(|route| {
            let host_ok = match (&route.host, host) {
                (None, _) => true,
                (Some(want), Some(got)) => want.eq_ignore_ascii_case(got),
                (Some(_), None) => false,
            };
            host_ok && prefix_matches(&route.prefix, path)
        });
        match found {
            Some(Route {
                label,
                upstream: Some(upstream),
                cache,
                key_query,
                hedge,
                ..
            }) => Resolution::Forward {
                route: label.clone(),
                upstream: upstream.clone(),
                cache: *cache,
                key_query: key_query.clone(),
                hedge: hedge.unwrap_or(upstream.config().retry.hedge),
            },
            Some(route) => Resolution::Denied {
                route: route.label.clone(),
            },
            None => Resolution::NoRoute,
        }
    }
}

impl Route {
    fn new(config: &RouteConfig, upstreams: &BTreeMap<String, Arc<Upstream>>) -> Self {
        Self {
            label: Arc::from(config.label()),
            host: config.host.clone(),
            prefix: config.path_prefix.clone(),
            cache: config.cache,
            key_query: Arc::new(config.cache_key_query.clone()),
            hedge: config.hedge,
            // Validation guarantees the name exists; a deny route has none.
            upstream: config
                .upstream
                .as_ref()
                .filter(|_| !config.deny)
                .and_then(|name| upstreams.get(name).cloned()),
        }
    }
}

/// `/api/auth` matches `/api/auth` and `/api/auth/x`, not `/api/authx`; `/` matches all.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split(']')
            .next()
            .map_or(host, |h| h.trim_start_matches('['));
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_on_segment_boundaries() {
        assert!(prefix_matches("/", "/anything"));
        assert!(prefix_matches("/api/auth", "/api/auth"));
        assert!(prefix_matches("/api/auth", "/api/auth/login"));
        assert!(!prefix_matches("/api/auth", "/api/authx"));
        assert!(prefix_matches("/metrics", "/metrics"));
        assert!(!prefix_matches("/metrics", "/metricsx"));
    }

    #[test]
    fn ports_are_ignored_in_hosts() {
        assert_eq!(strip_port("example.com:8080"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:80"), "::1");
    }
}
