//! Live events: every change is a row in `events`; this module tells each open stream on
//! this instance when there is something new to read.
//!
//! One tailer per instance learns the newest committed `seq`: on Postgres a `LISTEN` on
//! `flotilla_events` wakes it the moment a change commits on any instance (with a slow poll
//! as a safety net for a dropped listener connection); on SQLite it polls `MAX(seq)` every
//! [`SQLITE_POLL`]. It publishes that number on a `watch` channel.
//!
//! Each stream is a [`Subscription`] with its own cursor. When woken it reads the rows after
//! its cursor from the database, so a fresh stream, a resumed one (`Last-Event-ID`,
//! `?since=`) and a live one all take the same path, and nothing is lost or repeated: `seq`
//! order is commit order (see `db::events`). Events about a private dataset are passed only
//! to its owner's stream; the cursor moves past them for everyone else.
//!
//! Draining ends every subscription, so clients reconnect through the proxy to an instance
//! that is staying up, and resume from their last id.

use std::time::Duration;

use anyhow::Context;
use prometheus::IntGaugeVec;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::db::events::{self, Event};
use crate::db::{self, Backend, Db};

/// How often a SQLite instance looks for rows written by other instances.
pub const SQLITE_POLL: Duration = Duration::from_millis(200);
/// How often a Postgres instance re-reads `MAX(seq)` in case a notification was missed.
const POSTGRES_SAFETY_POLL: Duration = Duration::from_secs(2);
/// The Postgres channel the `events` insert trigger notifies.
const CHANNEL: &str = "flotilla_events";
/// Rows read per database round trip.
const BATCH: i64 = 200;

/// How a live client is connected, for the `app_live_clients{transport}` gauge.
#[derive(Debug, Clone, Copy)]
pub enum Transport {
    /// `GET /api/events`.
    Sse,
    /// `GET /api/ws`.
    WebSocket,
    /// `GET /api/events/poll`, while it waits.
    Poll,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Self::Sse => "sse",
            Self::WebSocket => "websocket",
            Self::Poll => "poll",
        }
    }
}

/// The per-instance source of "something new was committed". Cheap to clone.
#[derive(Debug, Clone)]
pub struct Hub {
    db: Db,
    latest: watch::Receiver<i64>,
    draining: CancellationToken,
    live_clients: IntGaugeVec,
}

impl Hub {
    /// Reads the current newest `seq` and starts the tailer, which runs until `draining`.
    ///
    /// # Errors
    ///
    /// When the database cannot be read, or on Postgres the listener cannot connect.
    pub async fn start(
        db: Db,
        database_url: &str,
        draining: CancellationToken,
        live_clients: IntGaugeVec,
    ) -> anyhow::Result<Self> {
        let first = events::last_seq(&db)
            .await
            .context("reading the newest event")?;
        let (sender, latest) = watch::channel(first);
        match db.backend() {
            Backend::Postgres => {
                let mut listener = sqlx::postgres::PgListener::connect(database_url)
                    .await
                    .context("connecting the Postgres event listener")?;
                listener
                    .listen(CHANNEL)
                    .await
                    .context("listening for Postgres event notifications")?;
                tokio::spawn(tail_postgres(
                    db.clone(),
                    listener,
                    sender,
                    draining.clone(),
                ));
            }
            Backend::Sqlite => {
                tokio::spawn(tail_sqlite(db.clone(), sender, draining.clone()));
            }
        }
        Ok(Self {
            db,
            latest,
            draining,
            live_clients,
        })
    }

    /// The newest committed `seq` this instance knows of: where a fresh stream starts.
    pub fn latest(&self) -> i64 {
        *self.latest.borrow()
    }

    /// A stream of the events after `after` that `viewer` may see.
    pub fn subscribe(
        &self,
        viewer: Option<String>,
        after: i64,
        transport: Transport,
    ) -> Subscription {
        let gauge = self.live_clients.with_label_values(&[transport.label()]);
        gauge.inc();
        Subscription {
            db: self.db.clone(),
            viewer,
            cursor: after,
            latest: self.latest.clone(),
            draining: self.draining.clone(),
            _live: LiveClient(gauge),
        }
    }
}

