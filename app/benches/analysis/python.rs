//! DuckDB and polars, run from a virtual environment the bench makes for them.
//!
//! The environment lives under the target directory and holds pinned versions, so every
//! run compares against the same releases. Making it needs `python3` with `venv` and
//! access to PyPI once; without them the bench says so and measures the app alone.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The pinned packages: the engines compared with, and numpy for the cross-check.
const PACKAGES: [&str; 3] = ["duckdb==1.1.3", "polars==1.17.1", "numpy==2.4.6"];

/// The script that runs the other engines.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/analysis/compare.py");

/// A Python that has the pinned packages.
#[derive(Debug)]
pub(crate) struct Python {
    binary: PathBuf,
}

impl Python {
    /// The environment under the target directory, made on first use; `None` (and a line
    /// saying why) when it cannot be made or `ANALYSIS_BENCH_PYTHON=0`.
    pub(crate) fn ready() -> Option<Self> {
        if std::env::var("ANALYSIS_BENCH_PYTHON").as_deref() == Ok("0") {
            println!("ANALYSIS_BENCH_PYTHON=0: DuckDB and polars are not run");
            return None;
        }
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("analysis-bench-venv");
        let binary = venv.join("bin/python");
        let marker = venv.join(PACKAGES.join(" ").replace(['=', ' '], "_"));
        if !marker.is_file() {
            println!("making {} with {}", venv.display(), PACKAGES.join(" "));
            let made = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .is_ok_and(|status| status.success())
                && Command::new(&binary)
                    .args(["-m", "pip", "install", "--quiet"])
                    .args(PACKAGES)
                    .status()
                    .is_ok_and(|status| status.success());
            if !made {
                println!("could not make the environment: DuckDB and polars are not run");
                return None;
            }
            let _ = std::fs::write(&marker, "");
        }
        Some(Self { binary })
    }

    /// Seconds `engine` (`duckdb` or `polars`) took over the file, as it measured itself.
    pub(crate) fn time(&self, engine: &str, file: &Path) -> Option<f64> {
        let output = Command::new(&self.binary)
            .args([SCRIPT, "time", engine])
            .arg(file)
            .output()
            .ok()?;
        if !output.status.success() {
            eprintln!("{engine}: {}", String::from_utf8_lossy(&output.stderr));
            return None;
        }
        String::from_utf8_lossy(&output.stdout).trim().parse().ok()
    }

    /// numpy's statistics of the file's numeric columns.
    pub(crate) fn reference(&self, file: &Path) -> Option<serde_json::Value> {
        let output = Command::new(&self.binary)
            .args([SCRIPT, "check"])
            .arg(file)
            .output()
            .ok()?;
        if !output.status.success() {
            eprintln!("check: {}", String::from_utf8_lossy(&output.stderr));
            return None;
        }
        serde_json::from_slice(&output.stdout).ok()
    }
}
