//! Starting origins and the lab, and reading what the lab wrote.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use shared::testing::{ChildGuard, READY_DEADLINE, free_port, wait_for_status, workspace_bin};

/// The `proxy-test-origin` binary, built on first use.
pub(crate) fn origin_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("test-origin", "proxy-test-origin"))
}

/// Flotilla's `proxy` binary, built on first use.
pub(crate) fn proxy_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("proxy", "proxy"))
}

/// A running origin process.
pub(crate) struct Origin {
    pub(crate) addr: SocketAddr,
    pub(crate) child: ChildGuard,
}

impl Origin {
    /// Starts one on a free port and waits until it answers.
    pub(crate) async fn start(id: &str) -> Self {
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let mut command = Command::new(origin_bin());
        command.args(["--listen", &addr.to_string(), "--id", id]);
        let child = ChildGuard::spawn(&mut command);
        wait_for_status(addr, "/healthz", 200, READY_DEADLINE)
            .await
            .expect("origin ready");
        Self { addr, child }
    }

    /// Requests it has counted (every path but `/healthz` and `/__stats`).
    pub(crate) async fn requests(&self) -> u64 {
        let body = reqwest::get(format!("http://{}/__stats", self.addr))
            .await
            .expect("stats")
            .json::<serde_json::Value>()
            .await
            .expect("stats JSON");
        body["requests"].as_object().map_or(0, |m| {
            m.values().filter_map(serde_json::Value::as_u64).sum()
        })
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.pid()
    }
}

/// The `lab` binary.
pub(crate) fn lab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lab"))
}

/// Runs `lab ARGS` to the end.
pub(crate) fn run_lab(args: &[&str]) -> Output {
    lab().args(args).output().expect("run lab")
}

/// A fresh directory for one test's outputs.
pub(crate) fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lab-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The data rows of `requests.csv` in `dir`.
pub(crate) fn csv_rows(dir: &Path) -> Vec<csv::StringRecord> {
    let mut reader = csv::Reader::from_path(dir.join("requests.csv")).expect("requests.csv");
    reader.records().map(|r| r.expect("CSV row")).collect()
}

/// `summary.json` in `dir`.
pub(crate) fn summary(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("summary.json is JSON")
}

/// Asserts `timeline.svg` parses as SVG and `timeline.png` decodes to a non-empty image.
pub(crate) fn assert_plots_valid(dir: &Path) {
    let svg = std::fs::read_to_string(dir.join("timeline.svg")).expect("timeline.svg");
    let document = roxmltree::Document::parse(&svg).expect("timeline.svg parses");
    assert_eq!(document.root_element().tag_name().name(), "svg");
    assert!(
        document
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .count()
            > 10,
        "axes have labels"
    );
    let file = std::fs::File::open(dir.join("timeline.png")).expect("timeline.png");
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .expect("PNG header");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels).expect("PNG decodes");
    assert!(frame.width > 0 && frame.height > 0, "PNG has a size");
    assert!(pixels.iter().any(|&p| p != 255), "PNG is not blank");
}

/// stderr as text, for assertion messages.
pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
