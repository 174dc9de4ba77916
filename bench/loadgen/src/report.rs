//! Folds per-request records into the JSON summary the bench script reads.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// How one request ended.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// A complete response.
    Response {
        /// Its status code.
        status: u16,
    },
    /// No complete response; the kind of failure.
    Error(&'static str),
}

/// One request.
#[derive(Debug)]
pub(crate) struct Record {
    /// When it was due, from the start of the run.
    pub(crate) scheduled: Duration,
    /// From its dispatch until it ended, any wait for a connection included.
    pub(crate) latency: Duration,
    /// How it ended.
    pub(crate) outcome: Outcome,
}

/// Latency percentiles in milliseconds.
#[derive(Serialize, Debug, Default)]
pub(crate) struct Percentiles {
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

/// The requests scheduled within a window (the fault, in the `defaults` run).
#[derive(Serialize, Debug)]
pub(crate) struct Window {
    from_ms: f64,
    to_ms: f64,
    sent: u64,
    failed: u64,
    latency_ms: Percentiles,
}

/// One timeline bucket.
#[derive(Serialize, Debug)]
pub(crate) struct Bucket {
    t_ms: u64,
    ok: u64,
    failed: u64,
    p99_ms: f64,
    max_ms: f64,
}

/// What the run printed.
#[derive(Serialize, Debug)]
pub(crate) struct Summary {
    url: String,
    rate: u32,
    elapsed_s: f64,
    sent: u64,
    ok: u64,
    non_2xx: u64,
    errors: u64,
    failed: u64,
    rps: f64,
    /// How late the generator itself got in sending; large values mean it was the bottleneck.
    max_dispatch_lag_ms: f64,
    reconnects: u64,
    latency_ms: Percentiles,
    status: BTreeMap<u16, u64>,
    error_kinds: BTreeMap<&'static str, u64>,
    timeline: Vec<Bucket>,
    /// The `--window-ms` requests alone, when asked for.
    pub(crate) window: Option<Window>,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn percentiles(sorted: &[Duration]) -> Percentiles {
    let at = |q: f64| {
        if sorted.is_empty() {
            return 0.0;
        }
        let index = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
        ms(sorted[index])
    };
    Percentiles {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        p999: at(0.999),
        max: at(1.0),
    }
}

/// Builds the summary.
pub(crate) fn summarize(
    url: &str,
    rate: u32,
    elapsed: Duration,
    max_lag: Duration,
    reconnects: u64,
    mut records: Vec<Record>,
    bucket: Duration,
) -> Summary {
    records.sort_by_key(|r| r.scheduled);
    let mut status = BTreeMap::new();
    let mut error_kinds = BTreeMap::new();
    let (mut ok, mut non_2xx, mut errors) = (0u64, 0u64, 0u64);
    let mut buckets: BTreeMap<u64, (u64, u64, Vec<Duration>)> = BTreeMap::new();
    for record in &records {
        let slot = (record.scheduled.as_nanos() / bucket.as_nanos().max(1)) as u64;
        let entry = buckets.entry(slot).or_default();
        entry.2.push(record.latency);
        let failure = match &record.outcome {
            Outcome::Response { status: code } => {
                *status.entry(*code).or_insert(0) += 1;
                if (200..300).contains(code) {
                    ok += 1;
                    false
                } else {
                    non_2xx += 1;
                    true
                }
            }
            Outcome::Error(kind) => {
                errors += 1;
                *error_kinds.entry(*kind).or_insert(0) += 1;
                true
            }
        };
        if failure {
            entry.1 += 1;
        } else {
            entry.0 += 1;
        }
    }
    let timeline = buckets
        .into_iter()
        .map(|(slot, (ok, failed, mut latencies))| {
            latencies.sort_unstable();
            let p = percentiles(&latencies);
            Bucket {
                t_ms: slot * bucket.as_millis() as u64,
                ok,
                failed,
                p99_ms: p.p99,
                max_ms: p.max,
            }
        })
        .collect();
    let mut latencies: Vec<Duration> = records.iter().map(|r| r.latency).collect();
    latencies.sort_unstable();
    let sent = records.len() as u64;
    Summary {
        url: url.to_owned(),
        rate,
        elapsed_s: elapsed.as_secs_f64(),
        sent,
        ok,
        non_2xx,
        errors,
        failed: non_2xx + errors,
        rps: (ok + non_2xx) as f64 / elapsed.as_secs_f64().max(1e-9),
        max_dispatch_lag_ms: ms(max_lag),
        reconnects,
        latency_ms: percentiles(&latencies),
        status,
        error_kinds,
        timeline,
        window: None,
    }
}

/// The requests scheduled in `[from, to)`, summarized on their own.
pub(crate) fn window_of(records: &[Record], from: Duration, to: Duration) -> Window {
    let inside: Vec<&Record> = records
        .iter()
        .filter(|r| r.scheduled >= from && r.scheduled < to)
        .collect();
    let failed = inside
        .iter()
        .filter(|r| !matches!(r.outcome, Outcome::Response { status, .. } if (200..300).contains(&status)))
        .count() as u64;
    let mut latencies: Vec<Duration> = inside.iter().map(|r| r.latency).collect();
    latencies.sort_unstable();
    Window {
        from_ms: ms(from),
        to_ms: ms(to),
        sent: inside.len() as u64,
        failed,
        latency_ms: percentiles(&latencies),
    }
}
