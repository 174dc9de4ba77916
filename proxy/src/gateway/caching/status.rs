//! What a client of a cache-enabled route is told about the cache: `Cache-Status`
//! (RFC 9211), built from what the request's phases recorded in its context, and the
//! targeted cache-control fields removed when this proxy is the last cache.

use pingora::Result;
use pingora::http::ResponseHeader;

use crate::cache::{CacheStatus, policy};
use crate::gateway::ctx::{CacheCtx, RequestCtx};

/// Whole seconds of `duration`, as a signed number for `ttl=`.
pub(super) fn seconds(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// The cache's fields on every response of a cache-enabled route, the backend's
/// (`response_filter`) or the proxy's own ([`crate::gateway::respond`]'s `send`): `Cache-Status`
/// (RFC 9211), and the targeted cache-control fields removed when
/// `strip_targeted_cache_control` says this proxy is the last cache.
///
/// # Errors
///
/// When the header cannot be set.
pub(in crate::gateway) fn client_headers(
    ctx: &RequestCtx,
    header: &mut ResponseHeader,
) -> Result<()> {
    let Some(cache) = ctx.cache.on.as_deref() else {
        return Ok(());
    };
    if cache.strip_targeted {
        header.remove_header(&cache.rules.target);
        header.remove_header(policy::CDN_CACHE_CONTROL);
    }
    if let Some(status) = ctx.cache.status {
        header.insert_header(CACHE_STATUS, cache_status(&ctx.cache, status))?;
    }
    Ok(())
}

/// The `Cache-Status` field naming this proxy's cache.
const CACHE_STATUS: &str = "cache-status";

/// The `Cache-Status` value for what the cache did: `hit` when a stored copy answered
/// without asking the origin (fresh, collapsed onto another request's fill, or stale while
/// a background refresh runs), else `fwd=` with why, the origin's `fwd-status`, and
/// `stored` when the response is being stored; `ttl` whenever a stored copy answered.
fn cache_status(cache: &CacheCtx, status: CacheStatus) -> String {
    let mut value = String::from("Flotilla");
    let served_stored = matches!(
        status,
        CacheStatus::Hit | CacheStatus::Stale | CacheStatus::Revalidated
    );
    let hit = status == CacheStatus::Hit || (status == CacheStatus::Stale && cache.stale.is_none());
    if hit {
        value.push_str("; hit");
    } else {
        let fwd = match status {
            CacheStatus::Bypass => "bypass",
            CacheStatus::Stale | CacheStatus::Revalidated => "stale",
            _ => cache.fwd.unwrap_or("uri-miss"),
        };
        value.push_str("; fwd=");
        value.push_str(fwd);
        if let Some(code) = cache.fwd_status {
            value.push_str(&format!("; fwd-status={code}"));
        }
    }
    if let (true, Some(ttl)) = (served_stored, cache.ttl) {
        value.push_str(&format!("; ttl={ttl}"));
    }
    if cache.fill.is_some() || status == CacheStatus::Revalidated {
        value.push_str("; stored");
    }
    if cache.collapsed {
        value.push_str("; collapsed");
    }
    value
}
