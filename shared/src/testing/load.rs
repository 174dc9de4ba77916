//! Open-loop load for failover tests: requests start on a fixed schedule whatever the
//! answers do, so a hung backend shows up as slow or failed requests instead of quietly
//! slowing the client down (a closed loop would hide it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// `GET path` on a new connection, read to the end; the status code. `Cache-Control:
/// no-cache` makes a caching proxy ask a backend every time, so the load meets the fault.
async fn whole_get(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Cache-Control: no-cache\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    response
        .get(9..12)
        .and_then(|code| std::str::from_utf8(code).ok())
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP/1.x response"))
}

/// One request's fate.
#[derive(Debug, Clone)]
pub struct Sample {
    /// When it was sent, from the start of the run.
    pub sent_at: Duration,
    /// Until its status line arrived (or it failed).
    pub latency: Duration,
    /// The status, or why there was none.
    pub status: Result<u16, String>,
}

/// A running load; [`Load::finish`] waits for every request and returns the samples.
#[derive(Debug)]
pub struct Load {
    sent: Arc<AtomicUsize>,
    task: JoinHandle<Vec<Sample>>,
}

impl Load {
    /// Sends `GET path` to `addr`, `per_sec` times a second for `length`, each on a new
    /// connection, giving each `timeout` for its status line.
    pub fn start(
        addr: SocketAddr,
        path: &str,
        per_sec: u32,
        length: Duration,
        timeout: Duration,
    ) -> Self {
        let sent = Arc::new(AtomicUsize::new(0));
        let path = path.to_owned();
        let counter = sent.clone();
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let gap = Duration::from_secs(1) / per_sec.max(1);
            let total = (length.as_secs_f64() * f64::from(per_sec)) as u32;
            let mut tasks = Vec::with_capacity(total as usize);
            let mut ticks = tokio::time::interval(gap);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for _ in 0..total {
                ticks.tick().await;
                let path = path.clone();
                counter.fetch_add(1, Ordering::Relaxed);
                tasks.push(tokio::spawn(async move {
                    let sent = Instant::now();
                    let status = match tokio::time::timeout(timeout, whole_get(addr, &path)).await {
                        Ok(Ok(status)) => Ok(status),
                        Ok(Err(error)) => Err(error.to_string()),
                        Err(_) => Err(format!("no answer within {timeout:?}")),
                    };
                    Sample {
                        sent_at: sent.duration_since(start),
                        latency: sent.elapsed(),
                        status,
                    }
                }));
            }
            let mut samples = Vec::with_capacity(tasks.len());
            for task in tasks {
                if let Ok(sample) = task.await {
                    samples.push(sample);
                }
            }
            samples
        });
        Self { sent, task }
    }

    /// Requests sent so far.
    pub fn sent(&self) -> usize {
        self.sent.load(Ordering::Relaxed)
    }

    /// Waits for the schedule to end and every request to finish.
    ///
    /// # Panics
    ///
    /// If the load task panicked, which is a bug in the harness.
    pub async fn finish(self) -> Report {
        let samples = self.task.await.expect("load task");
        Report { samples }
    }
}

/// What a run of [`Load`] saw.
#[derive(Debug, Clone)]
pub struct Report {
    /// Every request, in the order sent.
    pub samples: Vec<Sample>,
}

impl Report {
    /// Requests that got no 2xx.
    pub fn failed(&self) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| !matches!(s.status, Ok(code) if (200..300).contains(&code)))
            .collect()
    }

    /// The slowest request's latency.
    pub fn slowest(&self) -> Duration {
        self.samples
            .iter()
            .map(|s| s.latency)
            .max()
            .unwrap_or_default()
    }

    /// A one-line summary for assertion messages.
    pub fn summary(&self) -> String {
        let mut latencies: Vec<Duration> = self.samples.iter().map(|s| s.latency).collect();
        latencies.sort_unstable();
        let p99 = latencies
            .get(latencies.len().saturating_mul(99) / 100)
            .copied()
            .unwrap_or_default();
        format!(
            "{} requests, {} failed, p99 {:?}, max {:?}; first failures: {:?}",
            self.samples.len(),
            self.failed().len(),
            p99,
            self.slowest(),
            self.failed().iter().take(3).collect::<Vec<_>>()
        )
    }
}
