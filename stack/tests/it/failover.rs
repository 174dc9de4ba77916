//! The stack with its defaults, as a user runs it: one of three instances hung, killed or
//! drained under 200 GETs a second costs no request.

use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use shared::testing::load::{Load, Report};
use shared::testing::wait_until;

use crate::helpers::{START_DEADLINE, TestStack};

/// 10 s of 200 GETs a second on the public dataset list, `signal` to app-1 after 2 s.
async fn under_load(signal: Signal) -> (Report, String) {
    let stack = TestStack::start(3, &[]);
    stack.wait_for_line("ready at", START_DEADLINE).await;
    let victim = Pid::from_raw(stack.pid_of("app-1").await);
    let load = Load::start(
        stack.public,
        "/api/datasets",
        200,
        Duration::from_secs(10),
        Duration::from_secs(10),
    );
    wait_until("two seconds of load", START_DEADLINE, || async {
        (load.sent() >= 400).then_some(())
    })
    .await
    .expect("load runs");
    nix::sys::signal::kill(victim, signal).expect("signal app-1");
    let report = load.finish().await;
    if signal == Signal::SIGSTOP {
        let _ = nix::sys::signal::kill(victim, Signal::SIGCONT);
    }
    (report, stack.output())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hung_instance_costs_no_get_and_no_long_wait() {
    let (report, output) = under_load(Signal::SIGSTOP).await;
    assert!(report.failed().is_empty(), "{}\n{output}", report.summary());
    assert!(
        report.slowest() < Duration::from_secs(3),
        "{}\n{output}",
        report.summary()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_instance_costs_no_get() {
    let (report, output) = under_load(Signal::SIGKILL).await;
    assert!(report.failed().is_empty(), "{}\n{output}", report.summary());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_draining_instance_costs_no_get() {
    let (report, output) = under_load(Signal::SIGTERM).await;
    assert!(report.failed().is_empty(), "{}\n{output}", report.summary());
}
