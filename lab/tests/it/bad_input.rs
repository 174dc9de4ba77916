//! Bad input is refused with a clear message before any request is sent.

use crate::helpers::{Origin, out_dir, run_lab, stderr};

/// Runs `lab run` against `origin` with `extra` flags and asserts it fails naming `expected`,
/// with no request sent and no results written.
async fn refused(origin: &Origin, name: &str, extra: &[&str], expected: &str) {
    let out = out_dir(name);
    let url = format!("http://{}/", origin.addr);
    let out_text = out.to_str().expect("utf-8 path").to_owned();
    let mut args = vec![
        "run",
        "--url",
        &url,
        "--rate",
        "100",
        "--duration",
        "2s",
        "--out",
        &out_text,
    ];
    args.extend_from_slice(extra);
    let output = run_lab(&args);
    assert!(!output.status.success(), "{name}: lab should refuse");
    let message = stderr(&output);
    assert!(
        message.contains(expected),
        "{name}: expected {expected:?} in {message:?}"
    );
    assert_eq!(origin.requests().await, 0, "{name}: no load was sent");
    assert!(
        !out.join("requests.csv").exists(),
        "{name}: nothing written"
    );
}

#[tokio::test]
async fn an_unreachable_target_is_refused() {
    let out = out_dir("unreachable");
    let url = format!("http://127.0.0.1:{}/", shared::testing::free_port());
    let output = run_lab(&[
        "run",
        "--url",
        &url,
        "--duration",
        "1s",
        "--out",
        out.to_str().expect("path"),
    ]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("unreachable"),
        "{}",
        stderr(&output)
    );
    assert!(!out.join("requests.csv").exists());
}

#[tokio::test]
async fn a_pid_that_does_not_exist_is_refused() {
    let origin = Origin::start("o1").await;
    // Above any Linux pid_max, so never a live process.
    refused(
        &origin,
        "no-pid",
        &["--fault", "at=1s kill pid=2147483647"],
        "no such process",
    )
    .await;
}

#[tokio::test]
async fn a_fault_past_the_duration_is_refused() {
    let origin = Origin::start("o1").await;
    let fault = format!("at=10s stop pid={}", origin.pid());
    refused(
        &origin,
        "late-fault",
        &["--fault", &fault],
        "past the run's duration",
    )
    .await;
}

#[tokio::test]
async fn an_unwritable_out_is_refused() {
    let origin = Origin::start("o1").await;
    // A directory inside a regular file cannot be made, even by root.
    let file = out_dir("unwritable-file");
    std::fs::write(&file, b"").expect("a plain file");
    let under = file.join("out");
    let url = format!("http://{}/", origin.addr);
    let output = run_lab(&[
        "run",
        "--url",
        &url,
        "--duration",
        "1s",
        "--out",
        under.to_str().expect("path"),
    ]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("not a writable directory"),
        "{}",
        stderr(&output)
    );
    assert_eq!(origin.requests().await, 0, "no load was sent");
}
