//! The group as the gateway uses it: selection over live state, reloads, DNS, the budget.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::testing::wait_until;
use tokio_util::sync::CancellationToken;

use super::{Outcome, Upstream};
use crate::config::upstream::{BackendConfig, Balance, DnsConfig, UpstreamConfig};

fn addr(n: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, n], 9))
}

fn group(members: &[u8]) -> UpstreamConfig {
    UpstreamConfig::from_addrs(members.iter().map(|n| addr(*n)).collect())
}

fn counts(upstream: &Upstream, picks: usize, tried: &[SocketAddr]) -> HashMap<SocketAddr, usize> {
    let mut counts = HashMap::new();
    for _ in 0..picks {
        let selection = upstream.select(None, tried).expect("eligible backend");
        *counts.entry(selection.addr()).or_default() += 1;
    }
    counts
}

fn eject(upstream: &Upstream, target: SocketAddr) {
    attempt(upstream, target, Outcome::ConnectFailed);
}

/// One attempt on `target` that ends with `outcome`.
fn attempt(upstream: &Upstream, target: SocketAddr, outcome: Outcome) {
    let others: Vec<SocketAddr> = upstream
        .snapshot()
        .iter()
        .map(|s| s.addr)
        .filter(|a| *a != target)
        .collect();
    let selection = upstream.select(None, &others).expect("target eligible");
    assert_eq!(selection.addr(), target);
    selection.finish(outcome);
}

#[test]
fn round_robin_is_exact_over_eligible_backends() {
    let upstream = Upstream::new("app", &group(&[1, 2, 3]));
    let counts_all = counts(&upstream, 300, &[]);
    assert_eq!(counts_all.values().copied().collect::<Vec<_>>(), [100; 3]);

    eject(&upstream, addr(2));
    let counts_two = counts(&upstream, 300, &[]);
    assert_eq!(counts_two.get(&addr(2)), None);
    assert_eq!(counts_two[&addr(1)], 150);
    assert_eq!(counts_two[&addr(3)], 150);
}

#[test]
fn weighted_round_robin_splits_by_weight_through_the_group() {
    let mut config = group(&[1, 2, 3]);
    config.balance = Balance::WeightedRoundRobin;
    if let Some(backends) = &mut config.backends {
        backends[0].weight = 5;
    }
    let upstream = Upstream::new("app", &config);
    let split = counts(&upstream, 700, &[]);
    assert_eq!(
        (split[&addr(1)], split[&addr(2)], split[&addr(3)]),
        (500, 100, 100)
    );
}

#[test]
fn a_connect_failure_ejects_at_once_and_selection_avoids_it() {
    let upstream = Upstream::new("app", &group(&[1, 2]));
    eject(&upstream, addr(1));
    let status = &upstream.snapshot()[0];
    assert!(status.ejected && !status.eligible && status.healthy);
    assert_eq!(status.ejections_total, 1);
    assert_eq!(upstream.eligible_count(), 1);
    assert_eq!(counts(&upstream, 20, &[])[&addr(2)], 20);
}

#[test]
fn ambiguous_failures_never_eject_more_than_half_the_group() {
    let upstream = Upstream::new("app", &group(&[1, 2, 3]));
    attempt(&upstream, addr(2), Outcome::Timeout);
    assert_eq!(upstream.eligible_count(), 2, "the first timeout ejects");
    // A stalled proxy times out every backend at once; the rest of the group stays in.
    attempt(&upstream, addr(1), Outcome::Timeout);
    attempt(&upstream, addr(3), Outcome::Broken);
    attempt(&upstream, addr(3), Outcome::Status(503));
    assert_eq!(upstream.eligible_count(), 2);
    assert_eq!(upstream.snapshot()[0].ejections_total, 0);
    // A refused connection is the backend's own word: it ejects past the cap.
    attempt(&upstream, addr(1), Outcome::ConnectFailed);
    attempt(&upstream, addr(3), Outcome::ConnectFailed);
    assert_eq!(upstream.eligible_count(), 0);

    let single = Upstream::new("one", &group(&[1]));
    attempt(&single, addr(1), Outcome::Timeout);
    assert_eq!(
        single.eligible_count(),
        1,
        "a lone backend is never ejected on a timeout"
    );
}

#[test]
fn with_every_backend_ineligible_select_answers_none_at_once() {
    let upstream = Upstream::new("app", &group(&[1, 2]));
    eject(&upstream, addr(1));
    eject(&upstream, addr(2));
    assert_eq!(upstream.eligible_count(), 0);
    assert!(upstream.select(None, &[]).is_none());
}

