//! The analysis engine side by side with DuckDB and polars, on one generated file.
//!
//! Run with `cargo bench -p app --bench analysis`. It generates a 900 000-row, 50 MB CSV
//! (integer id, two-decimal price, one of 500 labels, boolean, ISO timestamp, integer
//! with 5 % empty cells), then runs in interleaved rounds, so that whatever else the
//! machine does hits every contender alike:
//!
//! - `engine`: [`analyze`] over the bytes in memory;
//! - `upload`: one app instance in this process (SQLite), the file sent over HTTP/1.1
//!   until the 201: receiving, analysis, JSON and store. The figure that counts;
//! - `duckdb`: `SUMMARIZE` of the file on 2 threads, and `polars`: `read_csv`, `describe`
//!   with the same quantiles, `n_unique` and value counts, each timed inside Python
//!   (start-up and imports not counted), from a virtual environment made on first run
//!   under the target directory with pinned versions.
//!
//! It prints MB/s per contender (median and range over rounds) and, per round, the ratios
//! of the app's figures to DuckDB's. Then it checks the engine's statistics against
//! numpy's on the same file, and measures the peak resident memory of a fresh process
//! that serves one upload of the file streamed from disk.
//!
//! `ANALYSIS_BENCH_ROUNDS` sets the rounds (default 5), `ANALYSIS_BENCH_ROWS` the rows
//! (default 900 000), `ANALYSIS_BENCH_PYTHON=0` skips DuckDB, polars and numpy.

#[path = "analysis/data.rs"]
mod data;
#[path = "analysis/python.rs"]
mod python;
#[path = "analysis/upload.rs"]
mod upload;

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use app::analysis::{Analysis, Options, Value, analyze};

