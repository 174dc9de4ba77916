//! `lab run`: load against a target that is already running, faults on a schedule, and
//! the outputs in `--out`. Everything that can be wrong with the input is found before
//! the first request: an unreachable target, a missing process, a fault past the end, an
//! `--out` that cannot be written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::fault::{Fault, parse_duration};
use crate::load::client::Target;
use crate::load::{self, Plan, Recording};
use crate::{analysis, plot, record, report};

/// `lab run`'s flags.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// A URL to request, several times to mix (e.g. reads and uploads); each may be written
    /// `METHOD URL [@BODY_FILE]` to override --method and --body.
    #[arg(long = "url", required = true)]
    pub urls: Vec<String>,
    /// Requests per second, sent on schedule whether or not earlier ones have finished.
    #[arg(long, default_value_t = 500)]
    pub rate: u32,
    /// How long to send for (`30s`, `1500ms`).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Most keep-alive connections, and so most requests in flight.
    #[arg(long, default_value_t = 256)]
    pub connections: usize,
    /// The method for URLs that name none.
    #[arg(long, default_value = "GET")]
    pub method: http::Method,
    /// A file sent as the body of every request whose URL names no body.
    #[arg(long)]
    pub body: Option<PathBuf>,
    /// A request unfinished this long after its send counts as a `timeout`.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// A fault: `at=10s kill pid=1234`, `stop`, `cont`, `term`, or `at=5s exec="COMMAND"`.
    /// Repeat for several.
    #[arg(long = "fault")]
    pub faults: Vec<String>,
    /// Where requests.csv, summary.json, timeline.svg/png and report.html go.
    #[arg(long, default_value = "lab-out")]
    pub out: PathBuf,
    /// Pin the lab to this CPU, so it does not compete with the target it measures.
    #[arg(long)]
    pub load_cpu: Option<usize>,
    /// The report's title.
    #[arg(long)]
    pub title: Option<String>,
}

/// Runs `lab run`.
pub async fn main(args: RunArgs) -> anyhow::Result<()> {
    let (plan, faults) = prepare(&args)?;
    if let Some(cpu) = args.load_cpu {
        pin_self(cpu)?;
    }
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "interrupted: stopping the load, resuming stopped processes, writing what was recorded"
            );
            on_signal.cancel();
        }
    });
    let recording = load::run(&plan, faults, cancel).await;
    let title = args
        .title
        .clone()
        .unwrap_or_else(|| format!("lab run: {}", args.urls.join(", ")));
    let summary = write_outputs(&args.out, &plan, &recording, &title)?;
    eprintln!(
        "{} sent, {} failed, p99 {:.1} ms; results in {}",
        summary.totals.sent,
        summary.totals.failed,
        summary.latency.p99_ms,
        args.out.display()
    );
    if recording.interrupted {
        bail!(
            "interrupted; the partial results are in {}",
            args.out.display()
        );
    }
    Ok(())
}

/// Parses and checks everything, reachability included, without sending load.
pub fn prepare(args: &RunArgs) -> anyhow::Result<(Plan, Vec<Fault>)> {
    if args.rate == 0 {
        bail!("--rate must be at least 1");
    }
    if args.duration.is_zero() {
        bail!("--duration must be more than 0");
    }
    let body = match &args.body {
        Some(path) => std::fs::read(path)
            .map(Bytes::from)
            .with_context(|| format!("--body {}", path.display()))?,
        None => Bytes::new(),
    };
    let targets = args
        .urls
        .iter()
        .map(|spec| Target::parse(spec, &args.method, &body))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let faults = args
        .faults
        .iter()
        .map(|text| Fault::parse(text))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for fault in &faults {
        fault.check(args.duration)?;
    }
    for target in &targets {
        check_reachable(&target.authority).with_context(|| format!("--url {}", target.url))?;
    }
    check_out_dir(&args.out)?;
    let plan = Plan {
        targets,
        rate: args.rate,
        duration: args.duration,
        connections: args.connections,
        timeout: args.timeout,
    };
    Ok((plan, faults))
}

/// Creates `dir` and proves it writable.
pub fn check_out_dir(dir: &Path) -> anyhow::Result<()> {
    let context = || format!("--out {} is not a writable directory", dir.display());
    std::fs::create_dir_all(dir).with_context(context)?;
    let probe = dir.join(".lab-write-test");
    std::fs::write(&probe, b"").with_context(context)?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Fails unless something accepts TCP connections at `authority` within 2 s.
pub fn check_reachable(authority: &str) -> anyhow::Result<()> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<_> = authority
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {authority}"))?
        .collect();
    let mut last = None;
    for addr in addrs {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    match last {
        Some(e) => bail!("target {authority} is unreachable: {e}"),
        None => bail!("target {authority} resolves to no address"),
    }
}

/// Pins this process (every thread it starts later too) to `cpu`.
pub fn pin_self(cpu: usize) -> anyhow::Result<()> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu)
        .with_context(|| format!("CPU {cpu} out of range"))?;
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .with_context(|| format!("cannot pin the lab to CPU {cpu}"))
}

/// Writes requests.csv, summary.json, timeline.svg, timeline.png and report.html to
/// `out`, and returns the summary.
pub fn write_outputs(
    out: &Path,
    plan: &Plan,
    recording: &Recording,
    title: &str,
) -> anyhow::Result<analysis::Summary> {
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let urls: Vec<String> = plan
        .targets
        .iter()
        .map(|t| format!("{} {}", t.method, t.url))
        .collect();
    record::write_csv(&out.join("requests.csv"), &recording.records, &urls)?;
    let summary = analysis::summarize(recording, &urls, plan.rate, plan.duration);
    let json = serde_json::to_string_pretty(&summary)?;
    std::fs::write(out.join("summary.json"), json).context("write summary.json")?;
    let svg = plot::svg(&summary, title)?;
    std::fs::write(out.join("timeline.svg"), &svg).context("write timeline.svg")?;
    plot::png(&summary, title, &out.join("timeline.png"))?;
    let html = report::single(
        title,
        &summary,
        &svg,
        &std::fs::read(out.join("timeline.png"))?,
    );
    std::fs::write(out.join("report.html"), html).context("write report.html")?;
    Ok(summary)
}
