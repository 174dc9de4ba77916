//! What a key is made of: query-string floods cannot push out the hot entries, and a
//! route can leave the query (or all but some parameters) out of its keys.

use futures::StreamExt;

use super::{ONE_MIB, cache_table, get, get_with};
use crate::helpers::{Origin, Proxy, check, client, upstream};

#[tokio::test]
async fn ten_thousand_query_busters_do_not_evict_the_hot_urls() {
    let origin = Origin::start("a").await;
    // Room for a few hundred of these 1 KiB responses, far fewer than the flood.
    let proxy = Proxy::start(&format!(
        "{}{}",
        cache_table(ONE_MIB, ONE_MIB / 4),
        upstream("app", &[&origin])
    ))
    .await;
    let client = client();
    let hot: Vec<String> = (0..20)
        .map(|n| format!("/cache/hot-{n}?cc=max-age%3D600&size=1024"))
        .collect();
    for _ in 0..5 {
        for path in &hot {
            get_with(&client, &proxy, path, &[]).await;
        }
    }
    let flood = futures::stream::iter(0..10_000)
        .map(|n| {
            let client = &client;
            let proxy = &proxy;
            let hot = &hot;
            async move {
                let path = format!("/cache/flood?cc=max-age%3D600&size=1024&bust={n}");
                get_with(client, proxy, &path, &[]).await;
                // Each hot URL is asked once in 200 requests, each buster once in all.
                if n % 10 == 0 {
                    let hot = &hot[(n / 10) % hot.len()];
                    let (_, cache, ..) = get_with(client, proxy, hot, &[]).await;
                    return (cache != "HIT").then(|| format!("{n}: {hot} {cache}"));
                }
                None
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<Option<String>>>();
    let missed: Vec<String> = flood.await.into_iter().flatten().collect();
    assert!(
        missed.is_empty(),
        "hot URLs missed during the flood: {missed:?}"
    );
    for path in &hot {
        let (_, cache, ..) = get_with(&client, &proxy, path, &[]).await;
        assert_eq!(cache, "HIT", "{path} survived the flood");
    }
    for n in 0..20 {
        assert_eq!(origin.path_count(&format!("/cache/hot-{n}")).await, 1);
    }
}

fn route_with(key_query: &str) -> String {
    format!(
        "[[routes]]\npath_prefix = \"/cache\"\nupstream = \"app\"\ncache_key_query = {key_query}\n"
    )
}

async fn start_with(origin: &Origin, key_query: &str) -> Proxy {
    Proxy::start(&format!(
        "{}{}{}",
        cache_table(8 * ONE_MIB, ONE_MIB),
        upstream("app", &[origin]),
        route_with(key_query)
    ))
    .await
}

#[tokio::test]
async fn cache_key_query_none_keys_on_the_path_alone() {
    let origin = Origin::start("a").await;
    let proxy = start_with(&origin, "\"none\"").await;
    let (_, first, body, _) = get(&proxy, "/cache/none?cc=max-age%3D60&bust=1", &[]).await;
    assert_eq!(first, "MISS");
    let (_, second, again, _) = get(&proxy, "/cache/none?cc=max-age%3D60&bust=2", &[]).await;
    assert_eq!((second.as_str(), again), ("HIT", body));
    assert_eq!(origin.path_count("/cache/none").await, 1);
}

#[tokio::test]
async fn cache_key_query_lists_the_parameters_that_matter() {
    let origin = Origin::start("a").await;
    let proxy = start_with(&origin, "[\"page\", \"cc\"]").await;
    get(&proxy, "/cache/list?cc=max-age%3D60&page=1&utm=a", &[]).await;
    let (_, cache, ..) = get(&proxy, "/cache/list?utm=b&cc=max-age%3D60&page=1", &[]).await;
    assert_eq!(
        cache, "HIT",
        "utm is not in the key, and order does not matter"
    );
    let (_, cache, ..) = get(&proxy, "/cache/list?cc=max-age%3D60&page=2&utm=a", &[]).await;
    assert_eq!(cache, "MISS", "page is");
    assert_eq!(origin.path_count("/cache/list").await, 2);
}

#[tokio::test]
async fn cache_key_query_all_is_the_default() {
    let origin = Origin::start("a").await;
    let proxy = start_with(&origin, "\"all\"").await;
    get(&proxy, "/cache/all?cc=max-age%3D60&bust=1", &[]).await;
    let (_, cache, ..) = get(&proxy, "/cache/all?cc=max-age%3D60&bust=2", &[]).await;
    assert_eq!(cache, "MISS");
    let (ok, output) = check(&format!(
        "{}{}{}",
        cache_table(8 * ONE_MIB, ONE_MIB),
        upstream("app", &[&origin]),
        route_with("\"some\"")
    ));
    assert!(!ok);
    assert!(output.contains("cache_key_query"), "{output}");
}
