//! The four balancing policies, each choosing among a list of candidates (members that are
//! eligible and not yet tried for this request) prepared by [`super::Upstream::select`].
//!
//! Choosing among candidates, instead of choosing and then skipping, is what keeps round
//! robin exact: an ineligible or already tried member never absorbs or shifts a turn.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rand::Rng;

use super::backend::Backend;
use crate::config::upstream::Balance;

/// Fixed-point scale for effective weights, so a 10% slow-start share stays an integer.
const SCALE: f64 = 1000.0;

/// Ring points per unit of weight under consistent hashing.
const POINTS_PER_WEIGHT: u32 = 64;

/// A member that may take this attempt.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    /// Index into the membership's backend list.
    pub(crate) index: usize,
    /// Slow-start share in (0, 1]; 1 when not ramping.
    pub(crate) factor: f64,
}

/// A policy with its per-membership state; rebuilt whenever membership or policy changes.
pub(crate) enum Selector {
    RoundRobin { next: AtomicUsize, smooth: Smooth },
    Weighted { smooth: Smooth },
    LeastOutstanding,
    ConsistentHash { ring: Ring, next: AtomicUsize },
}

impl Selector {
    pub(crate) fn build(balance: Balance, backends: &[Arc<Backend>]) -> Self {
        match balance {
            Balance::RoundRobin => Self::RoundRobin {
                next: AtomicUsize::new(0),
                smooth: Smooth::new(backends.len()),
            },
            Balance::WeightedRoundRobin => Self::Weighted {
                smooth: Smooth::new(backends.len()),
            },
            Balance::LeastOutstanding => Self::LeastOutstanding,
            Balance::ConsistentHash => Self::ConsistentHash {
                ring: Ring::build(backends),
                next: AtomicUsize::new(0),
            },
        }
    }

    /// Picks one of `candidates` (non-empty) and returns its backend index.
    pub(crate) fn pick(
        &self,
        backends: &[Arc<Backend>],
        candidates: &[Candidate],
        hash_input: Option<&[u8]>,
    ) -> Option<usize> {
        match self {
            Self::RoundRobin { next, smooth } => {
                let weight_of = |c: &Candidate| backends[c.index].weight();
                let first_weight = candidates.first().map(weight_of);
                let even = candidates
                    .iter()
                    .all(|c| c.factor >= 1.0 && Some(weight_of(c)) == first_weight);
                if even {
                    round_robin(next, candidates)
                } else {
                    // Unequal weights, or members ramping up after readmission: each takes
                    // its weight times its slow-start share, interleaved like nginx does.
                    smooth.pick(candidates, |c| effective(weight_of(c), c.factor))
                }
            }
            Self::Weighted { smooth } => smooth.pick(candidates, |c| {
                effective(backends[c.index].weight(), c.factor)
            }),
            Self::LeastOutstanding => least_outstanding(backends, candidates),
            Self::ConsistentHash { ring, next } => match hash_input {
                Some(key) => ring.pick(key, backends.len(), candidates),
                None => round_robin(next, candidates),
            },
        }
    }
}

fn effective(weight: u32, factor: f64) -> i64 {
    ((f64::from(weight) * SCALE * factor).round() as i64).max(1)
}

fn round_robin(next: &AtomicUsize, candidates: &[Candidate]) -> Option<usize> {
    let turn = next.fetch_add(1, Ordering::Relaxed);
    candidates
        .get(turn % candidates.len().max(1))
        .map(|c| c.index)
}

/// nginx's smooth weighted round robin: every candidate's current weight grows by its
/// effective weight, the largest wins and pays back the total. Weights 5,1,1 give
/// `a a b a c a a`.
pub(crate) struct Smooth {
    current: Mutex<Vec<i64>>,
}

impl Smooth {
    fn new(members: usize) -> Self {
        Self {
            current: Mutex::new(vec![0; members]),
        }
    }

    fn pick(&self, candidates: &[Candidate], weight: impl Fn(&Candidate) -> i64) -> Option<usize> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let mut total = 0;
        let mut best: Option<(usize, i64)> = None;
        for candidate in candidates {
            let add = weight(candidate);
            let Some(slot) = current.get_mut(candidate.index) else {
                continue;
            };
            *slot += add;
            total += add;
            let value = *slot;
            if best.is_none_or(|(_, top)| value > top) {
                best = Some((candidate.index, value));
            }
        }
        let (best, _) = best?;
        current[best] -= total;
        Some(best)
    }
}

/// Power of two choices: two distinct random candidates, the one with less load per unit
/// of effective weight wins (ties go to the first drawn).
fn least_outstanding(backends: &[Arc<Backend>], candidates: &[Candidate]) -> Option<usize> {
    if candidates.len() < 2 {
        return candidates.first().map(|c| c.index);
    }
    let mut rng = rand::rng();
    let first = rng.random_range(0..candidates.len());
    let mut second = rng.random_range(0..candidates.len() - 1);
    if second >= first {
        second += 1;
    }
    let load = |c: &Candidate| {
        let backend = &backends[c.index];
        (backend.inflight() as f64 + 1.0) / (f64::from(backend.weight()) * c.factor)
    };
    let (a, b) = (candidates[first], candidates[second]);
    Some(if load(&b) < load(&a) {
        b.index
    } else {
        a.index
    })
}

/// A hash ring with points proportional to weight. A member's points depend only on its
/// address, so removing one member moves only the keys that landed on it.
pub(crate) struct Ring {
    points: Vec<(u64, usize)>,
}

impl Ring {
    fn build(backends: &[Arc<Backend>]) -> Self {
        let mut points = Vec::new();
        for (index, backend) in backends.iter().enumerate() {
            let name = backend.addr.to_string();
            for point in 0..backend.weight().saturating_mul(POINTS_PER_WEIGHT) {
                let mut key = name.clone().into_bytes();
                key.push(b'#');
                key.extend_from_slice(&point.to_le_bytes());
                points.push((hash(&key), index));
            }
        }
        points.sort_unstable();
        Self { points }
    }

    /// The first candidate clockwise from the key's position.
    fn pick(&self, key: &[u8], members: usize, candidates: &[Candidate]) -> Option<usize> {
        let mut allowed = vec![false; members];
        for candidate in candidates {
            if let Some(slot) = allowed.get_mut(candidate.index) {
                *slot = true;
            }
        }
        let position = hash(key);
        let start = self.points.partition_point(|(point, _)| *point < position);
        (0..self.points.len())
            .map(|step| self.points[(start + step) % self.points.len()].1)
            .find(|index| allowed.get(*index).copied().unwrap_or(false))
    }
}

/// FNV-1a with a 64-bit finalizer: stable across builds and processes (unlike the std
/// hasher's unspecified algorithm), so several proxies agree on where a key lands.
pub(crate) fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        h ^= u64::from(*byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests;
