//! `lab compare`: the side-by-side mode. It starts three origins and, one at a time, each
//! proxy that is installed, runs the same scenarios through each (see `compare/scenarios`)
//! and writes one report: a comparison table and every run's timeline. Each run's own
//! files are in `OUT/PROXY/SCENARIO/`, as `lab run` writes them.

pub mod origins;
pub mod proxies;
pub mod scenarios;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::compare::origins::{Origin, request};
use crate::compare::proxies::{Kind, Proxy, Setup};
use crate::compare::scenarios::{Origins, Scenario};
use crate::fault::parse_duration;
use crate::load::client::Target;
use crate::load::{self, Plan};
use crate::record::ms;
use crate::run::{check_out_dir, pin_self, write_outputs};

mod table;

/// `lab compare`'s flags.
#[derive(Args, Debug, Clone)]
pub struct CompareArgs {
    /// Proxies to compare, comma separated (default: every one installed).
    #[arg(long, value_delimiter = ',')]
    pub proxies: Vec<String>,
    /// Scenarios, comma separated: kill, hang, drain, rolling, slow (default: all).
    #[arg(long, value_delimiter = ',')]
    pub scenarios: Vec<String>,
    /// Length of each scenario's run; faults come at a third and two thirds of it.
    #[arg(long, default_value = "12s", value_parser = parse_duration)]
    pub scenario_duration: Duration,
    /// Requests per second.
    #[arg(long, default_value_t = 500)]
    pub rate: u32,
    /// Most client connections.
    #[arg(long, default_value_t = 256)]
    pub connections: usize,
    /// A request unfinished this long after its send counts as a `timeout`.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Where the report and every run's files go.
    #[arg(long, default_value = "lab-compare")]
    pub out: PathBuf,
    /// Pin each proxy to this CPU (with taskset).
    #[arg(long)]
    pub proxy_cpu: Option<usize>,
    /// Pin the lab and the origins to this CPU.
    #[arg(long)]
    pub load_cpu: Option<usize>,
    /// Flotilla's `proxy` binary (default: beside this `lab` binary).
    #[arg(long)]
    pub proxy_bin: Option<PathBuf>,
    /// The `proxy-test-origin` binary (default: beside this `lab` binary).
    #[arg(long)]
    pub origin_bin: Option<PathBuf>,
}

/// One run's figures, a row of the comparison table and of `compare.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Scenario name.
    pub scenario: String,
    /// Proxy name.
    pub proxy: String,
    /// Its files, relative to the report.
    pub dir: String,
    /// Requests sent.
    pub sent: u64,
    /// Of which failed.
    pub failed: u64,
    /// Failures by status or error kind.
    pub failures_by_kind: std::collections::BTreeMap<String, u64>,
    /// First and last failure, ms after the first fault.
    pub failures_from_ms: Option<f64>,
    /// See `failures_from_ms`.
    pub failures_to_ms: Option<f64>,
    /// p99 of the requests sent from the first fault to the first clean second.
    pub during_p99_ms: f64,
    /// Slowest request of the run.
    pub max_ms: f64,
    /// The first fault's time to detect.
    pub time_to_detect_ms: Option<f64>,
    /// The last fault's time to recover (all instances back).
    pub time_to_recover_ms: Option<f64>,
    /// Responses per instance over the run.
    pub instances: std::collections::BTreeMap<String, u64>,
    /// How far behind schedule the lab fell; large means the figures are the lab's.
    pub max_dispatch_lag_ms: f64,
}

fn beside_me(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("where is this binary")?;
    Ok(me.with_file_name(name))
}

/// Runs `lab compare`.
pub async fn main(args: CompareArgs) -> anyhow::Result<()> {
    let flotilla_bin = args
        .proxy_bin
        .clone()
        .map_or_else(|| beside_me("proxy"), Ok)?;
    let origin_bin = args
        .origin_bin
        .clone()
        .map_or_else(|| beside_me("proxy-test-origin"), Ok)?;
    if !origin_bin.is_file() {
        bail!(
            "no origin binary at {} (build it: cargo build -p test-origin, or pass --origin-bin)",
            origin_bin.display()
        );
    }
    let installed = proxies::available(&flotilla_bin);
    let kinds = if args.proxies.is_empty() {
        installed.clone()
    } else {
        args.proxies
            .iter()
            .map(|name| Kind::parse(name))
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    for kind in &kinds {
        if !installed.contains(kind) {
            bail!(
                "{} is not installed (Flotilla: build the proxy crate or pass --proxy-bin; others: on PATH)",
                kind.name()
            );
        }
    }
    if kinds.is_empty() {
        bail!("no proxy to compare: none is installed");
    }
    let scenarios = if args.scenarios.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        args.scenarios
            .iter()
            .map(|name| Scenario::parse(name))
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    if args.rate == 0 || args.scenario_duration < Duration::from_secs(1) {
        bail!("--rate must be at least 1 and --scenario-duration at least 1s");
    }
    if (args.proxy_cpu.is_some() || args.load_cpu.is_some())
        && proxies::on_path("taskset").is_none()
    {
        bail!("--proxy-cpu and --load-cpu need taskset on PATH");
    }
    check_out_dir(&args.out)?;
    if let Some(cpu) = args.load_cpu {
        pin_self(cpu)?;
    }
    let work = temp_dir()?;
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted: finishing with what was recorded");
            on_signal.cancel();
        }
    });
    let result = compare(
        &args,
        &kinds,
        &scenarios,
        &flotilla_bin,
        &origin_bin,
        &work,
        &cancel,
    )
    .await;
    let _ = std::fs::remove_dir_all(&work);
    let rows = result?;
    table::write(&args.out, &args, &rows)?;
    eprintln!("report: {}", args.out.join("report.html").display());
    if cancel.is_cancelled() {
        bail!(
            "interrupted; the partial report is in {}",
            args.out.display()
        );
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn compare(
    args: &CompareArgs,
    kinds: &[Kind],
    scenarios: &[Scenario],
    flotilla_bin: &Path,
    origin_bin: &Path,
    work: &Path,
    cancel: &CancellationToken,
) -> anyhow::Result<Vec<Row>> {
    let mut started = Vec::new();
    for id in ["o1", "o2", "o3"] {
        started.push(Origin::start(origin_bin, id, work, args.load_cpu).await?);
    }
    let setup = Setup {
        dir: work.to_owned(),
        flotilla_bin: flotilla_bin.to_owned(),
        origins: started.iter().map(|o| o.addr).collect(),
        cpu: args.proxy_cpu,
    };
    let origins: Origins = Arc::new(tokio::sync::Mutex::new(started));
    let mut rows = Vec::new();
    'proxies: for &kind in kinds {
        eprintln!("starting {}", kind.name());
        let proxy = Proxy::start(kind, &setup).await?;
        let outcome = async {
            for &scenario in scenarios {
                if cancel.is_cancelled() {
                    break;
                }
                settle(&origins, &proxy).await?;
                eprintln!("{} / {}", kind.name(), scenario.name());
                rows.push(one_run(args, &proxy, scenario, &origins, cancel).await?);
            }
            anyhow::Ok(())
        }
        .await;
        proxy.stop().await;
        outcome?;
        if cancel.is_cancelled() {
            break 'proxies;
        }
    }
    for origin in origins.lock().await.iter_mut() {
        origin.stop().await;
    }
    // Side by side: each scenario's proxies next to each other.
    rows.sort_by_key(|row| scenarios.iter().position(|s| s.name() == row.scenario));
    Ok(rows)
}

