//! `Cache-Control` and the targeted fields (RFC 9213) read into [`Directives`]: a list
//! split at commas outside quotes, each directive a name and an optional argument.

use http::{HeaderMap, header};

use super::MAX_DELTA_SECONDS;

/// The targeted cache-control field every CDN reads (RFC 9213 §3).
pub const CDN_CACHE_CONTROL: &str = "cdn-cache-control";

/// The directives of one `Cache-Control` header set (request or response).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directives {
    /// `no-store`.
    pub no_store: bool,
    /// `no-cache` (response: store, but revalidate before every use).
    pub no_cache: bool,
    /// `no-cache="a, b"` (response): store and reuse it, without those fields (lower-case).
    pub no_cache_fields: Vec<String>,
    /// `private`: never stored by a shared cache.
    pub private: bool,
    /// `private="a, b"`: a shared cache stores the response without those fields.
    pub private_fields: Vec<String>,
    /// `public`: storable even for an authorised request.
    pub public: bool,
    /// `must-revalidate`: never served stale, not even on error.
    pub must_revalidate: bool,
    /// `proxy-revalidate`: `must-revalidate` for shared caches only.
    pub proxy_revalidate: bool,
    /// `only-if-cached` (request): answer from the cache or 504.
    pub only_if_cached: bool,
    /// `max-age=N`.
    pub max_age: Option<u64>,
    /// `s-maxage=N` (response): the shared cache's own lifetime.
    pub s_maxage: Option<u64>,
    /// `max-stale[=N]` (request); `Some(u64::MAX)` without a value.
    pub max_stale: Option<u64>,
    /// `min-fresh=N` (request).
    pub min_fresh: Option<u64>,
    /// `stale-while-revalidate=N`.
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error=N`.
    pub stale_if_error: Option<u64>,
}

impl Directives {
    /// Parses every `Cache-Control` value in `headers`; unknown directives are ignored
    /// and a malformed number is treated as absent (RFC 9111 §4.2.1 says such a
    /// response is stale, which the caller gets by finding no lifetime).
    pub fn parse(headers: &HeaderMap) -> Self {
        Self::parse_field(headers, &header::CACHE_CONTROL)
    }

    /// A response's directives for this cache (RFC 9213 §2.2): the first targeted field
    /// present, `target` (this proxy's own) then `CDN-Cache-Control`, replaces
    /// `Cache-Control` whole; without either, `Cache-Control`.
    pub fn of_response(headers: &HeaderMap, target: &header::HeaderName) -> Self {
        let cdn = header::HeaderName::from_static(CDN_CACHE_CONTROL);
        [target, &cdn]
            .into_iter()
            .find(|name| headers.contains_key(*name))
            .map_or_else(
                || Self::parse(headers),
                |name| Self::parse_field(headers, name),
            )
    }

    /// Parses every value of the field `name` as cache directives.
    fn parse_field(headers: &HeaderMap, name: &header::HeaderName) -> Self {
        let mut d = Self::default();
        for value in headers.get_all(name) {
            let Ok(value) = value.to_str() else { continue };
            for item in split_list(value) {
                let Some((name, arg)) = directive(item) else {
                    continue;
                };
                let seconds = arg
                    .as_deref()
                    .and_then(|a| a.parse::<u64>().ok())
                    .map(|s| s.min(MAX_DELTA_SECONDS));
                match name.as_str() {
                    "no-store" => d.no_store = true,
                    "no-cache" => match arg {
                        Some(list) => d.no_cache_fields.extend(field_names(&list)),
                        None => d.no_cache = true,
                    },
                    "private" => match arg {
                        Some(list) => d.private_fields.extend(field_names(&list)),
                        None => d.private = true,
                    },
                    "public" => d.public = true,
                    "must-revalidate" => d.must_revalidate = true,
                    "proxy-revalidate" => d.proxy_revalidate = true,
                    "only-if-cached" => d.only_if_cached = true,
                    "max-age" => d.max_age = seconds.or(Some(0)),
                    "s-maxage" => d.s_maxage = seconds.or(Some(0)),
                    "max-stale" => d.max_stale = Some(seconds.unwrap_or(u64::MAX)),
                    "min-fresh" => d.min_fresh = seconds,
                    "stale-while-revalidate" => d.stale_while_revalidate = seconds,
                    "stale-if-error" => d.stale_if_error = seconds,
                    _ => {}
                }
            }
        }
        d
    }

    /// Fields a qualified `no-cache` or `private` keeps out of the store (RFC 9111
    /// §5.2.2.4, §5.2.2.7).
    pub fn unstored_fields(&self) -> impl Iterator<Item = &str> {
        self.no_cache_fields
            .iter()
            .chain(&self.private_fields)
            .map(String::as_str)
    }

    /// A shared cache must revalidate once stale (`must-revalidate`, `proxy-revalidate`,
    /// and `s-maxage`, which implies it).
    pub fn revalidate_when_stale(&self) -> bool {
        self.must_revalidate || self.proxy_revalidate || self.s_maxage.is_some()
    }
}

/// The lower-case field names of a qualified directive's list.
fn field_names(list: &str) -> impl Iterator<Item = String> + '_ {
    list.split(',')
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
}

/// The comma-separated items of a field value; commas inside a quoted string do not
/// split (an unclosed quote runs to the end of the value).
fn split_list(value: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (at, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                items.push(&value[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    items.push(&value[start..]);
    items
}

/// One directive: `name`, `name=token` or `name="quoted"` (RFC 9111 §5.2: a recipient
/// accepts either argument form). The grammar has no whitespace around `=`, so
/// `max-age = 60` is no directive at all, as most caches read it; nor is an unclosed
/// quote. The name comes back lower-case, the argument unquoted.
fn directive(item: &str) -> Option<(String, Option<String>)> {
    let item = item.trim_matches([' ', '\t']);
    let (name, arg) = match item.split_once('=') {
        None => return (!item.is_empty()).then(|| (item.to_ascii_lowercase(), None)),
        Some((name, arg)) => (name, arg),
    };
    if name.is_empty() || name.ends_with([' ', '\t']) || arg.starts_with([' ', '\t']) {
        return None;
    }
    let arg = match arg.strip_prefix('"') {
        Some(rest) => {
            let inner = rest.strip_suffix('"')?;
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                out.push(if c == '\\' { chars.next()? } else { c });
            }
            out
        }
        None => arg.to_owned(),
    };
    Some((name.to_ascii_lowercase(), Some(arg)))
}
