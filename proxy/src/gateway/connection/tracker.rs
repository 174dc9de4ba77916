//! Who is connected: every open client connection's [`ConnState`], found by the gateway
//! from the request's client address, and the counts that `limits.max_connections` and
//! `limits.max_connections_per_ip` are held to.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::time::Duration;

use futures::task::AtomicWaker;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::Limits;

/// Where a connection is in its life, for the deadline that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// A request head is on its way: `timeouts.client_header_ms` from its first byte (the
    /// first head: from the accept).
    Head,
    /// A request is in progress; its own timeouts apply.
    Request,
    /// Between requests on a keep-alive connection: `timeouts.client_idle_ms`.
    Idle,
}

impl Phase {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Head,
            1 => Self::Request,
            _ => Self::Idle,
        }
    }
}

/// One client connection, shared by its watchdog ([`super::Front`]), its stream
/// ([`super::stream::Watched`]) and the requests on it.
#[derive(Debug)]
pub struct ConnState {
    /// The moment `since_ms` counts from.
    epoch: Instant,
    phase: AtomicU8,
    /// When the phase began, in milliseconds after `epoch`.
    since_ms: AtomicU64,
    /// An HTTP/2 connection carries concurrent requests, so it has no single phase after
    /// its first request; Pingora's own HTTP/2 handling applies then.
    multiplexed: AtomicBool,
    /// Wakes the watchdog when the phase changes.
    pub(super) changed: Notify,
    /// A deadline for the stream's reads, in milliseconds after `epoch` (0: none).
    read_deadline_ms: AtomicU64,
    /// Whether a read failed because the deadline passed.
    deadline_hit: AtomicBool,
    /// The task blocked in a read, woken when a deadline is armed.
    reader: AtomicWaker,
}

impl ConnState {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            phase: AtomicU8::new(Phase::Head as u8),
            since_ms: AtomicU64::new(0),
            multiplexed: AtomicBool::new(false),
            changed: Notify::new(),
            read_deadline_ms: AtomicU64::new(0),
            deadline_hit: AtomicBool::new(false),
            reader: AtomicWaker::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn set_phase(&self, phase: Phase) {
        self.since_ms.store(self.now_ms(), Ordering::Release);
        self.phase.store(phase as u8, Ordering::Release);
        self.changed.notify_one();
    }

    /// The phase and when it began.
    pub(super) fn phase(&self) -> (Phase, Instant) {
        let phase = Phase::from_u8(self.phase.load(Ordering::Acquire));
        let since = self.epoch + Duration::from_millis(self.since_ms.load(Ordering::Acquire));
        (phase, since)
    }

    pub(super) fn set_multiplexed(&self) {
        self.multiplexed.store(true, Ordering::Release);
    }

    /// A request head arrived whole; the header deadline no longer applies.
    pub(crate) fn request_started(&self) {
        self.set_phase(Phase::Request);
    }

    /// The request is over; the connection idles until the next head's first byte.
    pub(crate) fn request_finished(&self) {
        self.disarm_read_deadline();
        if !self.multiplexed.load(Ordering::Acquire) {
            self.set_phase(Phase::Idle);
        }
    }

    /// Bytes came in: on an idle connection, the next head has begun.
    pub(super) fn bytes_arrived(&self) {
        if self.phase.load(Ordering::Acquire) == Phase::Idle as u8 {
            self.set_phase(Phase::Head);
        }
    }

    /// Fails the connection's reads once `after` has passed (unless disarmed first).
    pub(crate) fn arm_read_deadline(&self, after: Duration) {
        let at = self
            .now_ms()
            .saturating_add(u64::try_from(after.as_millis()).unwrap_or(u64::MAX))
            .max(1);
        self.read_deadline_ms.store(at, Ordering::Release);
        self.reader.wake();
    }

    /// Lifts the read deadline.
    pub(crate) fn disarm_read_deadline(&self) {
        self.read_deadline_ms.store(0, Ordering::Release);
    }

    pub(super) fn read_deadline(&self) -> Option<Instant> {
        match self.read_deadline_ms.load(Ordering::Acquire) {
            0 => None,
            ms => Some(self.epoch + Duration::from_millis(ms)),
        }
    }

    pub(super) fn register_reader(&self, waker: &Waker) {
        self.reader.register(waker);
    }

    pub(super) fn note_deadline_hit(&self) {
        self.deadline_hit.store(true, Ordering::Release);
    }

    /// Whether a read failed because the armed deadline passed (and forgets it).
    pub(crate) fn take_deadline_hit(&self) -> bool {
        self.deadline_hit.swap(false, Ordering::AcqRel)
    }
}

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// `limits.max_connections` were open.
    Total,
    /// `limits.max_connections_per_ip` were open from the client's address.
    PerIp,
}

impl Refusal {
    /// The `reason` label of `proxy_connections_rejected_total`.
    pub(super) fn label(self) -> &'static str {
        match self {
            Self::Total => "max_connections",
            Self::PerIp => "max_connections_per_ip",
        }
    }
}

#[derive(Debug, Default)]
struct Books {
    connections: HashMap<SocketAddr, Arc<ConnState>>,
    per_ip: HashMap<IpAddr, usize>,
}

/// Every open client connection of the public listeners; see the module docs.
#[derive(Debug, Default)]
pub struct ConnectionTracker {
    books: Mutex<Books>,
}

impl ConnectionTracker {
    fn books(&self) -> MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a slot for a new connection from `client`, or says which limit refuses it.
    pub(super) fn admit(
        &self,
        client: SocketAddr,
        limits: &Limits,
    ) -> Result<Admitted<'_>, Refusal> {
        let mut books = self.books();
        if books.connections.len() >= limits.max_connections {
            return Err(Refusal::Total);
        }
        let from_ip = books.per_ip.get(&client.ip()).copied().unwrap_or(0);
        if from_ip >= limits.max_connections_per_ip {
            return Err(Refusal::PerIp);
        }
        let state = Arc::new(ConnState::new());
        books.connections.insert(client, state.clone());
        books.per_ip.insert(client.ip(), from_ip + 1);
        Ok(Admitted {
            tracker: self,
            client,
            state,
        })
    }

    /// The connection a request from `client` arrived on.
    pub(crate) fn connection(&self, client: SocketAddr) -> Option<Arc<ConnState>> {
        self.books().connections.get(&client).cloned()
    }

    fn release(&self, client: SocketAddr) {
        let mut books = self.books();
        books.connections.remove(&client);
        if let Some(count) = books.per_ip.get_mut(&client.ip()) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                books.per_ip.remove(&client.ip());
            }
        }
    }
}

/// A connection's slot; given back when the connection ends, however it ends.
#[derive(Debug)]
pub(super) struct Admitted<'a> {
    tracker: &'a ConnectionTracker,
    client: SocketAddr,
    pub(super) state: Arc<ConnState>,
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.tracker.release(self.client);
    }
}
