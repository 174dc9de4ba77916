//! Distribution: exact round robin and the weighted split.

use std::collections::BTreeMap;

use crate::helpers::{Origin, Proxy, client, instance, upstream, upstream_with};

async fn tally(proxy: &Proxy, requests: usize) -> BTreeMap<String, usize> {
    let client = client();
    let mut seen = BTreeMap::new();
    for _ in 0..requests {
        let response = client.get(proxy.url("/")).send().await.expect("request");
        assert_eq!(response.status(), 200);
        *seen.entry(instance(&response)).or_insert(0) += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_is_exact_over_three_backends() {
    let (a, b, c) = (
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    );
    let proxy = Proxy::start(&upstream("app", &[&a, &b, &c])).await;

    let seen = tally(&proxy, 30).await;

    assert_eq!(seen.get("a"), Some(&10), "{seen:?}");
    assert_eq!(seen.get("b"), Some(&10), "{seen:?}");
    assert_eq!(seen.get("c"), Some(&10), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_split_traffic_in_proportion() {
    let (a, b, c) = (
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    );
    let backends = format!(
        "{{ addr = \"{}\", weight = 1 }}, {{ addr = \"{}\", weight = 2 }}, {{ addr = \"{}\", weight = 3 }}",
        a.addr, b.addr, c.addr
    );
    let proxy = Proxy::start(&upstream_with("app", &backends)).await;

    let seen = tally(&proxy, 60).await;

    assert_eq!(seen.get("a"), Some(&10), "{seen:?}");
    assert_eq!(seen.get("b"), Some(&20), "{seen:?}");
    assert_eq!(seen.get("c"), Some(&30), "{seen:?}");
}
