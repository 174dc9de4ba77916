use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use super::{Candidate, Selector, hash};
use crate::config::upstream::Balance;
use crate::upstreams::backend::Backend;

fn backends(weights: &[u32]) -> Vec<Arc<Backend>> {
    weights
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let addr: SocketAddr = format!("10.0.0.{}:80", i + 1).parse().expect("addr");
            Arc::new(Backend::new(addr, *w, None))
        })
        .collect()
}

fn all(backends: &[Arc<Backend>]) -> Vec<Candidate> {
    (0..backends.len())
        .map(|index| Candidate { index, factor: 1.0 })
        .collect()
}

#[test]
fn smooth_weighted_round_robin_interleaves_like_nginx() {
    let members = backends(&[5, 1, 1]);
    let selector = Selector::build(Balance::WeightedRoundRobin, &members);
    let candidates = all(&members);
    let sequence: Vec<usize> = (0..7)
        .map(|_| selector.pick(&members, &candidates, None).expect("pick"))
        .collect();
    assert_eq!(sequence, [0, 0, 1, 0, 2, 0, 0], "a a b a c a a");
}

#[test]
fn smooth_weighted_round_robin_splits_700_picks_500_100_100() {
    let members = backends(&[5, 1, 1]);
    let selector = Selector::build(Balance::WeightedRoundRobin, &members);
    let candidates = all(&members);
    let mut counts = [0; 3];
    for _ in 0..700 {
        counts[selector.pick(&members, &candidates, None).expect("pick")] += 1;
    }
    assert_eq!(counts, [500, 100, 100]);
}

#[test]
fn least_outstanding_never_picks_the_loaded_backend_among_three() {
    let members = backends(&[1, 1, 1]);
    for _ in 0..10 {
        members[0].begin_request();
    }
    let selector = Selector::build(Balance::LeastOutstanding, &members);
    let candidates = all(&members);
    let mut counts = [0; 3];
    for _ in 0..1000 {
        counts[selector.pick(&members, &candidates, None).expect("pick")] += 1;
    }
    // P2C only picks the loaded one when both draws are it, and draws are distinct.
    assert_eq!(counts[0], 0, "{counts:?}");
    assert!(counts[1] > 300 && counts[2] > 300, "{counts:?}");
}

#[test]
fn least_outstanding_prefers_the_less_loaded_of_two_and_respects_weight() {
    let members = backends(&[1, 1]);
    members[1].begin_request();
    let selector = Selector::build(Balance::LeastOutstanding, &members);
    for _ in 0..100 {
        assert_eq!(selector.pick(&members, &all(&members), None), Some(0));
    }
    // Weight 4 with 2 in flight ((2+1)/4) is less loaded than weight 1 with 0 ((0+1)/1).
    let members = backends(&[4, 1]);
    members[0].begin_request();
    members[0].begin_request();
    let selector = Selector::build(Balance::LeastOutstanding, &members);
    assert_eq!(selector.pick(&members, &all(&members), None), Some(0));
}

#[test]
fn consistent_hash_keeps_a_key_on_one_backend() {
    let members = backends(&[1, 1, 1]);
    let selector = Selector::build(Balance::ConsistentHash, &members);
    let candidates = all(&members);
    let mut spread = [0; 3];
    for user in 0..300 {
        let key = format!("user-{user}");
        let first = selector.pick(&members, &candidates, Some(key.as_bytes()));
        for _ in 0..3 {
            assert_eq!(
                selector.pick(&members, &candidates, Some(key.as_bytes())),
                first
            );
        }
        spread[first.expect("pick")] += 1;
    }
    assert!(
        spread.iter().all(|n| *n > 50),
        "keys spread over all: {spread:?}"
    );
}

#[test]
fn removing_a_backend_remaps_only_its_keys() {
    let four = backends(&[1, 1, 1, 1]);
    let three: Vec<Arc<Backend>> = four[..3].to_vec();
    let before = Selector::build(Balance::ConsistentHash, &four);
    let after = Selector::build(Balance::ConsistentHash, &three);
    let mut moved = 0;
    for user in 0..1000 {
        let key = format!("user-{user}");
        let old = before
            .pick(&four, &all(&four), Some(key.as_bytes()))
            .expect("pick");
        let new = after
            .pick(&three, &all(&three), Some(key.as_bytes()))
            .expect("pick");
        if old == 3 {
            moved += 1;
        } else {
            assert_eq!(old, new, "{key} moved although its backend stayed");
        }
    }
    assert!(
        (150..350).contains(&moved),
        "about a quarter moved: {moved}"
    );
}

#[test]
fn consistent_hash_walks_past_excluded_backends_to_the_next() {
    let members = backends(&[1, 1, 1]);
    let selector = Selector::build(Balance::ConsistentHash, &members);
    let mut moved_to: HashMap<usize, usize> = HashMap::new();
    for user in 0..100 {
        let key = format!("user-{user}");
        let home = selector
            .pick(&members, &all(&members), Some(key.as_bytes()))
            .expect("pick");
        let others: Vec<Candidate> = all(&members)
            .into_iter()
            .filter(|c| c.index != home)
            .collect();
        let next = selector
            .pick(&members, &others, Some(key.as_bytes()))
            .expect("another backend");
        assert_ne!(next, home);
        *moved_to.entry(next).or_default() += 1;
    }
    assert!(moved_to.len() > 1, "failover spreads: {moved_to:?}");
}

#[test]
fn consistent_hash_without_a_key_falls_back_to_round_robin() {
    let members = backends(&[1, 1, 1]);
    let selector = Selector::build(Balance::ConsistentHash, &members);
    let picks: Vec<usize> = (0..6)
        .map(|_| selector.pick(&members, &all(&members), None).expect("pick"))
        .collect();
    assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
}

#[test]
fn a_ramping_member_takes_its_reduced_share_under_round_robin() {
    let members = backends(&[1, 1]);
    let selector = Selector::build(Balance::RoundRobin, &members);
    let candidates = [
        Candidate {
            index: 0,
            factor: 1.0,
        },
        Candidate {
            index: 1,
            factor: 0.1,
        },
    ];
    let mut counts = [0; 2];
    for _ in 0..110 {
        counts[selector.pick(&members, &candidates, None).expect("pick")] += 1;
    }
    assert_eq!(counts, [100, 10]);
}

#[test]
fn the_hash_is_stable_across_processes() {
    // Fixed values: a changed hash would move every key of every running proxy.
    assert_ne!(hash(b"a"), hash(b"b"));
    assert_eq!(hash(b"user-1"), 4_729_620_347_622_785_477);
}
