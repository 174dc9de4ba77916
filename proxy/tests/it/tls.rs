//! The HTTPS listener: rustls with a certificate from files, h2 by ALPN.

use crate::helpers::{Origin, Proxy, metric, scratch_dir, upstream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tls_listener_speaks_h2_by_alpn() {
    let origin = Origin::start("a").await;
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("self-signed cert");
    let dir = scratch_dir();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).expect("write cert");
    std::fs::write(&key, certified.key_pair.serialize_pem()).expect("write key");
    let port = shared::testing::free_port();
    let body = format!(
        "[[listeners]]\naddr = \"127.0.0.1:{port}\"\ntls = {{ cert_path = \"{}\", key_path = \"{}\" }}\n\n{}",
        cert.display(),
        key.display(),
        upstream("app", &[&origin])
    );
    let proxy = Proxy::start(&body).await;
    shared::testing::wait_for_tcp(
        ([127, 0, 0, 1], port).into(),
        shared::testing::READY_DEADLINE,
    )
    .await
    .expect("tls listener");

    let client = reqwest::Client::builder()
        .no_proxy()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client");
    let response = client
        .get(format!("https://localhost:{port}/echo"))
        .send()
        .await
        .expect("https request");

    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let echo: serde_json::Value = response.json().await.expect("echo");
    assert_eq!(echo["headers"]["x-forwarded-proto"][0], "https");

    let der = certified.cert.der();
    let (_, parsed) = x509_parser::parse_x509_certificate(der).expect("x509");
    let metrics = proxy.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "proxy_tls_certificate_expiry_timestamp_seconds",
            &[("domain", "localhost")]
        ),
        parsed.validity().not_after.timestamp() as f64,
        "a file certificate's expiry is exported: {metrics}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
