use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;

use super::*;
use crate::config::Config;
use crate::routing::Live;
use crate::upstreams::Outcome;

fn history(backends: &[&str]) -> (Arc<History>, SharedLive) {
    let backends: Vec<SocketAddr> = backends.iter().map(|b| b.parse().expect("addr")).collect();
    let config =
        Config::quick("127.0.0.1:1".parse().expect("addr"), backends, None, None).expect("config");
    let live: SharedLive = Arc::new(ArcSwap::from_pointee(Live::build(
        &config,
        &BTreeMap::new(),
    )));
    let metrics = Arc::new(Metrics::new(live.clone()).expect("metrics"));
    (Arc::new(History::new(live.clone(), metrics, None)), live)
}

fn send(live: &SharedLive, outcomes: &[Outcome]) {
    let live = live.load();
    let group = live.upstreams().values().next().expect("a group");
    for outcome in outcomes {
        group.select(None, &[]).expect("a backend").finish(*outcome);
    }
}

#[test]
fn a_second_of_traffic_becomes_rates_shares_and_one_sample_per_backend() {
    let (history, live) = history(&["127.0.0.1:9001", "127.0.0.1:9002"]);
    let start = Instant::now();
    let wall = SystemTime::now();
    history.sample(start, wall);

    // Round robin: 3 each; one of the six fails.
    send(
        &live,
        &[
            Outcome::Success,
            Outcome::Success,
            Outcome::Status(503),
            Outcome::Success,
            Outcome::Success,
            Outcome::Success,
        ],
    );
    let snapshot = history.sample(start + TICK, wall + TICK);
    let group = &snapshot.upstreams[0];
    assert_eq!(group.backends.len(), 2);
    let rps: f64 = group.backends.iter().map(|b| b.rps).sum();
    assert!((rps - 6.0).abs() < 1e-9, "{rps}");
    for backend in &group.backends {
        assert_eq!(backend.state, "up");
        assert_eq!(backend.share, Some(0.5));
        let sample = backend.sample.expect("a sample");
        assert!((sample.rps - 3.0).abs() < 1e-9, "{sample:?}");
        assert!(backend.p99_ms.is_some());
    }
    let errors: u64 = group
        .backends
        .iter()
        .map(|b| b.sample.map_or(0, |s| s.errors))
        .sum();
    assert_eq!(errors, 1);
    let backlog = history.backlog();
    assert_eq!(backlog.len(), 2);
    assert!(backlog.values().all(|samples| samples.len() == 1));
}

#[test]
fn history_is_bounded_to_five_minutes_per_backend() {
    let (history, _live) = history(&["127.0.0.1:9001"]);
    let start = Instant::now();
    let wall = SystemTime::now();
    for second in 0..(HISTORY_SECONDS as u32 + 50) {
        history.sample(start + TICK * second, wall + TICK * second);
    }
    let backlog = history.backlog();
    assert_eq!(backlog.values().next().map(Vec::len), Some(HISTORY_SECONDS));
}

#[test]
fn a_drained_backend_reads_draining_since_the_tick_that_saw_it() {
    let (history, live) = history(&["127.0.0.1:9001", "127.0.0.1:9002"]);
    let start = Instant::now();
    let wall = SystemTime::now();
    history.sample(start, wall);
    let addr: SocketAddr = "127.0.0.1:9002".parse().expect("addr");
    let group = live
        .load()
        .upstreams()
        .values()
        .next()
        .expect("group")
        .clone();
    assert_eq!(group.set_operator_drain(addr, true), Some(true));
    let later = wall + Duration::from_secs(7);
    let snapshot = history.sample(start + Duration::from_secs(7), later);
    let drained = snapshot.upstreams[0]
        .backends
        .iter()
        .find(|b| b.addr == addr)
        .expect("listed");
    assert_eq!(drained.state, "draining");
    assert!(drained.status.operator_drain && !drained.status.eligible);
    assert_eq!(drained.since_ms, crate::upstreams::unix_ms(later));
    assert_eq!(snapshot.upstreams[0].eligible, 1);
}

#[test]
fn cpu_use_shows_between_two_samples() {
    let (history, _live) = history(&["127.0.0.1:9001"]);
    let start = Instant::now();
    history.sample(start, SystemTime::now());
    // Burn about 300 ms of CPU on this thread.
    let mut x = 0u64;
    while start.elapsed() < Duration::from_millis(300) {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    let snapshot = history.sample(Instant::now(), SystemTime::now());
    let cpu = snapshot.proxy.cpu_percent.expect("a CPU figure");
    assert!(cpu > 10.0, "{cpu} %");
    assert!(snapshot.proxy.rss_bytes.is_some_and(|bytes| bytes > 0));
}
