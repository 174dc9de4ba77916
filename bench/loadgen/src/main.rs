//! `loadgen`: an open-loop HTTP/1.1 load generator for the side-by-side benchmark's
//! fixed-rate, cache and `defaults` runs. The failover runs (kill, hang, drain, rolling,
//! slow) use `lab compare` instead, which records every request and draws timelines.
//!
//! wrk measures saturation well, but it is closed loop: a stalled response holds back the
//! requests that should have followed it, so its tail latencies hide stalls (coordinated
//! omission), and it does not say *when* an error happened. This tool sends request *i* at
//! `start + i / rate` whatever happened before (in bursts at the timer's 1 ms tick), counts a
//! wait for a free connection in the latency, and counts failures per timeline bucket, so the
//! `defaults` run shows when clients paid for its fault. How late the dispatcher itself ran is reported as
//! `max_dispatch_lag_ms`: when that is large, the generator was the bottleneck.
//!
//! Layout:
//! - `main.rs`: arguments and the dispatch loop;
//! - `pool.rs`: keep-alive connections, opened on demand up to a cap;
//! - `report.rs`: per-request records folded into the JSON summary printed on stdout.
//!
//! Usage: `loadgen --url http://127.0.0.1:8080/ --rate 2000 --duration-secs 12`.

mod pool;
mod report;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use tokio::sync::Semaphore;

use crate::pool::Pool;
use crate::report::{Outcome, Record};

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "Open-loop HTTP/1.1 load generator (fixed rate, CO-corrected latency)")]
struct Args {
    /// `http://IP:PORT/path` to request with GET.
    #[arg(long)]
    url: http::Uri,
    /// Requests per second, sent on schedule whether or not earlier ones have finished.
    #[arg(long)]
    rate: u32,
    /// How long to send for.
    #[arg(long)]
    duration_secs: f64,
    /// Most requests in flight (and so most connections). A request that finds them all busy
    /// waits, and the wait counts in its latency.
    #[arg(long, default_value_t = 256)]
    connections: usize,
    /// A request not finished this long after its scheduled time counts as a `timeout` error.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
    /// Width of the timeline buckets in the summary.
    #[arg(long, default_value_t = 500)]
    bucket_ms: u64,
    /// `FROM-TO` in milliseconds from the start: also summarize the requests scheduled in
    /// this window alone (the `defaults` run's fault).
    #[arg(long, value_parser = parse_window)]
    window_ms: Option<(u64, u64)>,
}

fn parse_window(text: &str) -> Result<(u64, u64), String> {
    let (from, to) = text.split_once('-').ok_or("expected FROM-TO")?;
    let parse = |n: &str| n.trim().parse::<u64>().map_err(|e| format!("{n}: {e}"));
    Ok((parse(from)?, parse(to)?))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.rate == 0 || !(args.duration_secs > 0.0 && args.duration_secs <= 600.0) {
        bail!("--rate must be at least 1 and --duration-secs in (0, 600]");
    }
    let authority = args
        .url
        .authority()
        .context("--url needs host:port")?
        .clone();
    let pool = Arc::new(Pool::new(authority, args.url.clone()));
    let slots = Arc::new(Semaphore::new(args.connections.max(1)));
    let total = (f64::from(args.rate) * args.duration_secs).round() as u64;
    let records = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let timeout = Duration::from_millis(args.timeout_ms);
    let interval = Duration::from_secs_f64(1.0 / f64::from(args.rate));

    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut max_lag = Duration::ZERO;
    let mut next = 0u64;
    while next < total {
        let now = Instant::now();
        // Everything already due goes out now, so a slow timer makes bursts, never gaps.
        while next < total {
            let due = start + interval.mul_f64(next as f64);
            if due > now {
                break;
            }
            max_lag = max_lag.max(now - due);
            // Latency runs from this moment, the send time the schedule allowed: the timer's
            // millisecond granularity is not charged to the target, but any wait for a free
            // connection is (that is the coordinated-omission correction).
            let sent = Instant::now();
            let (pool, slots, records) = (pool.clone(), slots.clone(), records.clone());
            tasks.spawn(async move {
                let outcome = one_request(&pool, &slots, sent, timeout).await;
                let record = Record {
                    scheduled: due - start,
                    latency: sent.elapsed(),
                    outcome,
                };
                if let Ok(mut records) = records.lock() {
                    records.push(record);
                }
            });
            next += 1;
        }
        // Reap finished tasks so the set stays small on long runs.
        while tasks.try_join_next().is_some() {}
        if next < total {
            tokio::time::sleep_until((start + interval.mul_f64(next as f64)).into()).await;
        }
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = start.elapsed();

    let records = std::mem::take(&mut *records.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    let window = args.window_ms.map(|(from, to)| {
        report::window_of(
            &records,
            Duration::from_millis(from),
            Duration::from_millis(to),
        )
    });
    let mut summary = report::summarize(
        &args.url.to_string(),
        args.rate,
        elapsed,
        max_lag,
        pool.reconnects(),
        records,
        Duration::from_millis(args.bucket_ms.max(1)),
    );
    summary.window = window;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

/// Waits for a free slot, then makes one GET, all within `timeout` of `sent`.
async fn one_request(pool: &Pool, slots: &Semaphore, sent: Instant, timeout: Duration) -> Outcome {
    let deadline = tokio::time::Instant::from(sent + timeout);
    let work = async {
        let Ok(_slot) = slots.acquire().await else {
            return Outcome::Error("closed");
        };
        pool.get().await
    };
    match tokio::time::timeout_at(deadline, work).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::Error("timeout"),
    }
}
