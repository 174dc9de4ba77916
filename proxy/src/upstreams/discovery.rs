//! DNS discovery: a name's A/AAAA answers become the group's members (Compose `--scale`,
//! Kubernetes headless services). Resolution goes through the system resolver, so
//! `/etc/hosts` and the container runtime's DNS both apply.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::config::upstream::DnsConfig;

/// The longest a background lookup may take before it counts as failed.
pub(crate) const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Resolves on the calling thread; used once at construction, like Pingora's static list.
pub(crate) fn resolve_blocking(dns: &DnsConfig) -> Result<Vec<SocketAddr>, String> {
    (dns.name.as_str(), dns.port)
        .to_socket_addrs()
        .map(Iterator::collect)
        .map_err(|e| e.to_string())
}

/// Resolves without blocking the runtime, bounded by [`LOOKUP_TIMEOUT`].
pub(crate) async fn resolve(dns: &DnsConfig) -> Result<Vec<SocketAddr>, String> {
    let lookup = tokio::net::lookup_host((dns.name.as_str(), dns.port));
    match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
        Ok(Ok(addrs)) => Ok(addrs.collect()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("timed out after {LOOKUP_TIMEOUT:?}")),
    }
}
