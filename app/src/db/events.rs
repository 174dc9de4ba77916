//! The change log: one row per dataset created or deleted, written in the change's own
//! transaction, read by live streams after a sequence number.
//!
//! `seq` only grows, and a reader that has seen `seq = n` never later sees a new row with a
//! smaller one: SQLite serialises writers, and on Postgres [`record`] takes a table lock that
//! makes writers commit in `seq` order. An insert on Postgres also fires
//! `pg_notify('flotilla_events', seq)` from a trigger, delivered at commit.

use serde::Serialize;
use sqlx::AnyConnection;

use super::datasets::{Summary, Visibility};
use super::{Backend, Db, Error};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EventKind {
    /// A dataset was uploaded and analysed.
    #[serde(rename = "dataset.created")]
    DatasetCreated,
    /// A dataset was deleted by its owner.
    #[serde(rename = "dataset.deleted")]
    DatasetDeleted,
}

impl EventKind {
    /// The stored spelling, also the SSE event name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DatasetCreated => "dataset.created",
            Self::DatasetDeleted => "dataset.deleted",
        }
    }
}

/// A stored kind this build does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown event kind")]
pub struct UnknownKind;

impl TryFrom<String> for EventKind {
    type Error = UnknownKind;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        match text.as_str() {
            "dataset.created" => Ok(Self::DatasetCreated),
            "dataset.deleted" => Ok(Self::DatasetDeleted),
            _ => Err(UnknownKind),
        }
    }
}

/// One change, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Event {
    /// Strictly increasing; the SSE `id:` and the resume point.
    pub seq: i64,
    /// What happened.
    #[sqlx(try_from = "String")]
    pub kind: EventKind,
    /// The dataset concerned.
    pub dataset_id: String,
    /// Its owner, who alone may see events about a private dataset.
    pub owner_id: String,
    /// The dataset's visibility at the time.
    #[sqlx(try_from = "String")]
    pub visibility: Visibility,
    /// JSON text of the dataset summary, as the list shows it.
    pub payload: String,
    /// RFC 3339.
    pub created_at: String,
}

impl Event {
    /// Whether a stream for `viewer` (a user id, or anonymous) may carry this event.
    pub fn visible_to(&self, viewer: Option<&str>) -> bool {
        self.visibility == Visibility::Public || viewer == Some(self.owner_id.as_str())
    }
}

/// Up to `limit` events with `seq > after_seq`, oldest first.
///
/// # Errors
///
/// Database failures.
pub async fn since(db: &Db, after_seq: i64, limit: i64) -> Result<Vec<Event>, Error> {
    let query = sqlx::query_as(
        "SELECT seq, kind, dataset_id, owner_id, visibility, payload, created_at \
         FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after_seq)
    .bind(limit)
    .fetch_all(db.pool());
    db.guard(query).await
}

/// The newest `seq`, or 0 when there are no events: where a fresh stream starts.
///
/// # Errors
///
/// Database failures.
pub async fn last_seq(db: &Db) -> Result<i64, Error> {
    let query = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events").fetch_one(db.pool());
    db.guard(query).await
}

/// Appends an event inside the caller's transaction and returns its `seq`.
pub(crate) async fn record(
    conn: &mut AnyConnection,
    backend: Backend,
    kind: EventKind,
    summary: &Summary,
) -> Result<i64, sqlx::Error> {
    if backend == Backend::Postgres {
        // Serialises event writers until commit, so seq order is commit order and a reader
        // never skips a smaller seq that commits late. Readers are not blocked.
        sqlx::query("LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *conn)
            .await?;
    }
    let payload =
        serde_json::to_string(summary).map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
    sqlx::query_scalar(
        "INSERT INTO events (kind, dataset_id, owner_id, visibility, payload, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
    )
    .bind(kind.as_str())
    .bind(&summary.id)
    .bind(&summary.owner_id)
    .bind(summary.visibility.as_str())
    .bind(payload)
    .bind(super::now_text())
    .fetch_one(&mut *conn)
    .await
}
