//! What the dashboard shows, sampled once a second: every backend's state and since when,
//! its traffic over the last second and the last minute, five minutes of per-second
//! samples for the sparklines, and the proxy's own rates, CPU and memory.
//!
//! Memory is bounded by the configuration: [`HISTORY_SECONDS`] samples per backend that
//! exists now (a removed backend's history goes with it at the next tick), and
//! [`MINUTE`] seconds of counters per backend for the minute's figures.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use prometheus::core::Collector;
use serde::Serialize;
use tokio::sync::watch;

use crate::cache::{Cache, CacheState};
use crate::metrics::{Metrics, Totals};
use crate::routing::SharedLive;
use crate::upstreams::{BackendStatus, TrafficCounts};

/// How many per-second samples each backend keeps: five minutes.
pub(crate) const HISTORY_SECONDS: usize = 300;
/// How many ticks (normally seconds) the "last minute" figures cover.
pub(crate) const MINUTE: usize = 60;
/// How often the sampler runs.
pub(crate) const TICK: Duration = Duration::from_secs(1);

/// One backend's second.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub(crate) struct Sample {
    /// The second's end, in Unix milliseconds.
    pub at_ms: u64,
    /// Attempts per second.
    pub rps: f64,
    /// Failed attempts in the second.
    pub errors: u64,
    /// The second's p99 attempt latency in milliseconds; `None` without a finished attempt.
    pub p99_ms: Option<f64>,
}

/// One backend as the page shows it now.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BackendView {
    /// Its address.
    pub addr: SocketAddr,
    /// `up`, `down`, `ejected`, `draining` or `slow-starting`.
    pub state: &'static str,
    /// When it entered that state (or when the proxy first saw it), ISO 8601.
    pub since: String,
    /// The same in Unix milliseconds.
    pub since_ms: u64,
    /// Attempts per second over the last minute.
    pub rps: f64,
    /// Failed share of the last minute's attempts (0..=1); `None` without attempts.
    pub error_rate: Option<f64>,
    /// Median attempt latency over the last minute, in milliseconds.
    pub p50_ms: Option<f64>,
    /// 99th percentile attempt latency over the last minute, in milliseconds.
    pub p99_ms: Option<f64>,
    /// Its share of its group's attempts over the last minute (0..=1).
    pub share: Option<f64>,
    /// The latest second.
    pub sample: Option<Sample>,
    /// Everything `/status` says of it.
    #[serde(flatten)]
    pub status: BackendStatus,
}

/// One upstream group on the page.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct UpstreamView {
    /// Its name.
    pub name: String,
    /// How many members may take a request.
    pub eligible: usize,
    /// Its members.
    pub backends: Vec<BackendView>,
}

/// The proxy itself.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub(crate) struct ProxyView {
    /// CPU use over the last second, in percent of one core.
    pub cpu_percent: Option<f64>,
    /// Resident memory in bytes.
    pub rss_bytes: Option<u64>,
    /// Retries per second over the last minute.
    pub retries_per_s: f64,
    /// Hedges sent per second over the last minute.
    pub hedges_per_s: f64,
}

/// The cache on the page.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct CacheView {
    /// Size, entries, evictions.
    #[serde(flatten)]
    pub state: CacheState,
    /// Share of lookups the cache answered over the last minute; `None` without lookups.
    pub hit_ratio: Option<f64>,
}

/// One tick's whole picture, as each `/events` snapshot carries it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Snapshot {
    /// When it was taken, ISO 8601.
    pub at: String,
    /// The same in Unix milliseconds.
    pub at_ms: u64,
    /// Every group.
    pub upstreams: Vec<UpstreamView>,
    /// The cache, when on.
    pub cache: Option<CacheView>,
    /// The proxy process.
    pub proxy: ProxyView,
}

/// Five minutes of samples per backend, keyed `upstream/addr`, sent once per connection.
pub(crate) type Backlog = BTreeMap<String, Vec<Sample>>;

/// Per-backend memory between ticks.
#[derive(Debug)]
struct Track {
    last: TrafficCounts,
    /// The last [`MINUTE`] ticks' differences, each with the time it covers.
    minute: VecDeque<(Duration, TrafficCounts)>,
    samples: VecDeque<Sample>,
    state: &'static str,
    since: SystemTime,
    /// Seen at this tick (tracks of removed backends are dropped).
    seen: bool,
}

/// Proxy-wide memory between ticks.
#[derive(Debug, Default)]
struct ProxyTrack {
    last: Option<(Instant, Totals, Option<f64>)>,
    minute: VecDeque<(Duration, Totals)>,
}

/// The sampler's state and its latest snapshot, shared with the admin listener.
pub struct History {
    live: SharedLive,
    metrics: Arc<Metrics>,
    cache: Option<Arc<Cache>>,
    process: prometheus::process_collector::ProcessCollector,
    inner: Mutex<Inner>,
    latest: watch::Sender<Option<Arc<str>>>,
}

