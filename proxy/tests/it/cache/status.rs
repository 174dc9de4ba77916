//! `Cache-Status` (RFC 9211): what the cache did, on every response of a cache route.

use futures::future::join_all;
use reqwest::Response;

use super::{get, get_with, start, x_cache};
use crate::helpers::{Origin, client};

fn cache_status(response: &Response) -> String {
    response
        .headers()
        .get("cache-status")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn cache_status_says_what_the_cache_did() {
    let origin = Origin::start("a").await;
    let proxy = start(&origin).await;
    let path = "/cache/status?cc=max-age%3D60";
    let (.., miss) = get(&proxy, path, &[]).await;
    assert_eq!(
        cache_status(&miss),
        "Flotilla; fwd=uri-miss; fwd-status=200; stored"
    );
    assert_eq!(x_cache(&miss), "MISS", "X-Cache stays");
    let (.., hit) = get(&proxy, path, &[]).await;
    let hit = cache_status(&hit);
    assert!(
        hit == "Flotilla; hit; ttl=60" || hit == "Flotilla; hit; ttl=59",
        "{hit}"
    );
    let (.., asked) = get(&proxy, path, &[("cache-control", "no-cache")]).await;
    assert_eq!(
        cache_status(&asked),
        "Flotilla; fwd=request; fwd-status=200; stored"
    );

    let unstored = "/cache/status-no-store?cc=no-store";
    let (.., response) = get(&proxy, unstored, &[]).await;
    assert_eq!(
        cache_status(&response),
        "Flotilla; fwd=uri-miss; fwd-status=200"
    );

    let stale = "/cache/status-stale?cc=max-age%3D0&etag=%22v1%22";
    get(&proxy, stale, &[]).await;
    let (status, _, _, revalidated) = get(&proxy, stale, &[]).await;
    assert_eq!(
        (status, x_cache(&revalidated).as_str()),
        (200, "REVALIDATED")
    );
    assert_eq!(
        cache_status(&revalidated),
        "Flotilla; fwd=stale; fwd-status=304; ttl=0; stored"
    );

    let posted = client().post(proxy.url(path)).send().await.expect("post");
    assert_eq!(
        cache_status(&posted),
        "Flotilla; fwd=bypass; fwd-status=200"
    );

    let only = "/cache/status-absent";
    let (status, _, _, absent) = get(&proxy, only, &[("cache-control", "only-if-cached")]).await;
    assert_eq!(status, 504);
    assert_eq!(cache_status(&absent), "Flotilla; fwd=uri-miss");
}

#[tokio::test]
async fn cache_status_marks_requests_collapsed_onto_another_fill() {
    let origin = Origin::start("a").await;
    let proxy = start(&origin).await;
    let path = "/cache/collapsed?cc=max-age%3D60&delay_ms=300";
    let client = client();
    let responses = join_all((0..5).map(|_| get_with(&client, &proxy, path, &[]))).await;
    let statuses: Vec<String> = responses.iter().map(|(.., r)| cache_status(r)).collect();
    let collapsed = statuses
        .iter()
        .filter(|s| s.starts_with("Flotilla; hit; ttl=") && s.ends_with("; collapsed"))
        .count();
    assert_eq!(collapsed, 4, "{statuses:?}");
}
