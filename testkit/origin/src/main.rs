//! `proxy-test-origin`: a tiny origin server for the proxy's integration tests, run as a
//! separate process so a test can SIGKILL or SIGSTOP a real backend.
//!
//! Usage: `proxy-test-origin --listen 127.0.0.1:PORT --id NAME [--log FILE]`. Every
//! response carries `X-Instance: NAME`. With `--log`, each counted request appends a line
//! `METHOD X-Request-Id` to FILE as it arrives, which survives a SIGKILL. Endpoints:
//! - `/healthz`: 200 `ok`;
//! - `/__stats`: JSON `{"requests": {METHOD: count}, "connections": N}`: every other
//!   request, and every connection accepted (health checks' included), so a benchmark can
//!   tell how often a proxy opens a new upstream connection;
//! - `/echo`: JSON `{instance, method, path, headers}`;
//! - `/sse`: an event stream: `first` at once, `second` after 2 s, then the end;
//! - `/ws`: a WebSocket that echoes every message;
//! - `/hang`: never answers;
//! - `/slow`: answers after 50 ms, so a kill can land while a request is in progress;
//! - `/metrics`: the app-style metrics endpoint the proxy must not expose;
//! - `/cache/...`: a response shaped by its query: `cc` (Cache-Control), `etag`, `lm`
//!   (Last-Modified), `vary`, `expires`, `cdn` (CDN-Cache-Control), `fcc`
//!   (Flotilla-Cache-Control), `edge` (Edge-Control), `cookie=1` (Set-Cookie), `size` (body bytes
//!   beyond the header line), `delay_ms`, `status`, `show` (request header names, comma
//!   separated, whose values the body's first line ends with as `name=value`); a matching
//!   `If-None-Match` gets a 304. The body starts `PATH #N AUTHORIZATION` where N counts
//!   requests to that path (in `/__stats` as `paths`), so a test can tell which origin
//!   response it was served;
//! - `POST /__fail`: from now on `/cache/...` answers 500 (an origin that is up but failing);
//! - `POST /__drain`: from now on every response carries the app's draining header, as an
//!   app instance does after SIGTERM;
//! - `POST /__slow?ms=N`: from now on every other response, `/healthz` included, waits N ms
//!   first (an origin that is up but slow; `ms=0` undoes it);
//! - anything else: 200 with the instance name and the request body's length.
//!
//! With `--drain-ms N`, SIGTERM drains as an app instance does: every response from then on
//! carries the draining header, and the process exits N ms later.
//!
//! With `--keep-alive-ms N` it is instead a bare HTTP/1.1 server that answers every request
//! 200 with its instance name and closes a keep-alive connection N ms after its last
//! response unless a new request has begun, as Node (5 s) and uvicorn (5 s) do;
//! `--keep-alive-header` also advertises it as `Keep-Alive: timeout=S`, as Node does;
//! `--late-close` closes such a connection only when its next request arrives, so the
//! request and the close always cross (the race a backend's timer makes now and then).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};

mod control;
mod keep_alive;

