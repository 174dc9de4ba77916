//! Folds a recording into `summary.json`: totals, failures by kind, a 100 ms timeline, and
//! for each fault the latency before, during and after it, how long clients saw it
//! (first failure or latency spike to the first clean second) and how long until every
//! instance had its share of the traffic back.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::load::Recording;
use crate::record::{Record, ms};

/// Width of a timeline bucket.
pub const BUCKET_MS: u64 = 100;
/// How long after a fault the first failure or spike may begin and still count as its.
pub const HORIZON_MS: f64 = 5000.0;
/// Consecutive clean buckets that make a clean second.
const CLEAN_BUCKETS: usize = (1000 / BUCKET_MS) as usize;

/// Latency figures of a set of requests, in ms.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

/// The requests scheduled in `[from_ms, to_ms)`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Window {
    /// Start, ms from the run's start.
    pub from_ms: f64,
    /// End (exclusive).
    pub to_ms: f64,
    /// Requests sent.
    pub sent: u64,
    /// Of which failed (4xx, 5xx or no response).
    pub failed: u64,
    /// Their latency.
    pub latency: Latency,
}

/// One fault and what the clients saw of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultSummary {
    /// The fault, as given.
    pub label: String,
    /// When it fired, ms from the start.
    pub at_ms: f64,
    /// When its command finished, if it ran one.
    pub ended_ms: Option<f64>,
    /// Why it could not be carried out, if so.
    pub error: Option<String>,
    /// The first bucket from the fault on with a failure or a latency spike, if one begins
    /// before the next fault and within [`HORIZON_MS`] of this one.
    pub disturbed_from_ms: Option<f64>,
    /// The start of the first clean second after that.
    pub clean_from_ms: Option<f64>,
    /// From the first failure or spike to the first clean second (0: clients saw nothing).
    pub time_to_detect_ms: Option<f64>,
    /// From the fault until the traffic is clean and every instance that served before the
    /// first fault has at least half its share back; `None`: not within the run.
    pub time_to_recover_ms: Option<f64>,
    /// From the previous fault (or the start) to this one.
    pub before: Window,
    /// From the fault to the first clean second (or the end).
    pub during: Window,
    /// From the first clean second to the next fault (or the end).
    pub after: Window,
}

/// One 100 ms bucket of the timeline, by scheduled send time.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Bucket {
    /// Its start, ms from the start of the run.
    pub t_ms: u64,
    /// Requests sent.
    pub sent: u64,
    /// Of which failed.
    pub failed: u64,
    /// Their latency.
    pub latency: Latency,
    /// Responses per answering instance.
    pub instances: BTreeMap<String, u64>,
}

/// Request totals.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Totals {
    /// Requests sent.
    pub sent: u64,
    /// Answered below 400.
    pub ok: u64,
    /// 4xx, 5xx or no response.
    pub failed: u64,
    /// Completed responses per second of the run.
    pub achieved_rps: f64,
}

/// Each instance's share of the responses in one second.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Share {
    /// The second's start, ms.
    pub t_ms: u64,
    /// Fraction of the second's responses per instance.
    pub share: BTreeMap<String, f64>,
}

/// `summary.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    /// What was requested.
    pub urls: Vec<String>,
    /// Requests per second asked for.
    pub rate: u32,
    /// Seconds of load asked for.
    pub duration_s: f64,
    /// Seconds from the first send to the last request's end.
    pub elapsed_s: f64,
    /// Whether Ctrl-C cut the run short.
    pub interrupted: bool,
    /// How far behind schedule the lab fell at worst; large means the lab was starved.
    pub max_dispatch_lag_ms: f64,
    /// Totals.
    pub totals: Totals,
    /// Failed requests by status or error kind.
    pub failures_by_kind: BTreeMap<String, u64>,
    /// Latency of every request.
    pub latency: Latency,
    /// A bucket's p99 above this counts as a latency spike (4 × the p99 before the first
    /// fault, at least 100 ms above it).
    pub spike_threshold_ms: f64,
    /// Every fault that fired.
    pub faults: Vec<FaultSummary>,
    /// Each instance's share per second.
    pub share: Vec<Share>,
    /// Width of the timeline's buckets.
    pub bucket_ms: u64,
    /// The timeline.
    pub timeline: Vec<Bucket>,
}

