//! RFC 9111 and RFC 9213 rules seen from the client: targeted cache control, statuses
//! stored for their explicit freshness, qualified `no-cache`, and byte ranges.

use super::{ONE_MIB, cache_table, get, start};
use crate::helpers::{Origin, Proxy, upstream};

#[tokio::test]
async fn targeted_cache_control_comes_before_cache_control() {
    let origin = Origin::start("a").await;
    let proxy = start(&origin).await;
    let refused = "/cache/cdn-no-store?cc=max-age%3D60&cdn=no-store";
    for _ in 0..2 {
        let (_, cache, ..) = get(&proxy, refused, &[]).await;
        assert_eq!(cache, "MISS", "CDN-Cache-Control: no-store is not stored");
    }
    let stored = "/cache/cdn-max-age?cc=no-store&cdn=max-age%3D60";
    get(&proxy, stored, &[]).await;
    let (_, cache, _, response) = get(&proxy, stored, &[]).await;
    assert_eq!(
        cache, "HIT",
        "CDN-Cache-Control: max-age wins over Cache-Control"
    );
    assert_eq!(response.headers()["cdn-cache-control"], "max-age=60");
    let own = "/cache/own?cdn=no-store&fcc=max-age%3D60";
    get(&proxy, own, &[]).await;
    let (_, cache, ..) = get(&proxy, own, &[]).await;
    assert_eq!(cache, "HIT", "Flotilla-Cache-Control comes first");
    assert_eq!(origin.path_count("/cache/cdn-no-store").await, 2);
}

#[tokio::test]
async fn the_target_name_is_configurable_and_stripping_is_opt_in() {
    let origin = Origin::start("a").await;
    let proxy = Proxy::start(&format!(
        "{}targeted_cache_control = \"Edge-Control\"\nstrip_targeted_cache_control = true\n{}",
        cache_table(8 * ONE_MIB, ONE_MIB),
        upstream("app", &[&origin])
    ))
    .await;
    let path = "/cache/edge?cc=max-age%3D60&cdn=max-age%3D60&edge=no-store";
    for _ in 0..2 {
        let (_, cache, _, response) = get(&proxy, path, &[]).await;
        assert_eq!(cache, "MISS", "the configured target comes first");
        assert!(!response.headers().contains_key("edge-control"), "stripped");
    }
    let path = "/cache/edge-cdn?cc=no-store&cdn=max-age%3D60";
    let (_, first, _, miss) = get(&proxy, path, &[]).await;
    assert_eq!(first, "MISS");
    assert!(
        !miss.headers().contains_key("cdn-cache-control"),
        "stripped"
    );
    let (_, second, _, hit) = get(&proxy, path, &[]).await;
    assert_eq!(second, "HIT");
    assert!(!hit.headers().contains_key("cdn-cache-control"), "stripped");
    assert_eq!(hit.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn errors_and_redirects_with_explicit_freshness_are_served_from_the_cache() {
    let origin = Origin::start("a").await;
    let proxy = start(&origin).await;
    for status in [302, 400, 503] {
        let path = format!("/cache/status-{status}?status={status}&cc=max-age%3D60");
        let (first, cache, ..) = get(&proxy, &path, &[]).await;
        assert_eq!((first, cache.as_str()), (status, "MISS"));
        let (second, cache, ..) = get(&proxy, &path, &[]).await;
        assert_eq!(
            (second, cache.as_str()),
            (status, "HIT"),
            "{status} is stored"
        );
        assert_eq!(
            origin.path_count(&format!("/cache/status-{status}")).await,
            1
        );
    }
    let path = "/cache/plain-503?status=503";
    get(&proxy, path, &[]).await;
    let (_, cache, ..) = get(&proxy, path, &[]).await;
    assert_eq!(
        cache, "MISS",
        "no explicit freshness, not a heuristic status"
    );
}

#[tokio::test]
async fn a_no_cache_field_list_drops_those_fields_and_serves_the_rest() {
    let origin = Origin::start("a").await;
    let proxy = start(&origin).await;
    let path = "/cache/qualified?cookie=1&cc=no-cache%3D%22Set-Cookie%22%2C%20max-age%3D60";
    let (_, first, body, miss) = get(&proxy, path, &[]).await;
    assert_eq!(first, "MISS");
    assert!(
        miss.headers().contains_key("set-cookie"),
        "the origin's client gets it"
    );
    let (_, second, again, hit) = get(&proxy, path, &[]).await;
    assert_eq!(second, "HIT");
    assert_eq!(again, body);
    assert!(!hit.headers().contains_key("set-cookie"), "never replayed");
    assert_eq!(origin.path_count("/cache/qualified").await, 1);
}

#[tokio::test]
async fn ranges_are_answered_from_a_stored_complete_response() {
    let origin = Origin::start("a").await;
    let proxy = start(&origin).await;
    let path = "/cache/range?cc=max-age%3D60&etag=%22r1%22&size=20";
    let (_, _, whole, _) = get(&proxy, path, &[]).await;
    let len = whole.len();
    let part = |range: &'static str| {
        let proxy = &proxy;
        async move { get(proxy, path, &[("range", range)]).await }
    };
    let (status, cache, body, response) = part("bytes=0-4").await;
    assert_eq!(
        (status, cache.as_str(), body.as_str()),
        (206, "HIT", &whole[..5])
    );
    assert_eq!(
        response.headers()["content-range"],
        format!("bytes 0-4/{len}")
    );
    let (status, _, body, _) = part("bytes=-3").await;
    assert_eq!((status, body.as_str()), (206, &whole[len - 3..]));
    let (status, _, body, response) = part("bytes=5-").await;
    assert_eq!((status, body.as_str()), (206, &whole[5..]));
    assert_eq!(
        response.headers()["content-range"],
        format!("bytes 5-{}/{len}", len - 1)
    );
    let (status, _, _, response) = part("bytes=1000-").await;
    assert_eq!(status, 416);
    assert_eq!(
        response.headers()["content-range"],
        format!("bytes */{len}")
    );
    let (status, _, body, _) = get(
        &proxy,
        path,
        &[("range", "bytes=0-4"), ("if-range", "\"r1\"")],
    )
    .await;
    assert_eq!((status, body.len()), (206, 5));
    let (status, _, body, _) = get(
        &proxy,
        path,
        &[("range", "bytes=0-4"), ("if-range", "\"other\"")],
    )
    .await;
    assert_eq!(
        (status, body),
        (200, whole.clone()),
        "If-Range failed: the whole"
    );
    assert_eq!(origin.path_count("/cache/range").await, 1);
}

#[tokio::test]
async fn a_partial_response_from_the_origin_is_not_stored() {
    let origin = Origin::start("a").await;
    let proxy = start(&origin).await;
    let path = "/cache/partial?status=206&cc=max-age%3D60";
    for _ in 0..2 {
        let (status, cache, ..) = get(&proxy, path, &[("range", "bytes=0-1")]).await;
        assert_eq!((status, cache.as_str()), (206, "MISS"));
    }
    let (_, cache, ..) = get(&proxy, path, &[]).await;
    assert_eq!(cache, "MISS", "a 206 is never stored as the whole");
}
