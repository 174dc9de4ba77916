//! The one HTTP status probe: `GET path` over a fresh HTTP/1.1 connection
//! (`Connection: close`), read to the end of the response head, and its status code.
//!
//! The proxy's active health checks, the stack's readiness wait and the test harness all
//! ask the same question ("what does this address answer to `GET path`?"), so they share
//! this answer. It depends on no HTTP client library, measures what a new connection would
//! meet, and bounds what it reads. Callers put their own timeout around it.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most of a response head read before giving up on it.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The status `addr` answers to `GET path`, or what went wrong, in words
/// (`connect: …`, `send: …`, `read: …`, `connection closed before a response`,
/// `response head too large`, `malformed response`).
///
/// # Errors
///
/// When the exchange fails at any step, or the answer is not an HTTP/1.x response.
pub async fn status(addr: SocketAddr, path: &str) -> Result<u16, String> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         User-Agent: flotilla-probe\r\nAccept: */*\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if read == 0 {
            if head.is_empty() {
                return Err("connection closed before a response".to_owned());
            }
            break;
        }
        head.extend_from_slice(&chunk[..read]);
        if head.len() > MAX_HEAD_BYTES {
            return Err("response head too large".to_owned());
        }
    }
    parse_status(&head).ok_or_else(|| "malformed response".to_owned())
}

/// The status code of an `HTTP/1.x NNN reason` status line.
pub fn parse_status(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_ascii_whitespace();
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_is_parsed() {
        assert_eq!(parse_status(b"HTTP/1.1 204 No Content\r\n\r\n"), Some(204));
        assert_eq!(parse_status(b"HTTP/1.0 500\r\n\r\n"), Some(500));
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status(b"HTTP/1.1 20 OK\r\n"), None);
    }

    #[tokio::test]
    async fn a_refused_connection_says_connect() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let error = status(addr, "/").await.expect_err("refused");
        assert!(error.starts_with("connect:"), "{error}");
    }
}