#[test]
fn tried_backends_are_never_picked_again() {
    let upstream = Upstream::new("app", &group(&[1, 2, 3]));
    assert_eq!(counts(&upstream, 30, &[addr(1), addr(3)])[&addr(2)], 30);
    assert!(
        upstream
            .select(None, &[addr(1), addr(2), addr(3)])
            .is_none()
    );
    let first = upstream.select(None, &[]).expect("pick");
    let second = upstream.select(None, &[first.addr()]).expect("pick");
    assert_ne!(first.addr(), second.addr());
}

#[test]
fn a_selection_holds_one_in_flight_until_finished_or_dropped() {
    let upstream = Upstream::new("app", &group(&[1]));
    let inflight = |u: &Upstream| u.snapshot()[0].inflight;
    let first = upstream.select(None, &[]).expect("pick");
    let second = upstream.select(None, &[]).expect("pick");
    assert_eq!(inflight(&upstream), 2);
    first.finish(Outcome::Success);
    assert_eq!(inflight(&upstream), 1);
    drop(second);
    assert_eq!(inflight(&upstream), 0);
    assert_eq!(upstream.snapshot()[0].requests_total, 2);
    assert_eq!(
        upstream.snapshot()[0].ejections_total,
        0,
        "a drop records nothing"
    );
}

#[test]
fn slow_start_gives_a_readmitted_backend_a_growing_share() {
    let mut config = group(&[1, 2]);
    config.slow_start_ms = 10_000;
    config.passive.base_ejection_ms = 1000;
    let upstream = Upstream::new("app", &config);
    let t0 = Instant::now();
    let victim = upstream
        .select_at(None, &[addr(1)], t0)
        .expect("second backend");
    victim.finish_at(Outcome::ConnectFailed, t0);
    let share = |at: Instant, picks: usize| {
        (0..picks)
            .filter(|_| {
                let s = upstream.select_at(None, &[], at).expect("pick");
                s.addr() == addr(2)
            })
            .count()
    };
    let back = t0 + Duration::from_millis(1000);
    assert_eq!(share(t0 + Duration::from_millis(500), 50), 0, "ejected");
    assert_eq!(share(back, 110), 10, "10% of an equal share at readmission");
    let half = share(back + Duration::from_millis(5000), 155);
    assert!(
        (50..=60).contains(&half),
        "55% of an equal share halfway: {half}"
    );
    assert_eq!(
        share(back + Duration::from_millis(10_000), 100),
        50,
        "full share"
    );
}

#[test]
fn reconfigure_keeps_state_of_unchanged_backends_and_lets_removed_ones_finish() {
    let upstream = Upstream::new("app", &group(&[1, 2, 3]));
    eject(&upstream, addr(2));
    let on_kept = upstream.select(None, &[addr(2), addr(3)]).expect("first");
    let on_removed = upstream.select(None, &[addr(1), addr(2)]).expect("third");
    assert_eq!((on_kept.addr(), on_removed.addr()), (addr(1), addr(3)));

    let mut config = group(&[1, 2, 4]);
    config.balance = Balance::WeightedRoundRobin;
    config.backends = Some(vec![
        BackendConfig {
            addr: addr(1),
            weight: 3,
        },
        BackendConfig {
            addr: addr(2),
            weight: 1,
        },
        BackendConfig {
            addr: addr(4),
            weight: 1,
        },
    ]);
    upstream.reconfigure(&config);
    assert_eq!(upstream.config().balance, Balance::WeightedRoundRobin);

    let snapshot = upstream.snapshot();
    let addrs: Vec<SocketAddr> = snapshot.iter().map(|s| s.addr).collect();
    assert_eq!(addrs, [addr(1), addr(2), addr(4)]);
    assert_eq!(
        (snapshot[0].weight, snapshot[0].inflight),
        (3, 1),
        "state kept"
    );
    assert_eq!(snapshot[0].requests_total, 1);
    assert!(snapshot[1].ejected, "ejection kept");
    assert!(
        snapshot[2].eligible && snapshot[2].requests_total == 0,
        "added fresh"
    );

    let picks = counts(&upstream, 100, &[]);
    assert_eq!(picks.get(&addr(3)), None, "removed: no new picks");
    assert_eq!(picks.get(&addr(2)), None, "still ejected");
    assert_eq!((picks[&addr(1)], picks[&addr(4)]), (75, 25));

    on_removed.finish(Outcome::Success);
    on_kept.finish(Outcome::Success);
    assert_eq!(upstream.snapshot()[0].inflight, 0);
}