#[derive(Clone)]
struct Origin {
    id: String,
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    paths: Arc<Mutex<BTreeMap<String, u64>>>,
    failing: Arc<std::sync::atomic::AtomicBool>,
    draining: Arc<std::sync::atomic::AtomicBool>,
    delay_ms: Arc<std::sync::atomic::AtomicU64>,
    connections: Arc<std::sync::atomic::AtomicU64>,
    log: Option<Arc<Mutex<std::fs::File>>>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let Some(listen) = value("--listen") else {
        eprintln!("usage: proxy-test-origin --listen ADDR --id NAME");
        std::process::exit(2);
    };
    let origin = Origin {
        id: value("--id").unwrap_or_else(|| listen.clone()),
        counts: Arc::default(),
        paths: Arc::default(),
        failing: Arc::default(),
        draining: Arc::default(),
        delay_ms: Arc::default(),
        connections: Arc::default(),
        log: value("--log").map(|path| {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap_or_else(|error| {
                    eprintln!("cannot open {path}: {error}");
                    std::process::exit(1);
                });
            Arc::new(Mutex::new(file))
        }),
    };
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/__stats", get(stats))
        .route("/echo", any(echo))
        .route("/sse", get(sse))
        .route("/ws", get(ws))
        .route("/hang", any(hang))
        .route("/slow", any(slow))
        .route("/cache/{*rest}", any(cacheable))
        .route("/__fail", axum::routing::post(fail))
        .route("/__drain", axum::routing::post(drain))
        .route("/__slow", axum::routing::post(control::slow_down))
        .route("/metrics", get(|| async { "app_secret_metric 1\n" }))
        .fallback(any(plain))
        .layer(middleware::from_fn_with_state(
            origin.clone(),
            count_and_tag,
        ))
        .with_state(origin.clone());
    let origin_state = origin;
    let accepted = origin_state.connections.clone();
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {listen}: {error}");
            std::process::exit(1);
        }
    };
    if let Some(idle_ms) = value("--keep-alive-ms").and_then(|v| v.parse::<u64>().ok()) {
        let advertise = args.iter().any(|a| a == "--keep-alive-header");
        let late_close = args.iter().any(|a| a == "--late-close");
        let id = value("--id").unwrap_or_else(|| listen.clone());
        let idle = Duration::from_millis(idle_ms);
        keep_alive::serve(listener, id, idle, advertise, late_close).await;
        return;
    }
    if let Some(drain_ms) = value("--drain-ms").and_then(|v| v.parse::<u64>().ok()) {
        tokio::spawn(control::drain_on_sigterm(
            origin_state,
            Duration::from_millis(drain_ms),
        ));
    }
    let listener = axum::serve::ListenerExt::tap_io(listener, move |_| {
        accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    let _ = axum::serve(listener, app).await;
}

async fn count_and_tag(State(origin): State<Origin>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path != "/healthz" && path != "/__stats" {
        if let Ok(mut counts) = origin.counts.lock() {
            *counts.entry(request.method().to_string()).or_default() += 1;
        }
        if let Some(Ok(mut file)) = origin.log.as_ref().map(|log| log.lock()) {
            let id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            // One write per line: in the kernel before the handler runs, so a SIGKILL
            // cannot lose a request the backend received.
            let _ = std::io::Write::write_all(
                &mut *file,
                format!("{} {id}\n", request.method()).as_bytes(),
            );
        }
    }
    let delay = origin.delay_ms.load(std::sync::atomic::Ordering::Relaxed);
    if delay > 0 && path != "/__stats" && path != "/__slow" {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&origin.id) {
        response.headers_mut().insert("x-instance", value);
    }
    if origin.draining.load(std::sync::atomic::Ordering::Relaxed) {
        response.headers_mut().insert(
            shared::shutdown::DRAINING_HEADER,
            HeaderValue::from_static("1"),
        );
    }
    response
}

async fn stats(State(origin): State<Origin>) -> Response {
    let counts = origin.counts.lock().map(|c| c.clone()).unwrap_or_default();
    let paths = origin.paths.lock().map(|c| c.clone()).unwrap_or_default();
    let connections = origin
        .connections
        .load(std::sync::atomic::Ordering::Relaxed);
    axum::Json(
        serde_json::json!({ "requests": counts, "paths": paths, "connections": connections }),
    )
    .into_response()
}

async fn echo(
    State(origin): State<Origin>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let headers: BTreeMap<String, Vec<String>> = headers
        .keys()
        .map(|name| {
            let values = headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            (name.to_string(), values)
        })
        .collect();
    axum::Json(serde_json::json!({
        "instance": origin.id,
        "method": method.as_str(),
        "path": uri.path(),
        "headers": headers,
    }))
    .into_response()
}

async fn sse() -> Response {
    let events = futures::stream::unfold(0u8, |step| async move {
        match step {
            0 => Some((
                Ok::<_, Infallible>(Bytes::from("event: first\ndata: 1\n\n")),
                1,
            )),
            1 => {
                tokio::time::sleep(Duration::from_secs(2)).await;
                Some((Ok(Bytes::from("event: second\ndata: 2\n\n")), 2))
            }
            _ => None,
        }
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(events))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn ws(upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(|mut socket: WebSocket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            let reply = match message {
                Message::Text(text) => Message::Text(text),
                Message::Binary(bytes) => Message::Binary(bytes),
                Message::Close(_) => break,
                _ => continue,
            };
            if socket.send(reply).await.is_err() {
                break;
            }
        }
    })
}

async fn hang() -> Response {
    tokio::time::sleep(Duration::from_secs(3600)).await;
    StatusCode::GATEWAY_TIMEOUT.into_response()
}

async fn slow(state: State<Origin>, body: Bytes) -> Response {
    tokio::time::sleep(Duration::from_millis(50)).await;
    plain(state, body).await
}

async fn plain(State(origin): State<Origin>, body: Bytes) -> Response {
    format!("{} {}\n", origin.id, body.len()).into_response()
}

async fn cacheable(State(origin): State<Origin>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_owned();
    let seen = match origin.paths.lock() {
        Ok(mut paths) => {
            let count = paths.entry(path.clone()).or_default();
            *count += 1;
            *count
        }
        Err(_) => 0,
    };
    let query: BTreeMap<String, String> = uri
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k.to_owned(), percent_decode(v)))
                .collect()
        })
        .unwrap_or_default();
    let get = |name: &str| query.get(name).map(String::as_str);
    if origin.failing.load(std::sync::atomic::Ordering::Relaxed) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "failing\n").into_response();
    }
    if let Some(delay) = get("delay_ms").and_then(|d| d.parse::<u64>().ok()) {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let mut response = Response::builder();
    for (name, key) in [
        ("cache-control", "cc"),
        ("etag", "etag"),
        ("last-modified", "lm"),
        ("vary", "vary"),
        ("expires", "expires"),
        ("cdn-cache-control", "cdn"),
        ("flotilla-cache-control", "fcc"),
        ("edge-control", "edge"),
    ] {
        if let Some(value) = get(key) {
            response = response.header(name, value);
        }
    }
    if get("cookie") == Some("1") {
        response = response.header("set-cookie", format!("session={seen}"));
    }
    let matches = match (get("etag"), headers.get("if-none-match")) {
        (Some(etag), Some(asked)) => asked.to_str().is_ok_and(|a| a.contains(etag)),
        _ => false,
    };
    let status = if matches {
        StatusCode::NOT_MODIFIED
    } else {
        get("status")
            .and_then(|s| s.parse::<u16>().ok())
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::OK)
    };
    let size = get("size")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(0);
    let body = if matches {
        String::new()
    } else {
        let user = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        let shown: String = get("show")
            .unwrap_or_default()
            .split(',')
            .filter(|name| !name.is_empty())
            .map(|name| {
                let value = headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                format!(" {name}={value}")
            })
            .collect();
        format!("{path} #{seen} {user}{shown}\n{}", "x".repeat(size))
    };
    response
        .status(status)
        .body(Body::from(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `%XX` escapes and `+`, enough for test queries.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        index += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            other => out.push(other),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn fail(State(origin): State<Origin>) -> StatusCode {
    origin
        .failing
        .store(true, std::sync::atomic::Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

async fn drain(State(origin): State<Origin>) -> StatusCode {
    origin
        .draining
        .store(true, std::sync::atomic::Ordering::Relaxed);
    StatusCode::NO_CONTENT
}
