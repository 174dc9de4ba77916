use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use pingora::http::ResponseHeader;

use super::*;

fn response(cache_control: &str, extra: &[(&'static str, &str)]) -> ResponseHeader {
    let mut header = ResponseHeader::build(200, None).expect("header");
    header
        .insert_header("cache-control", cache_control)
        .expect("header");
    for (name, value) in extra {
        header.append_header(*name, *value).expect("header");
    }
    header
}

fn entry(cache_control: &str, extra: &[(&'static str, &str)], body: usize) -> Entry {
    Entry::new(
        response(cache_control, extra),
        Bytes::from(vec![b'x'; body]),
        &Rules::default(),
    )
}

#[test]
fn entries_age_from_their_initial_age_and_know_their_stale_windows() {
    let e = entry(
        "max-age=60, stale-if-error=30",
        &[("age", "50"), ("transfer-encoding", "chunked")],
        3,
    );
    assert!(e.is_fresh());
    assert!(e.age() >= Duration::from_secs(50));
    assert_eq!(e.stale_if_error, Duration::from_secs(30));
    assert!(!e.header.headers.contains_key("transfer-encoding"));
    assert_eq!(e.header.headers["content-length"], "3");
    let strict = entry("max-age=60, must-revalidate, stale-if-error=30", &[], 3);
    assert_eq!(
        strict.stale_if_error,
        Duration::ZERO,
        "must-revalidate forbids stale"
    );
    assert!(!entry("no-cache, max-age=60", &[], 1).is_fresh());
}

#[tokio::test]
async fn variants_follow_vary_and_purges_drop_them_all() {
    let store = Store::new(1 << 20);
    let mut english = HeaderMap::new();
    english.insert("accept-language", HeaderValue::from_static("en"));
    let mut french = HeaderMap::new();
    french.insert("accept-language", HeaderValue::from_static("fr"));
    let url = key::primary("http", "example.com", "/a?b=1");
    assert_eq!(url, "http://example.com/a?b=1");
    store.insert(
        &url,
        &english,
        entry("max-age=60", &[("vary", "Accept-Language")], 2),
    );
    assert!(store.get(&url, &english).is_some());
    assert!(store.get(&url, &french).is_none(), "another variant");
    store.insert(
        &url,
        &french,
        entry("max-age=60", &[("vary", "Accept-Language")], 2),
    );
    store.insert(
        "http://example.com/other",
        &english,
        entry("max-age=60", &[], 2),
    );
    assert_eq!(store.invalidate(&url), 2);
    assert!(store.get(&url, &french).is_none());
    assert_eq!(store.purge_prefix("http://example.com/"), 1);
}

#[tokio::test]
async fn a_response_gaining_or_losing_vary_replaces_what_was_stored() {
    let store = Store::new(1 << 20);
    let url = "http://h/switch";
    let mut english = HeaderMap::new();
    english.insert("accept-language", HeaderValue::from_static("en"));
    let body = |entry: Option<Arc<Entry>>| entry.map(|e| e.body.len());

    store.insert(url, &english, entry("max-age=60", &[], 1));
    store.insert(
        url,
        &english,
        entry("max-age=60", &[("vary", "Accept-Language")], 2),
    );
    assert_eq!(
        body(store.get(url, &english)),
        Some(2),
        "the variant, not the plain one"
    );
    assert_eq!(body(store.get(url, &HeaderMap::new())), None);

    // New varying names start a new index generation: the old variants are unreachable.
    let mut gzip = english.clone();
    gzip.insert("accept-encoding", HeaderValue::from_static("gzip"));
    store.insert(
        url,
        &gzip,
        entry("max-age=60", &[("vary", "Accept-Encoding")], 3),
    );
    assert_eq!(body(store.get(url, &gzip)), Some(3));
    assert_eq!(
        body(store.get(url, &english)),
        None,
        "no accept-encoding: another variant"
    );

    store.insert(url, &english, entry("max-age=60", &[], 4));
    assert_eq!(
        body(store.get(url, &gzip)),
        Some(4),
        "no Vary any more: one response for all"
    );
    assert_eq!(
        store.invalidate(url),
        3,
        "the plain response and both unreachable variants are dropped"
    );
    assert_eq!(body(store.get(url, &gzip)), None);
}

#[tokio::test]
async fn the_vary_index_counts_against_the_byte_bound() {
    let bound = 256 * 1024;
    let store = Store::new(bound);
    let mut english = HeaderMap::new();
    english.insert("accept-language", HeaderValue::from_static("en"));
    let long_path = "p".repeat(4000);
    for index in 0..400 {
        let url = format!("http://h/{index}/{long_path}");
        store.insert(
            &url,
            &english,
            entry("max-age=60", &[("vary", "Accept-Language")], 1),
        );
    }
    assert!(store.bytes() <= bound, "{} > {bound}", store.bytes());
}

#[tokio::test]
async fn the_store_stays_within_its_byte_bound() {
    let bound = 64 * 1024;
    let store = Store::new(bound);
    for index in 0..100 {
        let url = format!("http://h/{index}");
        store.insert(&url, &HeaderMap::new(), entry("max-age=60", &[], 4096));
    }
    assert!(store.bytes() <= bound);
    assert!(store.evictions() > 0);
}

#[tokio::test]
async fn coalesced_misses_wait_for_the_leader_then_time_out() {
    let coalescer = Arc::new(Coalescer::default());
    let Turn::Lead(leader) = coalescer.join("k") else {
        panic!("the first miss leads");
    };
    let Turn::Follow(waiting) = coalescer.join("k") else {
        panic!("the second miss follows");
    };
    assert!(!Coalescer::wait(waiting.clone(), Duration::from_millis(20)).await);
    drop(leader);
    assert!(Coalescer::wait(waiting, Duration::from_secs(1)).await);
    assert!(
        matches!(coalescer.join("k"), Turn::Lead(_)),
        "the lock was released"
    );
}

#[test]
fn fields_named_in_connection_and_hop_by_hop_fields_are_not_stored() {
    let e = entry(
        "max-age=60",
        &[
            ("connection", "X-Secret, close"),
            ("x-secret", "origin-only"),
            ("connection", "x-other"),
            ("x-other", "1"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("te", "trailers"),
            ("upgrade", "h2c"),
            ("proxy-authenticate", "Basic"),
            ("x-kept", "yes"),
        ],
        3,
    );
    for name in [
        "connection",
        "x-secret",
        "x-other",
        "keep-alive",
        "proxy-connection",
        "te",
        "upgrade",
        "proxy-authenticate",
    ] {
        assert!(!e.header.headers.contains_key(name), "{name} was stored");
    }
    assert_eq!(e.header.headers["x-kept"], "yes");
}

#[test]
fn an_invalid_age_never_makes_a_response_fresh() {
    for value in ["86400, 1", "30m", "1.5", "-3", ""] {
        let e = entry("max-age=3600", &[("age", value)], 3);
        assert!(!e.is_fresh(), "Age {value:?} is invalid, so not fresh");
    }
    let two = entry("max-age=3600", &[("age", "5"), ("age", "6")], 3);
    assert!(
        !two.is_fresh(),
        "two Age fields are a list, which is invalid"
    );
    let valid = entry("max-age=3600", &[("age", " 30 ")], 3);
    assert!(valid.is_fresh());
    assert!(valid.age() >= Duration::from_secs(30));
}

#[test]
fn a_no_cache_field_list_stores_the_response_without_those_fields() {
    let e = entry(
        "no-cache=\"Set-Cookie, X-Token\", private=\"x-user\", max-age=60",
        &[
            ("set-cookie", "session=1"),
            ("x-token", "t"),
            ("x-user", "alice"),
            ("x-kept", "yes"),
        ],
        3,
    );
    assert!(
        e.is_fresh(),
        "a qualified no-cache does not force revalidation"
    );
    for name in ["set-cookie", "x-token", "x-user"] {
        assert!(!e.header.headers.contains_key(name), "{name} was stored");
    }
    assert_eq!(e.header.headers["x-kept"], "yes");
    assert!(
        !entry("no-cache, max-age=60", &[], 3).is_fresh(),
        "bare no-cache"
    );
}

#[test]
fn keyed_queries_keep_all_none_or_the_named_parameters() {
    use crate::config::CacheKeyQuery;
    let only = CacheKeyQuery::Only(vec!["page".to_owned(), "sort".to_owned()]);
    assert_eq!(
        key::keyed_query("/a?x=1&b=2", &CacheKeyQuery::All),
        "/a?x=1&b=2"
    );
    assert_eq!(key::keyed_query("/a?x=1&b=2", &CacheKeyQuery::None), "/a");
    assert_eq!(
        key::keyed_query("/a?utm=1&sort=d&page=2", &only),
        "/a?page=2&sort=d"
    );
    assert_eq!(key::keyed_query("/a?utm=1", &only), "/a");
    assert_eq!(key::keyed_query("/a", &only), "/a");
}