#[test]
fn the_retry_budget_allows_a_fraction_of_recent_requests() {
    let mut config = group(&[1, 2]);
    config.retry.budget_ratio = 0.2;
    config.retry.budget_min_retries_per_sec = 0;
    let upstream = Upstream::new("app", &config);
    for _ in 0..100 {
        drop(upstream.select(None, &[]));
    }
    // Retry picks (non-empty `tried`) are not counted as requests.
    for _ in 0..50 {
        drop(upstream.select(None, &[addr(1)]));
    }
    let granted = (0..50).filter(|_| upstream.try_acquire_retry()).count();
    assert_eq!(granted, 20);
    assert!(!upstream.try_acquire_retry());
    assert_eq!(upstream.max_attempts(), 3);
}

#[test]
fn hash_key_and_consistent_hash_work_through_the_group() {
    let mut config = group(&[1, 2, 3]);
    config.balance = Balance::ConsistentHash;
    config.hash_key = Some(crate::config::upstream::HashKey::ClientIp);
    let upstream = Upstream::new("app", &config);
    assert_eq!(upstream.hash_key(), config.hash_key);
    let home = upstream
        .select(Some(b"10.1.2.3"), &[])
        .expect("pick")
        .addr();
    for _ in 0..10 {
        assert_eq!(
            upstream
                .select(Some(b"10.1.2.3"), &[])
                .expect("pick")
                .addr(),
            home
        );
    }
    let elsewhere = upstream
        .select(Some(b"10.1.2.3"), &[home])
        .expect("next on the ring");
    assert_ne!(elsewhere.addr(), home);
}

fn dns(port: u16) -> UpstreamConfig {
    let mut config = group(&[1]);
    config.backends = None;
    config.dns = Some(DnsConfig {
        name: "localhost".into(),
        port,
        refresh_interval_ms: 100,
    });
    config.health.enabled = false;
    config
}

#[test]
fn dns_resolves_at_construction_and_keeps_the_last_good_set() {
    let config = dns(4321);
    let upstream = Upstream::new("app", &config);
    let loopback = SocketAddr::from(([127, 0, 0, 1], 4321));
    let members = |u: &Upstream| u.snapshot().iter().map(|s| s.addr).collect::<Vec<_>>();
    assert!(
        members(&upstream).contains(&loopback),
        "{:?}",
        members(&upstream)
    );
    let before = members(&upstream);

    let name = config.dns.as_ref().expect("dns");
    assert!(!upstream.apply_discovery(name, Err("SERVFAIL".into())));
    assert!(!upstream.apply_discovery(name, Ok(Vec::new())));
    assert_eq!(
        members(&upstream),
        before,
        "failed and empty answers keep the set"
    );

    let scaled = vec![loopback, SocketAddr::from(([127, 0, 0, 2], 4321))];
    assert!(upstream.apply_discovery(name, Ok(scaled.clone())));
    assert_eq!(members(&upstream), scaled);
    assert!(
        !upstream.apply_discovery(name, Ok(scaled)),
        "same set: no change"
    );
}

#[tokio::test]
async fn the_background_task_re_resolves_dns() {
    let config = dns(4322);
    let upstream = Upstream::new("app", &config);
    let stale = SocketAddr::from(([127, 0, 0, 9], 4322));
    let name = config.dns.clone().expect("dns");
    assert!(upstream.apply_discovery(&name, Ok(vec![stale])));

    let shutdown = CancellationToken::new();
    let task = tokio::spawn(Arc::clone(&upstream).run(shutdown.clone()));
    wait_until("localhost re-resolved", Duration::from_secs(5), || async {
        let members: Vec<SocketAddr> = upstream.snapshot().iter().map(|s| s.addr).collect();
        let fresh = members
            .iter()
            .any(|a| a.ip().is_loopback() && a.port() == 4322);
        (fresh && !members.contains(&stale)).then_some(())
    })
    .await
    .expect("refreshed");
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("run stops")
        .expect("no panic");
}

#[test]
fn round_robin_stays_exact_under_concurrent_selection() {
    let upstream = Upstream::new("app", &group(&[1, 2, 3]));
    let totals: Vec<HashMap<SocketAddr, usize>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| counts(&upstream, 100, &[])))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .collect()
    });
    let mut merged: HashMap<SocketAddr, usize> = HashMap::new();
    for (addr, n) in totals.into_iter().flatten() {
        *merged.entry(addr).or_default() += n;
    }
    assert_eq!(merged.values().copied().collect::<Vec<_>>(), [100; 3]);
}

#[test]
fn a_response_is_a_failed_attempt_only_when_it_is_a_5xx() {
    for status in [100, 200, 204, 304, 404, 499] {
        assert_eq!(Outcome::from_status(status), Outcome::Success, "{status}");
    }
    for status in [500, 502, 503, 599] {
        assert_eq!(Outcome::from_status(status), Outcome::Status(status));
    }
}