#[derive(Debug, Default)]
struct Inner {
    tracks: BTreeMap<(String, SocketAddr), Track>,
    proxy: ProxyTrack,
}

impl History {
    /// A history over the live state, the metrics and the cache; empty until the first
    /// [`History::tick`].
    pub fn new(live: SharedLive, metrics: Arc<Metrics>, cache: Option<Arc<Cache>>) -> Self {
        Self {
            live,
            metrics,
            cache,
            process: prometheus::process_collector::ProcessCollector::for_self(),
            inner: Mutex::new(Inner::default()),
            latest: watch::channel(None).0,
        }
    }

    /// The latest snapshot as JSON, and every later one as it is taken.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Option<Arc<str>>> {
        self.latest.subscribe()
    }

    /// Every backend's samples so far, oldest first.
    pub(crate) fn backlog(&self) -> Backlog {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner
            .tracks
            .iter()
            .map(|((upstream, addr), track)| {
                (
                    format!("{upstream}/{addr}"),
                    track.samples.iter().copied().collect(),
                )
            })
            .collect()
    }

    /// Takes one sample of everything and publishes the snapshot.
    pub(crate) fn tick(&self) {
        let snapshot = self.sample(Instant::now(), SystemTime::now());
        match serde_json::to_string(&snapshot) {
            Ok(json) => {
                self.latest.send_replace(Some(json.into()));
            }
            Err(error) => tracing::warn!(%error, "admin snapshot not encodable"),
        }
    }

    fn sample(&self, now: Instant, wall: SystemTime) -> Snapshot {
        let at_ms = crate::upstreams::unix_ms(wall);
        let live = self.live.load();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = inner
            .proxy
            .last
            .map_or(TICK, |(at, _, _)| now.saturating_duration_since(at))
            .max(Duration::from_millis(1));
        for track in inner.tracks.values_mut() {
            track.seen = false;
        }

        let mut upstreams = Vec::with_capacity(live.upstreams().len());
        for (name, group) in live.upstreams() {
            let statuses = group.snapshot();
            let traffic: BTreeMap<SocketAddr, TrafficCounts> =
                group.traffic().into_iter().collect();
            let mut backends = Vec::with_capacity(statuses.len());
            for status in statuses {
                let counts = traffic.get(&status.addr).copied().unwrap_or_default();
                let mut first_sight = false;
                let track = inner
                    .tracks
                    .entry((name.clone(), status.addr))
                    .or_insert_with(|| {
                        first_sight = true;
                        Track {
                            last: counts,
                            minute: VecDeque::with_capacity(MINUTE),
                            samples: VecDeque::with_capacity(HISTORY_SECONDS),
                            state: state_word(&status),
                            since: wall,
                            seen: true,
                        }
                    });
                track.seen = true;
                let second = counts.since(&track.last);
                track.last = counts;
                // A backend seen for the first time has no second behind it yet.
                let sample = (!first_sight).then(|| Sample {
                    at_ms,
                    rps: second.requests as f64 / elapsed.as_secs_f64(),
                    errors: second.errors,
                    p99_ms: second.latency_quantile(0.99).map(to_ms),
                });
                if let Some(sample) = sample {
                    push_bounded(&mut track.minute, (elapsed, second), MINUTE);
                    push_bounded(&mut track.samples, sample, HISTORY_SECONDS);
                }
                let word = state_word(&status);
                if word != track.state {
                    track.state = word;
                    track.since = wall;
                }
                let mut minute = TrafficCounts::default();
                let mut window = Duration::ZERO;
                for (covers, counts) in &track.minute {
                    minute.add(counts);
                    window += *covers;
                }
                backends.push((
                    minute.requests,
                    BackendView {
                        addr: status.addr,
                        state: track.state,
                        since: crate::upstreams::iso8601(track.since),
                        since_ms: crate::upstreams::unix_ms(track.since),
                        rps: minute.requests as f64 / window.as_secs_f64().max(1.0),
                        error_rate: ratio(minute.errors, minute.requests),
                        p50_ms: minute.latency_quantile(0.5).map(to_ms),
                        p99_ms: minute.latency_quantile(0.99).map(to_ms),
                        share: None,
                        sample,
                        status,
                    },
                ));
            }
            let group_requests: u64 = backends.iter().map(|(requests, _)| requests).sum();
            upstreams.push(UpstreamView {
                name: name.clone(),
                eligible: group.eligible_count(),
                backends: backends
                    .into_iter()
                    .map(|(requests, view)| BackendView {
                        share: ratio(requests, group_requests),
                        ..view
                    })
                    .collect(),
            });
        }
        inner.tracks.retain(|_, track| track.seen);

        let totals = self.metrics.totals();
        let cpu_seconds = self.cpu_seconds();
        let (previous_totals, cpu_percent) = match inner.proxy.last {
            Some((at, totals, Some(previous_cpu))) => (
                totals,
                cpu_seconds.map(|cpu| {
                    100.0 * (cpu - previous_cpu).max(0.0)
                        / now.saturating_duration_since(at).as_secs_f64().max(0.001)
                }),
            ),
            Some((_, totals, None)) => (totals, None),
            None => (totals, None),
        };
        let second = Totals {
            retries: totals.retries.saturating_sub(previous_totals.retries),
            hedges: totals.hedges.saturating_sub(previous_totals.hedges),
            cache_served: totals
                .cache_served
                .saturating_sub(previous_totals.cache_served),
            cache_lookups: totals
                .cache_lookups
                .saturating_sub(previous_totals.cache_lookups),
        };
        if inner.proxy.last.is_some() {
            push_bounded(&mut inner.proxy.minute, (elapsed, second), MINUTE);
        }
        inner.proxy.last = Some((now, totals, cpu_seconds));
        let mut minute = Totals::default();
        let mut window = Duration::ZERO;
        for (covers, second) in &inner.proxy.minute {
            minute.retries += second.retries;
            minute.hedges += second.hedges;
            minute.cache_served += second.cache_served;
            minute.cache_lookups += second.cache_lookups;
            window += *covers;
        }
        let window = window.as_secs_f64().max(1.0);

        Snapshot {
            at: crate::upstreams::iso8601(wall),
            at_ms,
            upstreams,
            cache: self.cache.as_ref().map(|cache| CacheView {
                state: cache.state(),
                hit_ratio: ratio(minute.cache_served, minute.cache_lookups),
            }),
            proxy: ProxyView {
                cpu_percent,
                rss_bytes: self.rss_bytes(),
                retries_per_s: minute.retries as f64 / window,
                hedges_per_s: minute.hedges as f64 / window,
            },
        }
    }

    /// The process's CPU seconds so far, user and system, to the microsecond. (The
    /// process collector's counter moves in whole seconds: too coarse for one second's
    /// share.)
    fn cpu_seconds(&self) -> Option<f64> {
        use nix::sys::resource::{UsageWho, getrusage};
        let usage = getrusage(UsageWho::RUSAGE_SELF).ok()?;
        let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        Some(seconds(usage.user_time()) + seconds(usage.system_time()))
    }

    /// The process's resident memory, from the process collector.
    fn rss_bytes(&self) -> Option<u64> {
        self.process_metric(shared::metrics::names::PROCESS_RESIDENT_MEMORY_BYTES)
            .map(|metric| metric.get_gauge().value() as u64)
    }

    fn process_metric(&self, name: &str) -> Option<prometheus::proto::Metric> {
        self.process
            .collect()
            .into_iter()
            .find(|family| family.name() == name)?
            .get_metric()
            .first()
            .cloned()
    }
}

