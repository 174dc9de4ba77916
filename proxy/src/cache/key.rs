//! Cache keys. The primary key is the URL (scheme, authority, path and query); a
//! response with `Vary` is stored under the primary key plus the generation of the URL's
//! Vary index and the values of the varying request headers. Lines separate the parts; a
//! URL has no line breaks, so the first line is always the primary key.
//!
//! The URL splits back into its parts unambiguously: the scheme ends at the first `://`,
//! the authority (validated, so it holds no `/`, `?`, `#`, `@` or whitespace) at the next
//! `/`, and the path always starts with `/`. A `Host: app.test/js` cannot pose as the
//! path prefix `/js` of `app.test`: it is refused before a key is made.

use http::HeaderMap;

use crate::config::CacheKeyQuery;

/// The URL part of a key: `scheme://authority/path?query`, from an authority the gateway
/// has parsed and validated (`gateway::Authority`, lowercased; empty when the request
/// named none) and an origin-form path.
pub fn primary(scheme: &str, authority: &str, path_and_query: &str) -> String {
    if path_and_query.starts_with('/') {
        format!("{scheme}://{authority}{path_and_query}")
    } else {
        format!("{scheme}://{authority}/{path_and_query}")
    }
}

/// `path_and_query` with only the query a route's `cache_key_query` keeps: all of it,
/// none, or the named parameters, sorted, so their order in the URL does not matter.
pub fn keyed_query<'a>(path_and_query: &'a str, keep: &CacheKeyQuery) -> std::borrow::Cow<'a, str> {
    let Some((path, query)) = path_and_query.split_once('?') else {
        return path_and_query.into();
    };
    match keep {
        CacheKeyQuery::All => path_and_query.into(),
        CacheKeyQuery::None => path.into(),
        CacheKeyQuery::Only(names) => {
            let mut kept: Vec<&str> = query
                .split('&')
                .filter(|pair| {
                    let name = pair.split_once('=').map_or(*pair, |(name, _)| name);
                    names.iter().any(|keep| keep == name)
                })
                .collect();
            kept.sort_unstable();
            if kept.is_empty() {
                path.into()
            } else {
                format!("{path}?{}", kept.join("&")).into()
            }
        }
    }
}

/// The key of one variant: the primary key, the Vary index's generation, and each
/// varying header's value.
pub fn variant(primary: &str, generation: u64, vary: &[String], request: &HeaderMap) -> String {
    let mut key = format!("{primary}\n#{generation}");
    for name in vary {
        key.push('\n');
        key.push_str(name);
        key.push('=');
        let values: Vec<&str> = request
            .get_all(name.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .collect();
        key.push_str(&values.join(","));
    }
    key
}

/// The primary key a variant key belongs to.
pub fn primary_of(variant: &str) -> &str {
    variant.split('\n').next().unwrap_or(variant)
}
