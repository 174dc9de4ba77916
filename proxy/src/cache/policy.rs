//! RFC 9111 decisions that need no store: parsing `Cache-Control`, whether a response
//! may be stored by a shared cache, how long it stays fresh, and what a request asks of
//! the cache. Everything here is a pure function of headers and times, so it is tested
//! without a network.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, Method, StatusCode, header};

/// The largest delta-seconds value kept (RFC 9111 §1.2.2: a cache may treat anything
/// larger as 2^31), so lifetimes stay far from `Duration` and `Instant` overflow.
pub const MAX_DELTA_SECONDS: u64 = 1 << 31;

/// Statuses this cache stores without explicit freshness: RFC 9110's heuristically
/// cacheable ones, less 206 (a part is never stored as the whole).
pub fn cacheable_status(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// RFC 9111 §3: any final status may be stored when the response gives its own lifetime
/// (`s-maxage`, `max-age` or `Expires`), except 206 (a part is not the whole) and 304
/// (which only refreshes what is stored).
fn stores_with_explicit_freshness(
    status: StatusCode,
    response: &HeaderMap,
    directives: &Directives,
) -> bool {
    let explicit = directives.s_maxage.is_some()
        || directives.max_age.is_some()
        || response.contains_key(header::EXPIRES);
    explicit
        && status.as_u16() >= 200
        && status != StatusCode::PARTIAL_CONTENT
        && status != StatusCode::NOT_MODIFIED
}

/// Why a response is not stored; `None` means it may be.
pub fn not_storable(
    method: &Method,
    request: &HeaderMap,
    status: StatusCode,
    response: &HeaderMap,
    directives: &Directives,
) -> Option<&'static str> {
    if method != Method::GET {
        return Some("method");
    }
    if !cacheable_status(status) && !stores_with_explicit_freshness(status, response, directives) {
        return Some("status");
    }
    if directives.no_store || Directives::parse(request).no_store {
        return Some("no-store");
    }
    if directives.private {
        return Some("private");
    }
    if response.contains_key(header::SET_COOKIE)
        && !directives
            .unstored_fields()
            .any(|name| name == "set-cookie")
    {
        return Some("set-cookie");
    }
    if vary_names(response).is_none() {
        return Some("vary-star");
    }
    let explicit = directives.public || directives.s_maxage.is_some() || directives.must_revalidate;
    if request.contains_key(header::AUTHORIZATION) && !explicit {
        return Some("authorization");
    }
    None
}

