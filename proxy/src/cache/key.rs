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