fn latency_of(mut values: Vec<f64>) -> Latency {
    if values.is_empty() {
        return Latency::default();
    }
    values.sort_by(f64::total_cmp);
    let at =
        |q: f64| values[((values.len() as f64 * q).ceil() as usize).clamp(1, values.len()) - 1];
    Latency {
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: at(1.0),
    }
}

fn window(records: &[Record], from_ms: f64, to_ms: f64) -> Window {
    let inside: Vec<&Record> = records
        .iter()
        .filter(|r| (from_ms..to_ms).contains(&ms(r.start)))
        .collect();
    Window {
        from_ms,
        to_ms,
        sent: inside.len() as u64,
        failed: inside
            .iter()
            .filter(|r| r.outcome.failure_kind().is_some())
            .count() as u64,
        latency: latency_of(inside.iter().map(|r| ms(r.latency)).collect()),
    }
}

/// Summarizes a recording of `urls` at `rate` for `duration`.
pub fn summarize(recording: &Recording, urls: &[String], rate: u32, duration: Duration) -> Summary {
    let records = &recording.records;
    let end_ms = ms(duration).max(records.last().map_or(0.0, |r| ms(r.start)) + 1.0);
    let mut failures_by_kind = BTreeMap::new();
    let slots = (end_ms as u64).div_ceil(BUCKET_MS) as usize;
    let mut timeline: Vec<Bucket> = (0..slots)
        .map(|i| Bucket {
            t_ms: i as u64 * BUCKET_MS,
            ..Bucket::default()
        })
        .collect();
    let mut latencies: Vec<Vec<f64>> = vec![Vec::new(); slots];
    for record in records {
        let slot = ((ms(record.start) as u64 / BUCKET_MS) as usize).min(slots.saturating_sub(1));
        let bucket = &mut timeline[slot];
        bucket.sent += 1;
        latencies[slot].push(ms(record.latency));
        if let Some(kind) = record.outcome.failure_kind() {
            bucket.failed += 1;
            *failures_by_kind.entry(kind).or_insert(0) += 1;
        }
        if let Some(instance) = record.outcome.instance() {
            *bucket.instances.entry(instance.to_owned()).or_insert(0) += 1;
        }
    }
    for (bucket, values) in timeline.iter_mut().zip(latencies) {
        bucket.latency = latency_of(values);
    }
    let failed: u64 = failures_by_kind.values().sum();
    let first_fault = recording
        .faults
        .iter()
        .map(|f| f.at_ms)
        .fold(f64::INFINITY, f64::min);
    let baseline = window(records, 0.0, first_fault.min(end_ms)).latency.p99_ms;
    let spike_threshold_ms = (baseline * 4.0).max(baseline + 100.0);
    let share = shares(&timeline);
    // Each fault's recovery is measured against the shares of the steady state before the
    // first fault, so an instance still missing from an earlier fault counts as missing.
    let before_shares = shares_in(&timeline, 0.0, first_fault.min(end_ms));
    let faults = recording
        .faults
        .iter()
        .enumerate()
        .map(|(i, fired)| {
            let previous = if i == 0 {
                0.0
            } else {
                recording.faults[i - 1].at_ms
            };
            let next = recording.faults.get(i + 1).map_or(end_ms, |f| f.at_ms);
            let disturbed = |b: &Bucket| b.failed > 0 || b.latency.p99_ms > spike_threshold_ms;
            let first_slot = (fired.at_ms as u64 / BUCKET_MS) as usize;
            // A disturbance that begins after the next fault, or long after this one, is
            // not this fault's.
            let horizon = next.min(fired.at_ms + HORIZON_MS);
            let disturbed_from = (first_slot..slots)
                .take_while(|&s| ((s as u64 * BUCKET_MS) as f64) < horizon)
                .find(|&s| disturbed(&timeline[s]));
            let clean_from = disturbed_from.and_then(|d| {
                (d + 1..slots.saturating_sub(CLEAN_BUCKETS - 1))
                    .find(|&s| timeline[s..s + CLEAN_BUCKETS].iter().all(|b| !disturbed(b)))
            });
            let to_ms = |s: usize| (s as u64 * BUCKET_MS) as f64;
            let during_end = match (disturbed_from, clean_from) {
                // Nothing seen: the second after the fault stands for "during".
                (None, _) => next.min(fired.at_ms + 1000.0),
                (Some(_), Some(c)) => to_ms(c),
                (Some(_), None) => end_ms,
            };
            let recovered = match (disturbed_from, clean_from) {
                (Some(_), None) => None,
                (Some(_), Some(c)) => recovered_at(&timeline, &before_shares, to_ms(c))
                    .map(|t| (t - fired.at_ms).max(0.0)),
                (None, _) => recovered_at(&timeline, &before_shares, fired.at_ms)
                    .map(|t| (t - fired.at_ms).max(0.0)),
            };
            FaultSummary {
                label: fired.label.clone(),
                at_ms: fired.at_ms,
                ended_ms: fired.ended_ms,
                error: fired.error.clone(),
                disturbed_from_ms: disturbed_from.map(to_ms),
                clean_from_ms: clean_from.map(to_ms),
                time_to_detect_ms: match (disturbed_from, clean_from) {
                    (None, _) => Some(0.0),
                    (Some(d), Some(c)) => Some(to_ms(c) - to_ms(d)),
                    (Some(_), None) => None,
                },
                time_to_recover_ms: recovered,
                before: window(records, previous, fired.at_ms),
                during: window(records, fired.at_ms, during_end),
                after: window(records, during_end, next.max(during_end)),
            }
        })
        .collect();
    let answered = records
        .iter()
        .filter(|r| matches!(r.outcome, crate::record::Outcome::Response { .. }))
        .count();
    Summary {
        urls: urls.to_vec(),
        rate,
        duration_s: duration.as_secs_f64(),
        elapsed_s: recording.elapsed.as_secs_f64(),
        interrupted: recording.interrupted,
        max_dispatch_lag_ms: ms(recording.max_dispatch_lag),
        totals: Totals {
            sent: records.len() as u64,
            ok: records.len() as u64 - failed,
            failed,
            achieved_rps: answered as f64 / recording.elapsed.as_secs_f64().max(1e-9),
        },
        failures_by_kind,
        latency: latency_of(records.iter().map(|r| ms(r.latency)).collect()),
        spike_threshold_ms,
        faults,
        share,
        bucket_ms: BUCKET_MS,
        timeline,
    }
}

