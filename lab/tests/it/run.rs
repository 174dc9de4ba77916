//! `lab run` against a real origin that the lab itself stops and resumes.

use std::time::Duration;

use crate::helpers::{
    Origin, assert_plots_valid, csv_rows, lab, out_dir, run_lab, stderr, summary,
};

#[tokio::test]
async fn a_stop_and_cont_fault_shows_up_as_a_window_in_every_output() {
    let origin = Origin::start("o1").await;
    let out = out_dir("stop-cont");
    let (url, pid) = (format!("http://{}/", origin.addr), origin.pid());
    let output = run_lab(&[
        "run",
        "--url",
        &url,
        "--rate",
        "200",
        "--duration",
        "4s",
        "--fault",
        &format!("at=1s stop pid={pid}"),
        "--fault",
        &format!("at=2s cont pid={pid}"),
        "--out",
        out.to_str().expect("utf-8 path"),
    ]);
    assert!(
        output.status.success(),
        "lab run failed: {}",
        stderr(&output)
    );

    let summary = summary(&out);
    let sent = summary["totals"]["sent"].as_u64().expect("sent");
    assert_eq!(sent, 800, "200/s for 4 s");
    assert_eq!(
        csv_rows(&out).len() as u64,
        sent,
        "one CSV row per request sent"
    );
    assert_eq!(
        origin.requests().await,
        sent,
        "the origin saw every request"
    );

    let stop = &summary["faults"][0];
    assert_eq!(stop["label"], format!("stop pid={pid}"));
    let disturbed = stop["disturbed_from_ms"]
        .as_f64()
        .expect("the stop is seen");
    let clean = stop["clean_from_ms"].as_f64().expect("and its end");
    assert!(
        (900.0..1500.0).contains(&disturbed),
        "disturbed from {disturbed} ms"
    );
    assert!((1900.0..3100.0).contains(&clean), "clean from {clean} ms");
    let during = stop["during"]["latency"]["p99_ms"].as_f64().expect("p99");
    let before = stop["before"]["latency"]["p99_ms"].as_f64().expect("p99");
    assert!(
        during > 500.0 && during > before * 4.0,
        "requests waited for the stopped origin: {during} vs {before} ms"
    );
    assert!(stop["time_to_detect_ms"].as_f64().is_some());

    assert_plots_valid(&out);
    let report = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(
        report.contains("<svg") && report.contains("data:image/png;base64,"),
        "the plots are inline"
    );
    assert!(
        report.contains(&format!("stop pid={pid}")),
        "the fault is in the table"
    );
}

#[tokio::test]
async fn ctrl_c_resumes_the_stopped_origin_and_keeps_what_was_recorded() {
    let origin = Origin::start("o1").await;
    let out = out_dir("ctrl-c");
    let (url, pid) = (format!("http://{}/", origin.addr), origin.pid());
    let mut child = lab()
        .args([
            "run",
            "--url",
            &url,
            "--rate",
            "100",
            "--duration",
            "30s",
            "--timeout",
            "2s",
        ])
        .args(["--fault", &format!("at=300ms stop pid={pid}")])
        .arg("--out")
        .arg(&out)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start lab");
    shared::testing::wait_until(
        "the lab stops the origin",
        Duration::from_secs(10),
        || async { state(pid).filter(|s| *s == 'T') },
    )
    .await
    .expect("origin stopped");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    let status = child.wait().expect("lab exits");
    assert!(
        !status.success(),
        "an interrupted run says so in its exit status"
    );
    assert_ne!(state(pid), Some('T'), "the origin runs again");
    let rows = csv_rows(&out).len();
    assert!(
        rows > 0 && rows < 3000,
        "what was sent is recorded: {rows} rows"
    );
    assert_eq!(summary(&out)["interrupted"], true);
    assert_plots_valid(&out);
}

/// A process's state letter from /proc (`T` stopped, `S` sleeping, ...).
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}
