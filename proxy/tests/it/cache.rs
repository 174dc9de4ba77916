//! The response cache end to end: the real proxy in front of a real origin whose
//! `/cache/...` handler answers with the headers a test asks for and counts its hits.

use futures::future::join_all;
use reqwest::Response;

use crate::helpers::{Origin, Proxy, client, metric, upstream};

mod keys;
mod rfc;
mod stale;
mod status;

const ONE_MIB: u64 = 1024 * 1024;

fn cache_table(max_size_bytes: u64, max_object_bytes: u64) -> String {
    format!(
        "[cache]\nenabled = true\nmax_size_bytes = {max_size_bytes}\n\
         max_object_bytes = {max_object_bytes}\nlock_timeout_ms = 5000\n"
    )
}

async fn start(origin: &Origin) -> Proxy {
    Proxy::start(&format!(
        "{}{}",
        cache_table(8 * ONE_MIB, ONE_MIB),
        upstream("app", &[origin])
    ))
    .await
}

fn x_cache(response: &Response) -> String {
    response
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

async fn get(
    proxy: &Proxy,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String, Response) {
    get_with(&client(), proxy, path, headers).await
}

/// [`get`] on a given client: building a TLS-capable client per request costs enough
/// CPU, across hundreds of requests, to starve the timing-sensitive tests alongside.
async fn get_with(
    client: &reqwest::Client,
    proxy: &Proxy,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String, Response) {
    let mut request = client.get(proxy.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let cache = x_cache(&response);
    let mut copy = http::Response::builder().status(status);
    for (name, value) in response.headers() {
        copy = copy.header(name, value);
    }
    let body = response.text().await.expect("body");
    let copy = Response::from(copy.body(body.clone()).expect("copy"));
    (status, cache, body, copy)
}

#[tokio::test]
async fn two_hundred_concurrent_misses_make_one_origin_request() {
    let origin = Origin::start("a").await;
    let proxy = start(&origin).await;
    let path = "/cache/crowd?cc=max-age%3D60&delay_ms=300";
    let client = client();
    let responses = join_all((0..200).map(|_| get_with(&client, &proxy, path, &[]))).await;
    assert!(responses.iter().all(|(status, ..)| *status == 200));
    assert!(
        responses
            .iter()
            .all(|(_, _, body, _)| body.starts_with("/cache/crowd #1 ")),
        "everyone shares the first response"
    );
    let misses = responses.iter().filter(|(_, c, ..)| c == "MISS").count();
    assert_eq!(misses, 1, "one leader went upstream");
    assert_eq!(origin.path_count("/cache/crowd").await, 1);
}

#[tokio::test]
async fn hits_carry_age_serve_head_and_answer_conditionals() {
    let origin = Origin::start("a").await;
    let proxy = start(&origin).await;
    let path = "/cache/hit?cc=max-age%3D60&etag=%22v1%22";
    let (_, first, body, _) = get(&proxy, path, &[]).await;
    assert_eq!(first, "MISS");
    let (status, second, again, response) = get(&proxy, path, &[]).await;
    assert_eq!((status, second.as_str()), (200, "HIT"));
    assert_eq!(again, body);
    assert!(response.headers().contains_key("age"));
    assert_eq!(response.headers()["etag"], "\"v1\"");

    let head = client().head(proxy.url(path)).send().await.expect("head");
    assert_eq!(
        (head.status().as_u16(), x_cache(&head).as_str()),
        (200, "HIT")
    );

    let (status, cache, body, _) = get(&proxy, path, &[("if-none-match", "\"v1\"")]).await;
    assert_eq!((status, cache.as_str(), body.as_str()), (304, "HIT", ""));
    assert_eq!(origin.path_count("/cache/hit").await, 1);
}

#[tokio::test]
async fn private_authorised_and_cookie_responses_are_never_shared() {
    let origin = Origin::start("a").await;
    let proxy = start(&origin).await;

    let private = "/cache/private?cc=private%2C%20max-age%3D60";
    for _ in 0..2 {
        let (_, cache, ..) = get(&proxy, private, &[]).await;
        assert_eq!(cache, "MISS");
    }
    assert_eq!(origin.path_count("/cache/private").await, 2);

    let authorised = "/cache/mine?cc=max-age%3D60";
    let (_, _, alice, _) = get(&proxy, authorised, &[("authorization", "Bearer alice")]).await;
    assert!(alice.contains("Bearer alice"));
    let (_, cache, bob, _) = get(&proxy, authorised, &[("authorization", "Bearer bob")]).await;
    assert_eq!(cache, "MISS");
    assert!(
        bob.contains("Bearer bob"),
        "bob never sees alice's response: {bob}"
    );
    let (_, _, anonymous, _) = get(&proxy, authorised, &[]).await;
    assert!(!anonymous.contains("Bearer"), "nor does an anonymous user");

    let public = "/cache/shared?cc=public%2C%20max-age%3D60";
    get(&proxy, public, &[("authorization", "Bearer alice")]).await;
    let (_, cache, ..) = get(&proxy, public, &[("authorization", "Bearer bob")]).await;
    assert_eq!(cache, "HIT", "an explicitly public response may be shared");

    let cookie = "/cache/cookie?cc=max-age%3D60&cookie=1";
    get(&proxy, cookie, &[]).await;
    let (_, cache, ..) = get(&proxy, cookie, &[]).await;
    assert_eq!(cache, "MISS");
}

#[tokio::test]
async fn ten_times_the_capacity_stays_within_the_byte_bound() {
    let origin = Origin::start("a").await;
    let bound = 256 * 1024;
    let proxy = Proxy::start(&format!(
        "{}{}",
        cache_table(bound, 64 * 1024),
        upstream("app", &[&origin])
    ))
    .await;
    let client = client();
    for index in 0..80 {
        let (status, ..) = get_with(
            &client,
            &proxy,
            &format!("/cache/fill{index}?cc=max-age%3D600&size=32768"),
            &[],
        )
        .await;
        assert_eq!(status, 200);
    }
    let text = proxy.metrics().await;
    let bytes = metric(&text, "proxy_cache_bytes", &[]);
    assert!(bytes > 0.0 && bytes <= bound as f64, "{bytes} bytes held");
    assert!(metric(&text, "proxy_cache_evictions_total", &[]) > 0.0);
    assert!(metric(&text, "proxy_cache_requests_total", &[("result", "miss")]) >= 80.0);
    let status = proxy.status().await;
    assert!(status["cache"]["bytes"].as_u64().unwrap_or(u64::MAX) <= bound);
}

#[tokio::test]
async fn request_directives_are_honoured() {
    let origin = Origin::start("a").await;
    let proxy = start(&origin).await;
    let (status, ..) = get(
        &proxy,
        "/cache/absent",
        &[("cache-control", "only-if-cached")],
    )
    .await;
    assert_eq!(status, 504);
    assert_eq!(origin.path_count("/cache/absent").await, 0);

    let path = "/cache/directed?cc=max-age%3D60";
    get(&proxy, path, &[]).await;
    let (_, cache, ..) = get(&proxy, path, &[("cache-control", "only-if-cached")]).await;
    assert_eq!(cache, "HIT");
    let (_, cache, ..) = get(&proxy, path, &[("cache-control", "no-cache")]).await;
    assert_eq!(cache, "MISS");
    let (_, cache, ..) = get(&proxy, path, &[("cache-control", "max-age=0")]).await;
    assert_eq!(cache, "MISS");
    let (_, cache, ..) = get(&proxy, path, &[("cache-control", "min-fresh=3600")]).await;
    assert_eq!(cache, "MISS");
    assert_eq!(origin.path_count("/cache/directed").await, 4);
}

#[tokio::test]
async fn vary_keys_variants_and_star_is_never_stored() {
    let origin = Origin::start("a").await;
    let proxy = start(&origin).await;
    let path = "/cache/lang?cc=max-age%3D60&vary=accept-language";
    let en = [("accept-language", "en")];
    let fr = [("accept-language", "fr")];
    let (_, a, ..) = get(&proxy, path, &en).await;
    let (_, b, ..) = get(&proxy, path, &fr).await;
    let (_, c, ..) = get(&proxy, path, &en).await;
    assert_eq!(
        (a.as_str(), b.as_str(), c.as_str()),
        ("MISS", "MISS", "HIT")
    );

    let star = "/cache/star?cc=max-age%3D60&vary=*";
    get(&proxy, star, &[]).await;
    let (_, cache, ..) = get(&proxy, star, &[]).await;
    assert_eq!(cache, "MISS");
}

#[tokio::test]
async fn unsafe_methods_and_purges_invalidate() {
    let origin = Origin::start("a").await;
    let proxy = start(&origin).await;
    let path = "/cache/doc?cc=max-age%3D60";
    get(&proxy, path, &[]).await;
    let posted = client()
        .post(proxy.url(path))
        .body("x")
        .send()
        .await
        .expect("post");
    assert_eq!(posted.status().as_u16(), 200);
    let (_, cache, ..) = get(&proxy, path, &[]).await;
    assert_eq!(cache, "MISS", "a successful POST invalidated the URL");
    let (_, cache, ..) = get(&proxy, path, &[]).await;
    assert_eq!(cache, "HIT");

    let key = format!("http://{}{path}", proxy.addr);
    let purge = client()
        .post(proxy.admin_url("/cache/purge"))
        .query(&[("url", key.as_str())])
        .send()
        .await
        .expect("purge");
    assert_eq!(purge.status().as_u16(), 200);
    let (_, cache, ..) = get(&proxy, path, &[]).await;
    assert_eq!(cache, "MISS", "purged by exact URL");

    let prefix = format!("http://{}/cache/", proxy.addr);
    let purged: serde_json::Value = client()
        .post(proxy.admin_url("/cache/purge"))
        .query(&[("prefix", prefix.as_str())])
        .send()
        .await
        .expect("purge")
        .json()
        .await
        .expect("json");
    assert_eq!(purged["purged"], 1);
}

#[tokio::test]
async fn large_objects_stream_through_uncached_and_bypass_is_labelled() {
    let origin = Origin::start("a").await;
    let proxy = Proxy::start(&format!(
        "{}{}",
        cache_table(ONE_MIB, 16 * 1024),
        upstream("app", &[&origin])
    ))
    .await;
    let path = "/cache/big?cc=max-age%3D60&size=100000";
    for _ in 0..2 {
        let (status, cache, body, _) = get(&proxy, path, &[]).await;
        assert_eq!((status, cache.as_str()), (200, "MISS"));
        assert!(body.len() > 100_000);
    }
    assert_eq!(origin.path_count("/cache/big").await, 2);
    let posted = client()
        .post(proxy.url("/cache/p"))
        .send()
        .await
        .expect("post");
    assert_eq!(x_cache(&posted), "BYPASS");
}

#[tokio::test]
async fn purging_needs_the_configured_bearer_token() {
    let origin = Origin::start("a").await;
    let proxy = Proxy::start(&format!(
        "purge_token = \"s3cret\"\n\n{}{}",
        cache_table(ONE_MIB, 64 * 1024),
        upstream("app", &[&origin])
    ))
    .await;
    let path = "/cache/guarded?cc=max-age%3D60";
    get(&proxy, path, &[]).await;
    let key = format!("http://{}{path}", proxy.addr);
    let purge = |token: Option<&'static str>| {
        let mut request = client()
            .post(proxy.admin_url("/cache/purge"))
            .query(&[("url", key.clone())]);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(purge(None).await.expect("purge").status().as_u16(), 401);
    assert_eq!(
        purge(Some("wrong")).await.expect("purge").status().as_u16(),
        401
    );
    let (_, cache, ..) = get(&proxy, path, &[]).await;
    assert_eq!(cache, "HIT", "a refused purge leaves the entry");
    assert_eq!(
        purge(Some("s3cret"))
            .await
            .expect("purge")
            .status()
            .as_u16(),
        200
    );
    let (_, cache, ..) = get(&proxy, path, &[]).await;
    assert_eq!(cache, "MISS");
}

#[tokio::test]
async fn waiters_past_the_lock_timeout_go_upstream_themselves() {
    let origin = Origin::start("a").await;
    let proxy = Proxy::start(&format!(
        "{}{}",
        cache_table(ONE_MIB, 64 * 1024).replace("lock_timeout_ms = 5000", "lock_timeout_ms = 50"),
        upstream("app", &[&origin])
    ))
    .await;
    let path = "/cache/slowfill?cc=max-age%3D60&delay_ms=1000";
    let started = std::time::Instant::now();
    let responses = join_all((0..5).map(|_| get(&proxy, path, &[]))).await;
    assert!(responses.iter().all(|(status, ..)| *status == 200));
    assert_eq!(origin.path_count("/cache/slowfill").await, 5);
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1900),
        "no one waited for the leader"
    );
}

