//! Header and body limits, and the slowloris cut.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Origin, Proxy, client, upstream};

async fn proxy_with_limits(origin: &Origin) -> Proxy {
    let body = format!(
        "[limits]\nmax_request_header_bytes = 2048\nmax_request_body_bytes = 1024\n\n\
         [timeouts]\nclient_header_ms = 500\n\n{}",
        upstream("app", &[origin])
    );
    Proxy::start(&body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_get_431() {
    let origin = Origin::start("a").await;
    let proxy = proxy_with_limits(&origin).await;
    let client = client();

    let small = client
        .get(proxy.url("/"))
        .header("x-pad", "p".repeat(500))
        .send()
        .await
        .expect("request");
    let large = client
        .get(proxy.url("/"))
        .header("x-pad", "p".repeat(4000))
        .send()
        .await
        .expect("request");

    assert_eq!(small.status(), 200);
    assert_eq!(large.status(), 431);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413_declared_or_streamed() {
    let origin = Origin::start("a").await;
    let proxy = proxy_with_limits(&origin).await;
    let client = client();

    let small = client
        .post(proxy.url("/upload"))
        .body(vec![b'x'; 1000])
        .send()
        .await
        .expect("request");
    let declared = client
        .post(proxy.url("/upload"))
        .body(vec![b'x'; 5000])
        .send()
        .await
        .expect("request");
    let chunks = futures::stream::iter((0..10).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 500])));
    let streamed = client
        .post(proxy.url("/upload"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("request");

    assert_eq!(small.status(), 200);
    assert_eq!(declared.status(), 413);
    assert_eq!(streamed.status(), 413);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_client_is_cut_off() {
    let origin = Origin::start("a").await;
    let proxy = proxy_with_limits(&origin).await;
    let mut stream = TcpStream::connect(proxy.addr).await.expect("connect");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");

    // Trickle a header byte every 100 ms, never finishing the head; each read() succeeds,
    // so only a whole-head deadline stops this.
    let started = Instant::now();
    let cut = loop {
        if started.elapsed() > Duration::from_secs(5) {
            break false;
        }
        if stream.write_all(b"X").await.is_err() {
            break true;
        }
        let mut buf = [0u8; 64];
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(_)) => break false,
            Err(_) => {}
        }
    };

    assert!(
        cut,
        "the connection stayed open for {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cut after {:?}",
        started.elapsed()
    );
}