async fn one_run(
    args: &CompareArgs,
    proxy: &Proxy,
    scenario: Scenario,
    origins: &Origins,
    cancel: &CancellationToken,
) -> anyhow::Result<Row> {
    let url = format!("http://{}/", proxy.addr);
    let plan = Plan {
        targets: vec![Target::parse(
            &url,
            &http::Method::GET,
            &bytes::Bytes::new(),
        )?],
        rate: args.rate,
        duration: scenario.length(args.scenario_duration),
        connections: args.connections,
        timeout: args.timeout,
    };
    let faults = scenario.faults(origins, args.scenario_duration);
    let recording = load::run(&plan, faults, cancel.child_token()).await;
    let dir = format!("{}/{}", proxy.kind.name(), scenario.name());
    let title = format!(
        "{} / {}: {}, {} req/s",
        proxy.kind.name(),
        scenario.name(),
        scenario.describe(),
        args.rate
    );
    let summary = write_outputs(&args.out.join(&dir), &plan, &recording, &title)?;
    let first_fault = summary.faults.first();
    let fault_at = first_fault.map_or(0.0, |f| f.at_ms);
    let failures: Vec<f64> = recording
        .records
        .iter()
        .filter(|r| r.outcome.failure_kind().is_some())
        .map(|r| ms(r.start) - fault_at)
        .collect();
    let mut instances = std::collections::BTreeMap::new();
    for bucket in &summary.timeline {
        for (name, n) in &bucket.instances {
            *instances.entry(name.clone()).or_insert(0) += n;
        }
    }
    Ok(Row {
        scenario: scenario.name().to_owned(),
        proxy: proxy.kind.name().to_owned(),
        dir,
        sent: summary.totals.sent,
        failed: summary.totals.failed,
        failures_by_kind: summary.failures_by_kind.clone(),
        failures_from_ms: failures.first().copied(),
        failures_to_ms: failures.last().copied(),
        during_p99_ms: first_fault.map_or(0.0, |f| f.during.latency.p99_ms),
        max_ms: summary.latency.max_ms,
        time_to_detect_ms: first_fault.and_then(|f| f.time_to_detect_ms),
        time_to_recover_ms: summary.faults.last().and_then(|f| f.time_to_recover_ms),
        instances,
        max_dispatch_lag_ms: summary.max_dispatch_lag_ms,
    })
}

/// Brings every origin back to health (a rolling restart still under way finishes first)
/// and waits until the proxy spreads requests over all three again.
async fn settle(origins: &Origins, proxy: &Proxy) -> anyhow::Result<()> {
    {
        let mut origins = origins.lock().await;
        for origin in origins.iter_mut() {
            let _ = origin.signal(nix::sys::signal::Signal::SIGCONT);
            if !origin.healthy().await {
                origin.restart().await?;
            }
            request(origin.addr, "POST", "/__slow?ms=0", Duration::from_secs(2)).await;
        }
    }
    let start = Instant::now();
    loop {
        let mut seen = std::collections::BTreeSet::new();
        let mut clean = true;
        for _ in 0..9 {
            match request(proxy.addr, "GET", "/", Duration::from_secs(2)).await {
                Some((200, Some(instance))) => {
                    seen.insert(instance);
                }
                _ => clean = false,
            }
        }
        if clean && seen.len() == 3 {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(20) {
            bail!(
                "{} did not spread traffic over all three origins within 20 s (saw {seen:?})",
                proxy.kind.name()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A fresh private directory for configs and logs; nginx's unprivileged worker may pass
/// through it (mode 711).
fn temp_dir() -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("lab-compare-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711))?;
    Ok(dir)
}