/// Each instance's share of the responses, second by second.
fn shares(timeline: &[Bucket]) -> Vec<Share> {
    timeline
        .chunks(CLEAN_BUCKETS)
        .map(|chunk| Share {
            t_ms: chunk[0].t_ms,
            share: fractions(chunk.iter()),
        })
        .collect()
}

fn fractions<'a>(buckets: impl Iterator<Item = &'a Bucket>) -> BTreeMap<String, f64> {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for bucket in buckets {
        for (name, n) in &bucket.instances {
            *counts.entry(name.clone()).or_insert(0) += n;
        }
    }
    let total: u64 = counts.values().sum();
    counts
        .into_iter()
        .map(|(name, n)| (name, n as f64 / total.max(1) as f64))
        .collect()
}

fn shares_in(timeline: &[Bucket], from_ms: f64, to_ms: f64) -> BTreeMap<String, f64> {
    fractions(
        timeline
            .iter()
            .filter(|b| b.t_ms as f64 >= from_ms && ((b.t_ms + BUCKET_MS) as f64) <= to_ms),
    )
}

/// The start of the first second (10 buckets, sliding) from `from_ms` on in which every
/// instance of `before` has at least half its share back (at once when there were none).
fn recovered_at(timeline: &[Bucket], before: &BTreeMap<String, f64>, from_ms: f64) -> Option<f64> {
    if before.is_empty() {
        return Some(from_ms);
    }
    let first = (from_ms as u64 / BUCKET_MS) as usize;
    (first..timeline.len().saturating_sub(CLEAN_BUCKETS - 1))
        .find(|&s| {
            let share = fractions(timeline[s..s + CLEAN_BUCKETS].iter());
            before
                .iter()
                .all(|(name, was)| share.get(name).copied().unwrap_or(0.0) >= was / 2.0)
        })
        .map(|s| (timeline[s].t_ms as f64).max(from_ms))
}

#[cfg(test)]
mod tests;
