//! `pingora-floor --listen ADDR --backend ADDR [--backend ADDR ...] [--answer-bytes N]
//! [--threads N]`: a reverse proxy with nothing in it but what Pingora needs to forward a
//! request. Round robin over fixed backends, Pingora's keep-alive pool, one worker thread
//! (or N, for the two-thread scaling run), no health
//! checks, retries, headers, metrics or logs. Requests under `/cache/` are answered from
//! memory with a body of N bytes (1024), the least a cache hit can cost on Pingora.
//!
//! The benchmark runs it beside Flotilla so the report can say how much of Flotilla's CPU
//! per request is Pingora's and how much is Flotilla's own. Not a product: it has no
//! failure handling beyond Pingora's defaults.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::{HttpPeer, ProxyHttp, Result, Session};
use pingora::server::Server;
use pingora::server::configuration::ServerConf;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Floor {
    backends: Vec<SocketAddr>,
    next: AtomicUsize,
    /// The body every `/cache/` request gets.
    answer: Bytes,
}

#[async_trait]
impl ProxyHttp for Floor {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn request_filter(&self, session: &mut Session, _ctx: &mut ()) -> Result<bool> {
        if !session.req_header().uri.path().starts_with("/cache/") {
            return Ok(false);
        }
        let mut header = ResponseHeader::build(200, Some(2))?;
        header.insert_header("content-length", self.answer.len().to_string())?;
        header.insert_header("cache-control", "public, max-age=3600")?;
        session
            .write_response_header(Box::new(header), false)
            .await?;
        session
            .write_response_body(Some(self.answer.clone()), true)
            .await?;
        Ok(true)
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.backends.len();
        Ok(Box::new(HttpPeer::new(
            self.backends[index],
            false,
            String::new(),
        )))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let values = |flag: &str| -> Vec<&String> {
        args.windows(2)
            .filter(|pair| pair[0] == flag)
            .map(|pair| &pair[1])
            .collect()
    };
    let listen = values("--listen");
    let answer_bytes = match values("--answer-bytes").first().map(|n| n.parse::<usize>()) {
        None => 1024,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("pingora-floor: --answer-bytes takes a number of bytes");
            std::process::exit(2);
        }
    };
    let threads = match values("--threads").first().map(|n| n.parse::<usize>()) {
        None => 1,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("pingora-floor: --threads takes a number of worker threads, at least 1");
            std::process::exit(2);
        }
    };
    let backends: Result<Vec<SocketAddr>, _> =
        values("--backend").into_iter().map(|b| b.parse()).collect();
    let (Some(listen), Ok(backends)) = (listen.first(), backends) else {
        eprintln!(
            "usage: pingora-floor --listen ADDR --backend ADDR [--backend ADDR ...] \
             [--answer-bytes N] [--threads N]"
        );
        std::process::exit(2);
    };
    if backends.is_empty() {
        eprintln!("pingora-floor: at least one --backend is needed");
        std::process::exit(2);
    }
    let conf = ServerConf {
        threads,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let floor = Floor {
        backends,
        next: AtomicUsize::new(0),
        answer: Bytes::from(vec![b'x'; answer_bytes]),
    };
    let mut service = pingora::proxy::http_proxy_service(&server.configuration, floor);
    service.add_tcp(listen);
    server.add_service(service);
    server.run_forever();
}
