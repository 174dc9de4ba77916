//! SIGHUP reloads: backends change under load with no failed request; a bad file is
//! rejected and the old config keeps serving.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use shared::testing::wait_until;

use crate::helpers::{Origin, Proxy, SETTLE, client, instance, upstream};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sighup_adds_and_removes_a_backend_under_load() {
    let (a, b, c) = (
        Origin::start("a").await,
        Origin::start("b").await,
        Origin::start("c").await,
    );
    let proxy = Proxy::start(&upstream("app", &[&a, &b])).await;
    let failed = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let seen_c = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (url, failed, stop, seen_c) =
                (proxy.url("/"), failed.clone(), stop.clone(), seen_c.clone());
            tokio::spawn(async move {
                let client = client();
                while !stop.load(Ordering::Relaxed) {
                    match client.get(&url).send().await {
                        Ok(r) if r.status() == 200 => {
                            if instance(&r) == "c" {
                                seen_c.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();

    proxy.reload(&upstream("app", &[&b, &c]));
    wait_until("the added backend gets traffic", SETTLE, || async {
        (seen_c.load(Ordering::Relaxed) > 20).then_some(())
    })
    .await
    .expect("c added");
    let a_before = a.count("GET").await;
    let seen_before = seen_c.load(Ordering::Relaxed);
    wait_until("more traffic after the reload", SETTLE, || async {
        (seen_c.load(Ordering::Relaxed) > seen_before + 50).then_some(())
    })
    .await
    .expect("traffic continues");
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.expect("worker");
    }

    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed across the reload"
    );
    assert_eq!(
        a.count("GET").await,
        a_before,
        "the removed backend still got traffic"
    );
    let status = proxy.status().await;
    let addrs: Vec<&str> = status["upstreams"][0]["backends"]
        .as_array()
        .expect("backends")
        .iter()
        .filter_map(|b| b["addr"].as_str())
        .collect();
    assert!(
        addrs.contains(&c.addr.to_string().as_str())
            && !addrs.contains(&a.addr.to_string().as_str()),
        "{addrs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_reload_is_rejected_and_the_old_config_stays() {
    let (a, b) = (Origin::start("a").await, Origin::start("b").await);
    let proxy = Proxy::start(&upstream("app", &[&a])).await;

    proxy.reload_raw("[[listeners]]\naddr = \"not an address\"\n");
    // A good reload afterwards proves the bad one was read and dropped, not queued.
    let client = client();
    let response = client.get(proxy.url("/")).send().await.expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(instance(&response), "a");

    proxy.reload(&upstream("app", &[&b]));
    wait_until("the good reload applies", SETTLE, || {
        let client = client.clone();
        let url = proxy.url("/");
        async move {
            let response = client.get(url).send().await.ok()?;
            (instance(&response) == "b").then_some(())
        }
    })
    .await
    .expect("reload after a rejected one");
}