/// The lowercase header names a response varies on; `None` for `Vary: *`.
pub fn vary_names(response: &HeaderMap) -> Option<Vec<String>> {
    let mut names = Vec::new();
    for value in response.get_all(header::VARY) {
        for name in value.to_str().unwrap_or("").split(',') {
            let name = name.trim().to_ascii_lowercase();
            if name == "*" {
                return None;
            }
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names.sort();
    Some(names)
}

/// The response's freshness lifetime: `s-maxage`, else `max-age`, else `Expires - Date`,
/// else (only when `heuristic` is on) 10% of `Date - Last-Modified`, capped at a day.
pub fn freshness_lifetime(
    response: &HeaderMap,
    directives: &Directives,
    heuristic: bool,
) -> Duration {
    if let Some(s) = directives.s_maxage.or(directives.max_age) {
        return Duration::from_secs(s);
    }
    let date = http_date(response, header::DATE).unwrap_or_else(SystemTime::now);
    if response.contains_key(header::EXPIRES) {
        // An invalid `Expires` (such as `0`) means already expired.
        return http_date(response, header::EXPIRES)
            .and_then(|expires| expires.duration_since(date).ok())
            .unwrap_or_default();
    }
    if heuristic {
        if let Some(modified) = http_date(response, header::LAST_MODIFIED) {
            let age = date.duration_since(modified).unwrap_or_default();
            return (age / 10).min(Duration::from_secs(86_400));
        }
    }
    Duration::ZERO
}

/// The `Age` the response arrived with, in seconds (capped as delta-seconds are); `None`
/// when it is invalid (RFC 9111 §5.1: one non-negative integer, so `"86400, 1"`, `"30m"`
/// and two `Age` fields are all invalid). No `Age` is age zero.
pub fn initial_age(response: &HeaderMap) -> Option<Duration> {
    let mut values = response.get_all(header::AGE).iter();
    let Some(value) = values.next() else {
        return Some(Duration::ZERO);
    };
    if values.next().is_some() {
        return None;
    }
    let text = value.to_str().ok()?.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let age = text.parse::<u64>().unwrap_or(u64::MAX);
    Some(Duration::from_secs(age.min(MAX_DELTA_SECONDS)))
}

/// The header fields a cache never stores (RFC 9111 §3.1, RFC 9110 §7.6.1): `Connection`,
/// the fields it names, and the hop-by-hop fields, whether or not `Connection` names them.
pub fn unstorable_fields(response: &HeaderMap) -> Vec<header::HeaderName> {
    let mut names: Vec<header::HeaderName> = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authentication-info",
    ]
    .into_iter()
    .map(header::HeaderName::from_static)
    .collect();
    for value in response.get_all(header::CONNECTION) {
        for token in value.to_str().unwrap_or("").split(',') {
            if let Ok(name) = header::HeaderName::from_bytes(token.trim().as_bytes()) {
                names.push(name);
            }
        }
    }
    names
}

/// A date header, parsed in any of RFC 9110 §5.6.7's three forms (IMF-fixdate, RFC 850,
/// asctime), with day and month names in any case.
pub fn http_date(headers: &HeaderMap, name: header::HeaderName) -> Option<SystemTime> {
    let text = headers.get(name)?.to_str().ok()?;
    httpdate::parse_http_date(&canonical_case(text)).ok()
}

/// `sat, 28 NOV 2026 12:00:00 gmt` as `Sat, 28 Nov 2026 12:00:00 GMT`: each word's first
/// letter upper-case and the rest lower, `GMT` whole.
fn canonical_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word_start = true;
    for c in text.trim().chars() {
        if c.is_ascii_alphabetic() {
            out.push(if word_start {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            });
            word_start = false;
        } else {
            out.push(c);
            word_start = true;
        }
    }
    if let Some(zone) = out.strip_suffix("Gmt") {
        return format!("{zone}GMT");
    }
    out
}

/// Whether an entry of `age` with `lifetime` satisfies a request's directives as fresh;
/// `max-stale` lets a stale one through, `min-fresh` and `max-age` tighten it.
pub fn acceptable(age: Duration, lifetime: Duration, request: &Directives) -> bool {
    if request.no_cache {
        return false;
    }
    if let Some(max_age) = request.max_age {
        if age.as_secs() > max_age || max_age == 0 {
            return false;
        }
    }
    let remaining = lifetime.saturating_sub(age).as_secs();
    if let Some(min_fresh) = request.min_fresh {
        if remaining < min_fresh {
            return false;
        }
    }
    if age < lifetime {
        return true;
    }
    let stale_by = (age - lifetime).as_secs();
    request.max_stale.is_some_and(|allowed| stale_by <= allowed)
}

/// True when a conditional request (`If-None-Match`, else `If-Modified-Since`) matches
/// the stored response, so a 304 answers it.
pub fn not_modified(request: &HeaderMap, stored: &HeaderMap) -> bool {
    if let Some(inm) = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        let Some(etag) = stored.get(header::ETAG).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let weak = |t: &str| t.trim().trim_start_matches("W/").to_owned();
        return inm
            .split(',')
            .any(|tag| tag.trim() == "*" || weak(tag) == weak(etag));
    }
    let Some(since) = http_date(request, header::IF_MODIFIED_SINCE) else {
        return false;
    };
    let Some(modified) =
        http_date(stored, header::LAST_MODIFIED).or_else(|| http_date(stored, header::DATE))
    else {
        return false;
    };
    modified <= since
}

/// Methods whose success invalidates what the cache holds for the URL.
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

#[path = "policy/directives.rs"]
mod directives;
pub use directives::{CDN_CACHE_CONTROL, Directives};

#[cfg(test)]
#[path = "policy/tests.rs"]
mod tests;

#[cfg(test)]
#[path = "policy/proptests.rs"]
mod proptests;
