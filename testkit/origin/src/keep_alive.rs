//! The `--keep-alive-ms` mode: a bare HTTP/1.1 server whose idle keep-alive connections
//! close on a timer, so tests can make the proxy race a backend's close.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The most of one request (head and body) read.
const MAX_REQUEST_BYTES: usize = 1 << 20;

/// Serves until the process ends.
pub(super) async fn serve(
    listener: TcpListener,
    id: String,
    idle: Duration,
    advertise: bool,
    late_close: bool,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let id = id.clone();
        tokio::spawn(async move {
            let _ = connection(stream, &id, idle, advertise, late_close).await;
        });
    }
}

async fn connection(
    mut stream: TcpStream,
    id: &str,
    idle: Duration,
    advertise: bool,
    late_close: bool,
) -> std::io::Result<()> {
    let mut buffer = Vec::with_capacity(4096);
    loop {
        // Idle: the next request's first byte must come within `idle`, else close. With
        // `late_close` the close happens only when that byte arrives: the close and the
        // request cross, which is the race a timer close makes now and then, made certain.
        let idle_since = std::time::Instant::now();
        while buffer.is_empty() {
            let mut chunk = [0u8; 4096];
            let read = if late_close {
                stream.read(&mut chunk).await
            } else {
                match tokio::time::timeout(idle, stream.read(&mut chunk)).await {
                    Ok(read) => read,
                    Err(_) => return Ok(()),
                }
            };
            match read {
                Ok(0) => return Ok(()),
                Ok(_) if late_close && idle_since.elapsed() >= idle => return Ok(()),
                Ok(read) => buffer.extend_from_slice(&chunk[..read]),
                Err(error) => return Err(error),
            }
        }
        let (head_len, body_len) = loop {
            if let Some(found) = parse(&buffer) {
                break found;
            }
            if buffer.len() > MAX_REQUEST_BYTES {
                return Ok(());
            }
            let mut chunk = [0u8; 4096];
            let read = stream.read(&mut chunk).await?;
            if read == 0 {
                return Ok(());
            }
            buffer.extend_from_slice(&chunk[..read]);
        };
        while buffer.len() < head_len + body_len {
            let mut chunk = [0u8; 4096];
            let read = stream.read(&mut chunk).await?;
            if read == 0 {
                return Ok(());
            }
            buffer.extend_from_slice(&chunk[..read]);
        }
        buffer.drain(..head_len + body_len);
        let body = format!("{id} {body_len}\n");
        let keep_alive = if advertise {
            format!("Keep-Alive: timeout={}\r\n", idle.as_secs().max(1))
        } else {
            String::new()
        };
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Instance: {id}\r\n{keep_alive}\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).await?;
    }
}

/// The head's length and the declared body length, once the head is complete.
fn parse(buffer: &[u8]) -> Option<(usize, usize)> {
    let end = buffer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buffer[..end]).ok()?;
    let body = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0);
    Some((end, body))
}
