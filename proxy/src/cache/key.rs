//! Cache keys. The primary key is the URL (scheme, host, path and query); a response
//! with `Vary` is stored under the primary key plus the generation of the URL's Vary
//! index and the values of the varying request headers. Lines separate the parts; a URL
//! has no line breaks, so the first line is always the primary key.

use http::HeaderMap;

/// The URL part of a key: `scheme://host/path?query`, host lowercased.
pub fn primary(scheme: &str, host: &str, path_and_query: &str) -> String {
    format!("{scheme}://{}{path_and_query}", host.to_ascii_lowercase())
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