/// The page's word for a backend's state, most serious first.
fn state_word(status: &BackendStatus) -> &'static str {
    if !status.healthy {
        "down"
    } else if status.ejected {
        "ejected"
    } else if status.draining {
        "draining"
    } else if status.slow_starting {
        "slow-starting"
    } else {
        "up"
    }
}

fn push_bounded<T>(queue: &mut VecDeque<T>, item: T, bound: usize) {
    if queue.len() == bound {
        queue.pop_front();
    }
    queue.push_back(item);
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn to_ms(seconds: f64) -> f64 {
    seconds * 1000.0
}

/// Runs [`History::tick`] once a second until the server shuts down, and early when a
/// backend changes state, so the page shows a backend going down within a
/// [`LOOK`] of the proxy deciding it, not up to a whole tick later.
pub struct Sampler(pub Arc<History>);

/// How often the sampler looks for a change of state between ticks.
const LOOK: Duration = Duration::from_millis(250);

#[async_trait]
impl BackgroundService for Sampler {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut interval = tokio::time::interval(LOOK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_tick: Option<Instant> = None;
        loop {
            tokio::select! {
                _ = interval.tick() => {
                    let due = last_tick.is_none_or(|at| at.elapsed() >= TICK);
                    if due || self.0.state_changed() {
                        self.0.tick();
                        last_tick = Some(Instant::now());
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}

impl History {
    /// Whether any backend's state word differs from the one the last tick recorded (or a
    /// backend came or went).
    fn state_changed(&self) -> bool {
        let live = self.live.load();
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut current = 0;
        for (name, group) in live.upstreams() {
            for status in group.snapshot() {
                current += 1;
                let known = inner.tracks.get(&(name.clone(), status.addr));
                if known.is_none_or(|track| track.state != state_word(&status)) {
                    return true;
                }
            }
        }
        current != inner.tracks.len()
    }
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
