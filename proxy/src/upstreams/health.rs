//! The background task: one active-check loop per member, each on its own timer and in
//! parallel, plus DNS refresh; reconciled whenever membership changes.
//!
//! The probe is a minimal HTTP/1.1 client on a fresh TCP connection (`Connection: close`),
//! so a check measures what a new proxied connection would meet. Its timeout covers connect
//! and the response head: a backend that accepts but never answers fails by timeout.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Upstream;
use super::backend::{Backend, HealthChange};
use super::discovery;
use crate::config::upstream::{DnsConfig, HealthConfig};

/// The most of a response head read before giving up on it.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Runs checks and DNS refresh for `upstream` until `shutdown`.
pub(super) async fn supervise(upstream: Arc<Upstream>, shutdown: CancellationToken) {
    let mut checks: HashMap<SocketAddr, CancellationToken> = HashMap::new();
    let mut tasks = JoinSet::new();
    let mut resolved_for: Option<DnsConfig> = upstream.config().dns.clone();
    let mut next_lookup = Instant::now();
    loop {
        reconcile(&upstream, &mut checks, &mut tasks, &shutdown);
        let dns = upstream.config().dns.clone();
        if dns != resolved_for {
            // A reload pointed the group at another name: resolve it now.
            next_lookup = Instant::now();
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = upstream.changed.notified() => {}
            () = tokio::time::sleep_until(next_lookup), if dns.is_some() => {
                if let Some(dns) = dns {
                    let answer = discovery::resolve(&dns).await;
                    upstream.apply_discovery(&dns, answer);
                    next_lookup = Instant::now() + Duration::from_millis(dns.refresh_interval_ms);
                    resolved_for = Some(dns);
                }
            }
        }
    }
    for token in checks.values() {
        token.cancel();
    }
    tasks.shutdown().await;
}

/// Starts a check loop for every new member and stops those of removed ones.
fn reconcile(
    upstream: &Arc<Upstream>,
    checks: &mut HashMap<SocketAddr, CancellationToken>,
    tasks: &mut JoinSet<()>,
    shutdown: &CancellationToken,
) {
    while tasks.try_join_next().is_some() {}
    let members = upstream.members.load();
    checks.retain(|addr, token| {
        let keep = members.backends.iter().any(|b| b.addr == *addr);
        if !keep {
            token.cancel();
        }
        keep
    });
    for backend in &members.backends {
        if checks.contains_key(&backend.addr) {
            continue;
        }
        let token = shutdown.child_token();
        checks.insert(backend.addr, token.clone());
        tasks.spawn(check_loop(upstream.clone(), backend.clone(), token));
    }
}

/// Checks one member every `interval_ms` (start to start) until cancelled, reading the
/// health settings afresh each round so a reload applies without a restart.
async fn check_loop(upstream: Arc<Upstream>, backend: Arc<Backend>, cancel: CancellationToken) {
    loop {
        let config = upstream.config();
        let health = &config.health;
        let started = Instant::now();
        if health.enabled {
            let result = tokio::select! {
                () = cancel.cancelled() => return,
                result = probe(backend.addr, health) => result,
            };
            let change = backend.record_check(result, health.rise, health.fall, started.into_std());
            match change {
                Some(HealthChange::Down(reason)) => tracing::info!(
                    upstream = %upstream.name, backend = %backend.addr, %reason, "backend down"),
                Some(HealthChange::Up) => tracing::info!(
                    upstream = %upstream.name, backend = %backend.addr,
                    reason = "checks passed", "backend up"),
                None => {}
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep_until(started + health.interval()) => {}
        }
    }
}

/// One check: `GET path` within `timeout_ms`, passing on an expected status.
pub(crate) async fn probe(addr: SocketAddr, health: &HealthConfig) -> Result<(), String> {
    let status = match tokio::time::timeout(health.timeout(), exchange(addr, &health.path)).await {
        Ok(result) => result?,
        Err(_) => return Err(format!("no response within {} ms", health.timeout_ms)),
    };
    let expected = health.expected_status.codes();
    if expected.contains(&status) {
        Ok(())
    } else {
        Err(format!("status {status}, expected {expected:?}"))
    }
}

/// Sends the request and reads up to the end of the response head; returns the status.
async fn exchange(addr: SocketAddr, path: &str) -> Result<u16, String> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         User-Agent: flotilla-health\r\nAccept: */*\r\n\r\n"
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
fn parse_status(head: &[u8]) -> Option<u16> {
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
mod tests;
