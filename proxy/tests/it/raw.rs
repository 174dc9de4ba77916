//! Raw HTTP/1.1 over TCP, for clients no library would be: trickling heads, stalling
//! bodies, claiming upgrades, or holding thousands of idle connections.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A connection to `addr` from the loopback address `from` (e.g. 127.0.0.2), so the proxy
/// sees another client.
pub(crate) async fn connect_from(from: IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    tokio::time::timeout(Duration::from_secs(5), socket.connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))?
}

/// A response as read off the wire.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: Vec<u8>,
}

/// Reads one response (head, then a `Content-Length` body) within `deadline`; `None` when
/// the connection closed or the deadline passed first.
pub(crate) async fn read_response(
    stream: &mut TcpStream,
    deadline: Duration,
) -> Option<RawResponse> {
    let until = Instant::now() + deadline;
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let mut chunk = [0u8; 4096];
        let left = until.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return None,
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        let left = until.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => body.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    Some(RawResponse { status, head, body })
}

/// Waits up to `deadline` for the peer to close the connection (EOF or reset); true if
/// it did. Bytes that arrive meanwhile are discarded.
pub(crate) async fn closed_within(stream: &mut TcpStream, deadline: Duration) -> bool {
    let until = Instant::now() + deadline;
    loop {
        let Some(left) = until.checked_duration_since(Instant::now()) else {
            return false;
        };
        let mut chunk = [0u8; 1024];
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

/// Sends `GET path` and reads the answer.
pub(crate) async fn get(stream: &mut TcpStream, path: &str) -> Option<RawResponse> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: app.test\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    read_response(stream, Duration::from_secs(5)).await
}
