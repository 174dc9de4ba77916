//! `--tls`: the stack serves HTTPS beside HTTP with a certificate for `localhost` from a
//! local CA it prints the path of, and keeps that CA across starts.

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::helpers::{START_DEADLINE, TempDir, TestStack, client};

/// Starts a one-instance stack with `--tls` over `data`, waits until it is ready, and
/// returns it with its HTTPS port and the CA file it printed.
async fn start(data: &TempDir) -> (TestStack, u16, PathBuf) {
    let port = shared::testing::free_port().to_string();
    let data_dir = data.0.display().to_string();
    let stack = TestStack::start(1, &["--tls", "--tls-port", &port, "--data-dir", &data_dir]);
    stack.wait_for_line("ready at", START_DEADLINE).await;
    let line = stack.wait_for_line("CA to trust: ", START_DEADLINE).await;
    let ca = line
        .split("CA to trust: ")
        .nth(1)
        .map(|path| PathBuf::from(path.trim()))
        .expect("a path");
    assert!(ca.is_absolute(), "{line}");
    let banner = stack.output();
    assert!(
        banner.contains(&format!("https://localhost:{port}")),
        "{banner}"
    );
    assert!(
        banner.contains(&format!(
            "curl --cacert {} https://localhost:{port}/",
            ca.display()
        )),
        "{banner}"
    );
    (stack, port.parse().expect("port"), ca)
}

/// A client that trusts only the CA in `ca` (and the public roots it always knows).
fn trusting(ca: &std::path::Path) -> reqwest::Client {
    let pem = std::fs::read(ca).expect("read the CA");
    reqwest::Client::builder()
        .no_proxy()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("a PEM certificate"))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

#[tokio::test]
async fn the_stack_serves_https_for_localhost_and_keeps_its_ca() {
    let data = TempDir::new();
    let (stack, port, ca) = start(&data).await;
    assert!(
        ca.starts_with(&data.0),
        "{} under the data directory",
        ca.display()
    );
    let ca_key = ca.with_file_name("ca-key.pem");
    let mode = std::fs::metadata(&ca_key)
        .expect("the CA key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "only its owner reads the CA key");

    let page = trusting(&ca)
        .get(format!("https://localhost:{port}/"))
        .send()
        .await
        .expect("the page over HTTPS, verified by name");
    assert_eq!(page.status(), 200);
    assert!(page.headers().contains_key("x-instance"));
    assert!(
        page.text().await.expect("body").contains("<html"),
        "the frontend"
    );

    let plain = client()
        .get(format!("http://{}/", stack.public))
        .send()
        .await
        .expect("the page over HTTP");
    assert_eq!(plain.status(), 200, "HTTP is still served, not redirected");

    let untrusted = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(format!("https://localhost:{port}/"))
        .send()
        .await;
    assert!(
        untrusted.is_err(),
        "a client without the CA refuses the certificate"
    );

    let first_ca = std::fs::read(&ca).expect("CA");
    drop(stack);

    let (again, port, ca_again) = start(&data).await;
    assert_eq!(ca_again, ca);
    assert_eq!(
        std::fs::read(&ca).expect("CA"),
        first_ca,
        "the second start reuses the CA a browser may already trust"
    );
    let page = trusting(&ca)
        .get(format!("https://localhost:{port}/"))
        .send()
        .await
        .expect("the page again");
    assert_eq!(page.status(), 200);
    drop(again);
}
