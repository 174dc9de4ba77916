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
            // Past the proxy's cache, so every request reaches an instance.
            .header("cache-control", "no-cache")
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
                    .header("cache-control", "no-cache")
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
        .header("cache-control", "no-cache")
        .send()
        .await
        .expect("the proxy answers");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert!(!stack.output().contains("app-1 restarted"));
}

#[tokio::test]
async fn the_proxy_caches_public_dataset_details_and_never_private_ones() {
    let stack = TestStack::start(2, &[]);
    stack.wait_for_line("ready at", START_DEADLINE).await;
    let http = client();
    let base = format!("http://{}", stack.public);

    let registered: serde_json::Value = http
        .post(format!("{base}/api/auth/register"))
        .json(&serde_json::json!({"email": "ada@example.org", "password": "correct horse battery"}))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("register body");
    let token = registered["token"].as_str().expect("token").to_owned();
    let mut ids = Vec::new();
    for visibility in ["public", "private"] {
        let created: serde_json::Value = http
            .post(format!(
                "{base}/api/datasets?name={visibility}&visibility={visibility}"
            ))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body("x,y\n1,2\n3,4\n")
            .send()
            .await
            .expect("upload")
            .json()
            .await
            .expect("dataset");
        ids.push(created["id"].as_str().expect("id").to_owned());
    }

    let x_cache = |response: &reqwest::Response| {
        response
            .headers()
            .get("x-cache")
            .map(|value| value.to_str().expect("ascii").to_owned())
    };
    let public = format!("{base}/api/datasets/{}", ids[0]);
    let first = http.get(&public).send().await.expect("first read");
    assert_eq!(first.status(), 200);
    assert_eq!(x_cache(&first).as_deref(), Some("MISS"));
    let second = http.get(&public).send().await.expect("second read");
    assert_eq!(second.status(), 200);
    assert_eq!(x_cache(&second).as_deref(), Some("HIT"));

    let private = format!("{base}/api/datasets/{}", ids[1]);
    for _ in 0..3 {
        let response = http
            .get(&private)
            .bearer_auth(&token)
            .send()
            .await
            .expect("private read");
        assert_eq!(response.status(), 200);
        assert_ne!(x_cache(&response).as_deref(), Some("HIT"));
    }
    // Nobody else is ever answered with the owner's private copy.
    let anonymous = http.get(&private).send().await.expect("anonymous read");
    assert_eq!(anonymous.status(), 404);
}

#[tokio::test]
async fn an_instance_that_keeps_failing_at_start_stops_the_stack_with_its_error() {
    // No directory can be made under /proc, so every instance fails the same way at start.
    let mut stack = TestStack::start(1, &["--database-url", "sqlite:///proc/flotilla/app.db"]);
    let status = stack
        .child
        .wait_exit(START_DEADLINE)
        .await
        .expect("the stack gives up by itself");

    assert!(!status.success());
    let output = stack.output();
    assert!(
        output.contains("app-1 failed at start 3 times in a row"),
        "{output}"
    );
    assert_eq!(
        output.matches("app-1 restarted").count(),
        2,
        "two restarts, then no more: {output}"
    );
}

#[tokio::test]
async fn health_checks_leave_no_access_lines_at_the_default_level() {
    let stack = TestStack::start(1, &[]);
    stack.wait_for_line("ready at", START_DEADLINE).await;
    let response = client()
        .get(format!("http://{}/api/datasets", stack.public))
        .header("cache-control", "no-cache")
        .send()
        .await
        .expect("request through the proxy");
    assert_eq!(response.status(), 200);
    // By the time this request's access line is out, the proxy has polled the instance's
    // `/healthz` at least once (it was admitted).
    stack.wait_for_line("/api/datasets", START_DEADLINE).await;

    let output = stack.output();
    let health_lines: Vec<&str> = output
        .lines()
        .filter(|line| line.contains("served") && line.contains("/healthz"))
        .collect();
    assert!(health_lines.is_empty(), "{health_lines:#?}");
}

#[tokio::test]
async fn cache_zero_runs_the_stack_without_a_response_cache() {
    let mut stack = TestStack::start(1, &["--cache", "0"]);
    stack.wait_for_line("ready at", START_DEADLINE).await;
    let http = client();
    for _ in 0..2 {
        let response = http
            .get(format!("http://{}/api/datasets", stack.public))
            .send()
            .await
            .expect("request through the proxy");
        assert_eq!(response.status(), 200);
        assert!(
            response.headers().get("x-cache").is_none(),
            "the cache answered: {:?}",
            response.headers().get("x-cache")
        );
    }
    stack.signal(Signal::SIGTERM);
    let _ = stack.child.wait_exit(Duration::from_secs(40)).await;
}