#[tokio::test]
async fn expires_no_cache_and_streams_follow_their_rules() {
    let origin = Origin::start("a").await;
    let proxy = start(&origin).await;
    let expires = "/cache/expires?expires=Thu%2C%2001%20Jan%202099%2000%3A00%3A00%20GMT";
    get(&proxy, expires, &[]).await;
    let (_, cache, ..) = get(&proxy, expires, &[]).await;
    assert_eq!(cache, "HIT", "Expires alone gives freshness");

    let unlabelled = "/cache/unlabelled";
    get(&proxy, unlabelled, &[]).await;
    let (_, cache, ..) = get(&proxy, unlabelled, &[]).await;
    assert_eq!(cache, "MISS", "no heuristic freshness by default");

    let no_cache = "/cache/nocache?cc=no-cache%2C%20max-age%3D60&etag=%22n1%22";
    get(&proxy, no_cache, &[]).await;
    let (_, cache, ..) = get(&proxy, no_cache, &[]).await;
    assert_eq!(
        cache, "REVALIDATED",
        "no-cache is stored but checked before every use"
    );
    assert_eq!(origin.path_count("/cache/nocache").await, 2);

    let sse = client()
        .get(proxy.url("/cache/events?cc=max-age%3D60"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("sse");
    assert_eq!(x_cache(&sse), "BYPASS");
}

#[tokio::test]
async fn quick_mode_turns_the_cache_on_with_a_size() {
    use shared::testing::{ChildGuard, READY_DEADLINE, free_port, wait_for_status, wait_for_tcp};
    let origin = Origin::start("a").await;
    let public: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let admin: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let _proxy = ChildGuard::spawn(
        std::process::Command::new(env!("CARGO_BIN_EXE_proxy"))
            .args([
                "--listen",
                &public.to_string(),
                "--backend",
                &origin.addr.to_string(),
            ])
            .args(["--admin", &admin.to_string(), "--cache", "1MiB"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    wait_for_status(admin, "/healthz", 200, READY_DEADLINE)
        .await
        .expect("admin ready");
    wait_for_tcp(public, READY_DEADLINE)
        .await
        .expect("public ready");
    let url = format!("http://{public}/cache/quick?cc=max-age%3D60");
    let mut seen = Vec::new();
    for _ in 0..2 {
        let response = client().get(&url).send().await.expect("request");
        seen.push(x_cache(&response));
    }
    assert_eq!(seen, ["MISS", "HIT"]);
    let status: serde_json::Value = client()
        .get(format!("http://{admin}/status"))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    assert_eq!(status["cache"]["max_size_bytes"], 1024 * 1024);
}
