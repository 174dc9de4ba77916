use std::time::Duration;

use nix::sys::signal::Signal;
use shared::testing::wait_until;

use crate::helpers::{START_DEADLINE, TestStack, alive, client, pid_in};

#[tokio::test]
async fn a_taken_port_fails_at_once_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();

    let mut stack = TestStack::start(1, &["--port", &port.to_string()]);
    let status = stack
        .child
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("the stack exits by itself");

    assert!(!status.success());
    let output = stack.output();
    assert!(
        output.contains(&format!("port {port}")) && output.contains("already in use"),
        "{output}"
    );
}

#[tokio::test]
async fn serves_through_the_proxy_and_sigterm_leaves_no_process_behind() {
    let mut stack = TestStack::start(2, &[]);
    stack.wait_for_line("ready at", START_DEADLINE).await;
    let mut pids = vec![stack.pid_of("proxy").await];
    for name in ["app-1", "app-2"] {
        pids.push(stack.pid_of(name).await);
    }

    // Both instances answer through the proxy, in turn.
    let http = client();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let response = http
            .get(format!("http://{}/api/datasets", stack.public))
            .send()
            .await
            .expect("request through the proxy");
        assert_eq!(response.status(), 200);
        if let Some(instance) = response.headers().get("x-instance") {
            seen.insert(instance.to_str().expect("ascii").to_owned());
        }
    }
    assert_eq!(seen.len(), 2, "both instances served: {seen:?}");

    stack.signal(Signal::SIGTERM);
    let status = stack
        .child
        .wait_exit(Duration::from_secs(40))
        .await
        .expect("the stack stops after SIGTERM");
    assert!(status.success(), "{}", stack.output());
    for pid in pids {
        assert!(!alive(pid), "process {pid} outlived the stack");
    }
}

#[tokio::test]
async fn a_killed_instance_is_restarted_and_readmitted() {
    let stack = TestStack::start(2, &[]);
    stack.wait_for_line("ready at", START_DEADLINE).await;
    let victim = stack.pid_of("app-1").await;

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(victim), Signal::SIGKILL)
        .expect("kill app-1");

    let line = stack.wait_for_line("app-1 restarted", START_DEADLINE).await;
    let replacement = pid_in(&line).expect("new pid");
    assert_ne!(replacement, victim);

    // The proxy's health checks readmit it: app-1 serves through the proxy again.
    let http = client();
    let public = stack.public;
    wait_until(
        "app-1 to serve through the proxy again",
        START_DEADLINE,
        || {
            let http = http.clone();
            async move {
                let response = http
                    .get(format!("http://{public}/api/datasets"))
                    .send()
                    .await
                    .ok()?;
                (response.headers().get("x-instance")?.to_str().ok()? == "app-1").then_some(())
            }
        },
    )
    .await
    .unwrap_or_else(|error| panic!("{error}\n{}", stack.output()));

    let status = http
        .get(format!("http://{}/status", stack.admin))
        .send()
        .await
        .expect("admin status");
    assert_eq!(status.status(), 200);
}

#[tokio::test]
async fn with_no_restart_a_dead_instance_stays_down() {
    let stack = TestStack::start(1, &["--no-restart"]);
    stack.wait_for_line("ready at", START_DEADLINE).await;
    let victim = stack.pid_of("app-1").await;

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(victim), Signal::SIGKILL)
        .expect("kill app-1");

    stack.wait_for_line("app-1 exited", START_DEADLINE).await;
    // With its only instance gone, the proxy answers 503 at once rather than hanging.
    let response = client()
        .get(format!("http://{}/api/datasets", stack.public))
        .send()
        .await
        .expect("the proxy answers");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(!stack.output().contains("app-1 restarted"));
}