/// Keeps `app_live_clients` true: counted while the subscription exists.
#[derive(Debug)]
struct LiveClient(prometheus::IntGauge);

impl Drop for LiveClient {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// One stream's position in the event log.
#[derive(Debug)]
pub struct Subscription {
    db: Db,
    viewer: Option<String>,
    cursor: i64,
    latest: watch::Receiver<i64>,
    draining: CancellationToken,
    _live: LiveClient,
}

impl Subscription {
    /// The next events this viewer may see, in order, waiting until there are some.
    /// `None` when the instance starts draining: the stream should end. While the database
    /// is known to be down it waits rather than fail, so streams outlive an outage.
    ///
    /// Cancel-safe: the cursor only moves after a read has returned.
    pub async fn next_batch(&mut self) -> Option<Result<Vec<Event>, db::Error>> {
        loop {
            if self.draining.is_cancelled() {
                return None;
            }
            let latest = *self.latest.borrow_and_update();
            if latest > self.cursor {
                let batch = match events::since(&self.db, self.cursor, BATCH).await {
                    Ok(batch) => batch,
                    // This instance has not seen the database come back yet (another one
                    // committed the event): keep the stream and read after the next probe.
                    Err(db::Error::Down(open)) => {
                        tokio::select! {
                            () = tokio::time::sleep(open.retry_after) => continue,
                            () = self.draining.cancelled() => return None,
                        }
                    }
                    Err(error) => return Some(Err(error)),
                };
                if let Some(last) = batch.last() {
                    self.cursor = last.seq;
                    let visible: Vec<Event> = batch
                        .into_iter()
                        .filter(|event| event.visible_to(self.viewer.as_deref()))
                        .collect();
                    if !visible.is_empty() {
                        return Some(Ok(visible));
                    }
                    continue;
                }
            }
            tokio::select! {
                changed = self.latest.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                () = self.draining.cancelled() => return None,
            }
        }
    }

    /// The `seq` of the last event read (visible or not).
    pub fn cursor(&self) -> i64 {
        self.cursor
    }
}

/// The JSON every transport sends for one event:
/// `{"seq":N,"kind":"dataset.created","dataset":{…summary…}}`.
pub fn event_json(event: &Event) -> String {
    // `payload` is JSON the app wrote itself (a serialised summary), so it is embedded as is.
    format!(
        r#"{{"seq":{},"kind":"{}","dataset":{}}}"#,
        event.seq,
        event.kind.as_str(),
        event.payload
    )
}

async fn tail_sqlite(db: Db, sender: watch::Sender<i64>, draining: CancellationToken) {
    let mut tick = tokio::time::interval(SQLITE_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => publish_latest(&db, &sender).await,
            () = draining.cancelled() => return,
        }
    }
}

async fn tail_postgres(
    db: Db,
    mut listener: sqlx::postgres::PgListener,
    sender: watch::Sender<i64>,
    draining: CancellationToken,
) {
    let mut safety = tokio::time::interval(POSTGRES_SAFETY_POLL);
    safety.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            notification = listener.recv() => match notification {
                Ok(notification) => match notification.payload().parse::<i64>() {
                    Ok(seq) => raise(&sender, seq),
                    Err(_) => publish_latest(&db, &sender).await,
                },
                Err(error) => {
                    // The listener reconnects on the next recv; anything missed meanwhile is
                    // found by reading MAX(seq).
                    tracing::warn!(%error, "event listener lost its connection; reconnecting");
                    publish_latest(&db, &sender).await;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            },
            _ = safety.tick() => publish_latest(&db, &sender).await,
            () = draining.cancelled() => return,
        }
    }
}

async fn publish_latest(db: &Db, sender: &watch::Sender<i64>) {
    match events::last_seq(db).await {
        Ok(seq) => raise(sender, seq),
        // The breaker has said so once; the next tick tries again.
        Err(db::Error::Down(_)) => tracing::debug!("the database is down; will retry"),
        Err(error) => tracing::warn!(%error, "cannot read the newest event; will retry"),
    }
}

/// Publishes `seq` if it is newer than what streams already know.
fn raise(sender: &watch::Sender<i64>, seq: i64) {
    sender.send_if_modified(|latest| {
        if seq > *latest {
            *latest = seq;
            true
        } else {
            false
        }
    });
}
