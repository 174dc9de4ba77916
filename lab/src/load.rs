//! The open-loop load: request *i* goes out at `start + i / rate` whatever happened to the
//! ones before (in bursts at the timer's tick, never gaps), over at most `connections`
//! keep-alive connections. A request that finds them all busy waits, and the wait counts
//! in its latency (no coordinated omission); one not finished `timeout` after its send is
//! recorded as a `timeout`. Cancelling stops the schedule and keeps what was recorded.

pub mod client;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::fault::{self, Fault, Fired, Stopped};
use crate::load::client::{Pool, Target};
use crate::record::{Outcome, Record};

/// How much load, for how long.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The requests, sent in turn.
    pub targets: Vec<Target>,
    /// Requests per second.
    pub rate: u32,
    /// How long to send for.
    pub duration: Duration,
    /// Most connections (and so most requests in flight).
    pub connections: usize,
    /// A request unfinished this long after its send counts as a `timeout`.
    pub timeout: Duration,
}

/// What a run recorded.
#[derive(Debug)]
pub struct Recording {
    /// Every request sent, in schedule order.
    pub records: Vec<Record>,
    /// The faults that fired.
    pub faults: Vec<Fired>,
    /// From the first send to the last request's end.
    pub elapsed: Duration,
    /// Whether the run was cut short (Ctrl-C).
    pub interrupted: bool,
    /// How far behind its schedule the dispatcher fell at worst; large means the lab,
    /// not the target, was the bottleneck.
    pub max_dispatch_lag: Duration,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
}

/// Runs `plan` with `faults`, until its end or until `cancel` fires; resumes every
/// process it stopped before returning.
pub async fn run(plan: &Plan, faults: Vec<Fault>, cancel: CancellationToken) -> Recording {
    let pool = Arc::new(Pool::default());
    let slots = Arc::new(Semaphore::new(plan.connections.max(1)));
    let total = (f64::from(plan.rate) * plan.duration.as_secs_f64()).round() as u64;
    let records = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let counters = Arc::new(Counters::default());
    let interval = Duration::from_secs_f64(1.0 / f64::from(plan.rate.max(1)));
    let targets: Arc<[Target]> = plan.targets.clone().into();
    let stopped = Stopped::default();
    let faults_done = CancellationToken::new();

    let start = Instant::now();
    let fault_task = tokio::spawn(fault::fire_all(
        faults,
        start,
        stopped.clone(),
        faults_done.clone(),
    ));
    let progress = tokio::spawn(report_progress(
        counters.clone(),
        total,
        start,
        faults_done.clone(),
    ));
    let mut tasks = tokio::task::JoinSet::new();
    let mut max_lag = Duration::ZERO;
    let mut next = 0u64;
    let mut interrupted = false;
    while next < total {
        let now = Instant::now();
        while next < total {
            let due = start + interval.mul_f64(next as f64);
            if due > now {
                break;
            }
            max_lag = max_lag.max(now - due);
            let index = (next % targets.len() as u64) as usize;
            let (pool, slots, records, counters, targets) = (
                pool.clone(),
                slots.clone(),
                records.clone(),
                counters.clone(),
                targets.clone(),
            );
            let timeout = plan.timeout;
            counters.sent.fetch_add(1, Ordering::Relaxed);
            tasks.spawn(async move {
                let outcome = one_request(&pool, &slots, &targets[index], due, timeout).await;
                counters.done.fetch_add(1, Ordering::Relaxed);
                if outcome.failure_kind().is_some() {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                }
                let record = Record {
                    start: due - start,
                    latency: due.elapsed(),
                    url: index,
                    outcome,
                };
                if let Ok(mut records) = records.lock() {
                    records.push(record);
                }
            });
            next += 1;
        }
        while tasks.try_join_next().is_some() {}
        if next < total {
            tokio::select! {
                () = tokio::time::sleep_until((start + interval.mul_f64(next as f64)).into()) => {}
                () = cancel.cancelled() => { interrupted = true; break; }
            }
        }
    }
    // Requests in flight end by themselves within the timeout; a second Ctrl-C is not
    // needed. On interruption, resume stopped processes first so they can answer.
    if interrupted {
        faults_done.cancel();
        stopped.resume_all();
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = start.elapsed();
    faults_done.cancel();
    let faults = fault_task.await.unwrap_or_default();
    stopped.resume_all();
    let _ = progress.await;
    let mut records = std::mem::take(&mut *records.lock().unwrap_or_else(|e| e.into_inner()));
    records.sort_by_key(|r| r.start);
    Recording {
        records,
        faults,
        elapsed,
        interrupted,
        max_dispatch_lag: max_lag,
    }
}

/// Waits for a free connection, then makes the request, all within `timeout` of `sent`.
async fn one_request(
    pool: &Pool,
    slots: &Semaphore,
    target: &Target,
    sent: Instant,
    timeout: Duration,
) -> Outcome {
    let work = async {
        let Ok(_slot) = slots.acquire().await else {
            return Outcome::Error("closed");
        };
        pool.send(target).await
    };
    match tokio::time::timeout_at((sent + timeout).into(), work).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::Error("timeout"),
    }
}

/// A progress bar on a terminal; one line a second on stderr otherwise (CI logs, pipes).
async fn report_progress(
    counters: Arc<Counters>,
    total: u64,
    start: Instant,
    done: CancellationToken,
) {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(total);
        if let Ok(style) =
            ProgressStyle::with_template("{elapsed:>4} [{bar:40}] {pos}/{len} sent  {msg}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    });
    let mut tick = tokio::time::interval(if bar.is_some() {
        Duration::from_millis(100)
    } else {
        Duration::from_secs(1)
    });
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = done.cancelled() => break,
        }
        let (sent, finished, failed) = (
            counters.sent.load(Ordering::Relaxed),
            counters.done.load(Ordering::Relaxed),
            counters.failed.load(Ordering::Relaxed),
        );
        let message = format!("{failed} failed, {} in flight", sent - finished.min(sent));
        match &bar {
            Some(bar) => {
                bar.set_position(sent);
                bar.set_message(message);
            }
            None => eprintln!(
                "[{:>5.1}s] {sent}/{total} sent, {message}",
                start.elapsed().as_secs_f64()
            ),
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}