/// Set in the child process that measures memory: the file to upload.
const MEMORY_CHILD: &str = "ANALYSIS_BENCH_MEMORY_FILE";

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Some(file) = std::env::var_os(MEMORY_CHILD) {
        return runtime.block_on(memory_child(Path::new(&file)));
    }
    let rounds = env_or("ANALYSIS_BENCH_ROUNDS", 5).max(1);
    let rows = env_or("ANALYSIS_BENCH_ROWS", data::ROWS as usize) as u64;
    let data = data::generate(rows);
    let mb = data.len() as f64 / 1e6;
    let dir = std::env::temp_dir().join(format!("flotilla-bench-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("bench.csv");
    std::fs::write(&file, &data)?;
    println!("{mb:.1} MB, {rows} rows, 6 columns, {rounds} interleaved rounds");

    let python = python::Python::ready();
    let instance = runtime.block_on(upload::Instance::start())?;
    let options = Options::default();
    let mut engine = Vec::new();
    let mut http = Vec::new();
    let mut duckdb = Vec::new();
    let mut polars = Vec::new();
    let mut analysis = None;
    for round in 0..rounds {
        let start = Instant::now();
        let result = analyze(black_box(&data[..]), &options)?;
        engine.push(start.elapsed().as_secs_f64());
        anyhow::ensure!(result.rows == rows, "the engine saw {} rows", result.rows);
        analysis = Some(result);

        let (elapsed, created) = runtime.block_on(instance.upload(&data))?;
        anyhow::ensure!(
            created["rows"] == rows,
            "the upload stored {}",
            created["rows"]
        );
        http.push(elapsed.as_secs_f64());

        if let Some(python) = &python {
            duckdb.extend(python.time("duckdb", &file));
            polars.extend(python.time("polars", &file));
        }
        println!("round {} done", round + 1);
    }

    println!();
    println!("| contender            | median s | MB/s median | MB/s range    |");
    println!("|----------------------|---------:|------------:|---------------|");
    for (name, seconds) in [
        ("app engine (analyze)", &engine),
        ("app upload to 201", &http),
        ("DuckDB SUMMARIZE", &duckdb),
        ("polars describe", &polars),
    ] {
        if seconds.is_empty() {
            continue;
        }
        let (low, median, high) = spread(seconds);
        println!(
            "| {name:<20} | {median:>8.3} | {:>11.1} | {:>5.1} - {:>5.1} |",
            mb / median,
            mb / high,
            mb / low
        );
    }
    if duckdb.len() == rounds {
        println!();
        println!("Ratios per round, the app's MB/s over the other's (higher is faster):");
        for (name, ours, theirs) in [
            ("upload / DuckDB", &http, &duckdb),
            ("engine / DuckDB", &engine, &duckdb),
            ("upload / polars", &http, &polars),
        ] {
            if theirs.len() != rounds {
                continue;
            }
            let ratios: Vec<f64> = ours.iter().zip(theirs).map(|(o, t)| t / o).collect();
            let (low, median, high) = spread(&ratios);
            println!("  {name:<16} median {median:.2}x, range {low:.2}x - {high:.2}x");
        }
    }

    if let (Some(python), Some(analysis)) = (&python, &analysis) {
        match python.reference(&file) {
            Some(reference) => cross_check(analysis, &reference)?,
            None => println!("cross-check: numpy did not answer"),
        }
    }
    drop(instance);

    let child = std::process::Command::new(std::env::current_exe()?)
        .env(MEMORY_CHILD, &file)
        .output()?;
    let report = String::from_utf8_lossy(&child.stdout);
    match report.trim().parse::<u64>() {
        Ok(peak) => println!(
            "\npeak resident memory of a fresh instance serving one upload of the file: \
             {:.1} MB, {:.2}x the file",
            peak as f64 / 1e6,
            peak as f64 / data.len() as f64
        ),
        Err(_) => println!(
            "\nthe memory child failed: {report} {}",
            String::from_utf8_lossy(&child.stderr)
        ),
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The child process: one instance, one upload of `file`, then its `VmHWM` in bytes.
async fn memory_child(file: &Path) -> anyhow::Result<()> {
    let instance = upload::Instance::start().await?;
    instance.upload_file(file).await?;
    let peak = upload::peak_resident_bytes().unwrap_or_default();
    println!("{peak}");
    Ok(())
}

/// Compares the engine's figures with numpy's: means, standard deviations, type-7
/// quantiles, group means by `active` and the Pearson matrix, to 1e-9 relative.
fn cross_check(analysis: &Analysis, reference: &serde_json::Value) -> anyhow::Result<()> {
    let mut compared = 0;
    let mut check = |what: String, ours: Option<f64>, theirs: Option<f64>| -> anyhow::Result<()> {
        let (Some(ours), Some(theirs)) = (ours, theirs) else {
            anyhow::bail!("cross-check: {what} is missing (app {ours:?}, numpy {theirs:?})");
        };
        let tolerance = 1e-9 * theirs.abs().max(1.0);
        anyhow::ensure!(
            (ours - theirs).abs() <= tolerance,
            "cross-check: {what}: app {ours}, numpy {theirs}"
        );
        compared += 1;
        Ok(())
    };
    let number = |value: &Value| match value {
        Value::Number(n) => Some(*n),
        Value::Integer(n) => Some(*n as f64),
        Value::Text(_) => None,
    };
    for (name, stats) in reference["stats"].as_object().into_iter().flatten() {
        let column = analysis
            .columns
            .iter()
            .find(|column| &column.name == name)
            .ok_or_else(|| anyhow::anyhow!("no column {name}"))?;
        check(format!("{name} mean"), column.mean, stats["mean"].as_f64())?;
        check(
            format!("{name} std_dev"),
            column.std_dev,
            stats["std_dev"].as_f64(),
        )?;
        let quantiles = column.quantiles.as_ref();
        let ours = quantiles.map(|q| [&q.p5, &q.p25, &q.p50, &q.p75, &q.p95]);
        for (i, level) in ["p5", "p25", "p50", "p75", "p95"].iter().enumerate() {
            check(
                format!("{name} {level}"),
                ours.and_then(|q| number(q[i])),
                stats["quantiles"][i].as_f64(),
            )?;
        }
        let by_active = analysis
            .group_summaries
            .iter()
            .find(|group| group.by == "active")
            .and_then(|group| group.columns.iter().find(|c| &c.name == name));
        for (i, flag) in ["false", "true"].iter().enumerate() {
            check(
                format!("{name} mean where active is {flag}"),
                by_active.and_then(|c| c.stats.get(i)).and_then(|s| s.mean),
                stats["by_active"][i].as_f64(),
            )?;
        }
    }
    let correlations = analysis
        .correlations
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no correlations"))?;
    let names: Vec<&str> = reference["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
        .collect();
    for (i, a) in names.iter().enumerate() {
        for (j, b) in names.iter().enumerate() {
            let at = |name: &str| correlations.columns.iter().position(|c| c == name);
            let ours = at(a)
                .zip(at(b))
                .and_then(|(x, y)| correlations.pearson[x][y]);
            check(
                format!("pearson {a}-{b}"),
                ours,
                reference["pearson"][i][j].as_f64(),
            )?;
        }
    }
    println!("\ncross-check against numpy: {compared} figures agree to 1e-9");
    Ok(())
}

/// Smallest, median and largest.
fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    (
        sorted[0],
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1],
    )
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}
