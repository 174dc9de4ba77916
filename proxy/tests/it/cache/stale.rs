//! Stale copies: revalidation, stale-while-revalidate and stale-if-error.

use super::{ONE_MIB, cache_table, get, start};
use crate::helpers::{Origin, Proxy, client, upstream};

#[tokio::test]
async fn stale_if_error_serves_while_every_backend_is_killed() {
    let mut origin = Origin::start("a").await;
    let proxy = start(&origin).await;
    let lasting = "/cache/lasting?cc=max-age%3D0%2C%20stale-if-error%3D60";
    let strict = "/cache/strict?cc=max-age%3D0";
    let (_, _, body, _) = get(&proxy, lasting, &[]).await;
    get(&proxy, strict, &[]).await;
    origin.kill();

    let (status, cache, stale, _) = get(&proxy, lasting, &[]).await;
    assert_eq!((status, cache.as_str()), (200, "STALE"));
    assert_eq!(stale, body);
    let (status, ..) = get(&proxy, strict, &[]).await;
    assert!(
        status >= 500,
        "no stale-if-error, so the failure shows: {status}"
    );
}

#[tokio::test]
async fn stale_entries_revalidate_with_their_validators() {
    let origin = Origin::start("a").await;
    let proxy = start(&origin).await;
    let path = "/cache/validated?cc=max-age%3D0&etag=%22v1%22";
    let (_, first, body, _) = get(&proxy, path, &[]).await;
    assert_eq!(first, "MISS");
    let (status, cache, again, _) = get(&proxy, path, &[]).await;
    assert_eq!((status, cache.as_str()), (200, "REVALIDATED"));
    assert_eq!(
        again, body,
        "the stored body answers after the origin's 304"
    );
    assert_eq!(origin.path_count("/cache/validated").await, 2);
}

#[tokio::test]
async fn stale_while_revalidate_answers_at_once_and_refreshes_behind() {
    let origin = Origin::start("a").await;
    let proxy = start(&origin).await;
    let path = "/cache/behind?cc=max-age%3D0%2C%20stale-while-revalidate%3D60&delay_ms=200";
    let (_, first, body, _) = get(&proxy, path, &[]).await;
    assert_eq!(first, "MISS");
    assert!(body.starts_with("/cache/behind #1 "));

    let started = std::time::Instant::now();
    let (status, cache, stale, _) = get(&proxy, path, &[]).await;
    assert_eq!((status, cache.as_str()), (200, "STALE"));
    assert_eq!(stale, body, "the stale copy answers");
    assert!(
        started.elapsed() < std::time::Duration::from_millis(150),
        "without waiting for the origin's 200 ms"
    );
    shared::testing::wait_until(
        "the background refresh is stored",
        std::time::Duration::from_secs(5),
        || async {
            let (_, cache, body, _) = get(&proxy, path, &[]).await;
            (cache == "STALE" && !body.starts_with("/cache/behind #1 ")).then_some(())
        },
    )
    .await
    .expect("refreshed copy served");
}

#[tokio::test]
async fn a_background_refresh_is_forwarded_like_the_request_it_serves() {
    let origin = Origin::start("a").await;
    let proxy = start(&origin).await;
    let path = "/cache/forwarded?cc=max-age%3D0%2C%20stale-while-revalidate%3D60\
                &show=x-forwarded-for,x-forwarded-proto,x-forwarded-host,via,x-request-id,x-secret";
    // `x-secret` is nominated by `Connection`, so it must never reach the origin.
    let asked = [
        ("x-request-id", "refresh-trigger"),
        ("connection", "x-secret"),
        ("x-secret", "hop-only"),
    ];
    let (_, first, forwarded, _) = get(&proxy, path, &asked).await;
    assert_eq!(first, "MISS");
    let seen_by_origin = |body: &str| {
        body.lines()
            .next()
            .and_then(|line| line.split_once(" - "))
            .map(|(_, headers)| headers.to_owned())
            .unwrap_or_default()
    };
    let expected = format!(
        "x-forwarded-for=127.0.0.1 x-forwarded-proto=http x-forwarded-host={} \
         via=1.1 flotilla x-request-id=refresh-trigger x-secret=-",
        proxy
            .url("")
            .trim_start_matches("http://")
            .trim_end_matches('/')
    );
    assert_eq!(
        seen_by_origin(&forwarded),
        expected,
        "a plain miss: {forwarded}"
    );

    let (_, cache, ..) = get(&proxy, path, &asked).await;
    assert_eq!(
        cache, "STALE",
        "the stale copy answers and a refresh starts"
    );
    let refreshed = shared::testing::wait_until(
        "the background refresh is stored",
        std::time::Duration::from_secs(5),
        || async {
            let (_, _, body, _) = get(&proxy, path, &asked).await;
            body.starts_with("/cache/forwarded #2 ").then_some(body)
        },
    )
    .await
    .expect("refreshed copy served");
    assert_eq!(
        seen_by_origin(&refreshed),
        expected,
        "the refresh carried the same forwarding headers: {refreshed}"
    );
}

#[tokio::test]
async fn stale_if_error_from_config_covers_an_origin_answering_5xx() {
    let origin = Origin::start("a").await;
    let proxy = Proxy::start(&format!(
        "{}stale_if_error_secs = 60\n\n{}",
        cache_table(ONE_MIB, 64 * 1024),
        upstream("app", &[&origin])
    ))
    .await;
    let path = "/cache/failing?cc=max-age%3D0";
    let strict = "/cache/failing-strict?cc=max-age%3D0%2C%20must-revalidate";
    let (_, _, body, _) = get(&proxy, path, &[]).await;
    get(&proxy, strict, &[]).await;
    let failed = client()
        .post(format!("http://{}/__fail", origin.addr))
        .send()
        .await
        .expect("fail");
    assert_eq!(failed.status().as_u16(), 204);

    let (status, cache, stale, _) = get(&proxy, path, &[]).await;
    assert_eq!((status, cache.as_str()), (200, "STALE"));
    assert_eq!(stale, body);
    let (status, ..) = get(&proxy, strict, &[]).await;
    assert_eq!(status, 500, "must-revalidate forbids serving stale");
}
