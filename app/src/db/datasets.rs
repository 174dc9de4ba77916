//! Datasets: a stored analysis with an owner and a visibility. Creating or deleting one also
//! records an event in the same transaction.

use serde::Serialize;

use super::events::{self, EventKind};
use super::{Db, Error};

/// Columns of [`Summary`], in one place for every query that returns it.
macro_rules! summary_columns {
    () => {
        "id, name, visibility, owner_id, row_count, column_count, size_bytes, created_at"
    };
}

/// Who may see a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Everyone, including anonymous readers and shared caches.
    Public,
    /// Only the owner.
    Private,
}

impl Visibility {
    /// The stored and serialised spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
        }
    }
}

/// A visibility string that is neither `public` nor `private`.
#[derive(Debug, thiserror::Error)]
#[error("visibility must be `public` or `private`")]
pub struct UnknownVisibility;

impl std::str::FromStr for Visibility {
    type Err = UnknownVisibility;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "public" => Ok(Self::Public),
            "private" => Ok(Self::Private),
            _ => Err(UnknownVisibility),
        }
    }
}

impl TryFrom<String> for Visibility {
    type Error = UnknownVisibility;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

/// A dataset as lists and events show it: everything but the analysis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Summary {
    /// UUIDv7; ordering by id is ordering by creation.
    pub id: String,
    /// Given at upload.
    pub name: String,
    /// Who may see it.
    #[sqlx(try_from = "String")]
    pub visibility: Visibility,
    /// The uploader's user id.
    pub owner_id: String,
    /// Data rows, header excluded.
    #[sqlx(rename = "row_count")]
    pub rows: i64,
    /// Number of columns.
    #[sqlx(rename = "column_count")]
    pub columns: i64,
    /// Size of the uploaded file.
    pub size_bytes: i64,
    /// RFC 3339.
    pub created_at: String,
}

/// A dataset with its analysis, stored as the JSON text of an `analysis::Analysis`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Stored {
    /// Everything but the analysis.
    #[sqlx(flatten)]
    pub summary: Summary,
    /// JSON text of the analysis. [`find`] reads it only for datasets without `detail`.
    pub analysis: Option<String>,
    /// The detail response body (the summary with the analysis), built once at upload and
    /// served as is; `None` for datasets stored before it was kept.
    pub detail: Option<String>,
    /// The strong ETag of `detail`, quoted.
    pub etag: Option<String>,
}

/// Creates a dataset and records `dataset.created`, atomically.
///
/// # Errors
///
/// Database failures; nothing is stored then.
pub async fn create(db: &Db, dataset: &Stored) -> Result<i64, Error> {
    let summary = &dataset.summary;
    db.guard(async {
        let mut tx = db.begin_write().await?;
        sqlx::query(
            "INSERT INTO datasets (id, name, visibility, owner_id, row_count, column_count, \
             size_bytes, created_at, analysis, detail, etag) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&summary.id)
        .bind(&summary.name)
        .bind(summary.visibility.as_str())
        .bind(&summary.owner_id)
        .bind(summary.rows)
        .bind(summary.columns)
        .bind(summary.size_bytes)
        .bind(&summary.created_at)
        .bind(dataset.analysis.as_deref().unwrap_or_default())
        .bind(&dataset.detail)
        .bind(&dataset.etag)
        .execute(&mut *tx)
        .await?;
        let seq = events::record(&mut tx, db.backend(), EventKind::DatasetCreated, summary).await?;
        tx.commit().await?;
        Ok(seq)
    })
    .await
}

/// The dataset with this id, with its stored detail body, in one row read. The raw
/// analysis comes along only for a dataset stored without a detail body.
///
/// # Errors
///
/// Database failures.
pub async fn find(db: &Db, id: &str) -> Result<Option<Stored>, Error> {
    let query = sqlx::query_as(concat!(
        "SELECT ",
        summary_columns!(),
        ", CASE WHEN detail IS NULL THEN analysis END AS analysis, detail, etag \
         FROM datasets WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db.pool());
    db.guard(query).await
}

/// The dataset with this id, without its analysis.
///
/// # Errors
///
/// Database failures.
pub async fn find_summary(db: &Db, id: &str) -> Result<Option<Summary>, Error> {
    let query = sqlx::query_as(concat!(
        "SELECT ",
        summary_columns!(),
        " FROM datasets WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db.pool());
    db.guard(query).await
}

/// Deletes the dataset if `owner_id` owns it and records `dataset.deleted`, atomically.
/// `None` when there was no such dataset of that owner.
///
/// # Errors
///
/// Database failures; nothing changes then.
pub async fn delete(db: &Db, id: &str, owner_id: &str) -> Result<Option<Summary>, Error> {
    db.guard(async {
        let mut tx = db.begin_write().await?;
        let deleted: Option<Summary> = sqlx::query_as(concat!(
            "DELETE FROM datasets WHERE id = $1 AND owner_id = $2 RETURNING ",
            summary_columns!()
        ))
        .bind(id)
        .bind(owner_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(summary) = &deleted {
            events::record(&mut tx, db.backend(), EventKind::DatasetDeleted, summary).await?;
            tx.commit().await?;
        }
        Ok(deleted)
    })
    .await
}

/// Up to `limit` datasets newest first, strictly older than the dataset `before_id` when
/// given: public ones, plus the viewer's own private ones when there is a viewer.
///
/// # Errors
///
/// Database failures.
pub async fn list(
    db: &Db,
    viewer: Option<&str>,
    before_id: Option<&str>,
    limit: i64,
) -> Result<Vec<Summary>, Error> {
    const PUBLIC: &str = concat!(
        "SELECT ",
        summary_columns!(),
        " FROM datasets WHERE visibility = 'public' ORDER BY id DESC LIMIT $1"
    );
    const PUBLIC_AFTER: &str = concat!(
        "SELECT ",
        summary_columns!(),
        " FROM datasets WHERE visibility = 'public' AND id < $2 ORDER BY id DESC LIMIT $1"
    );
    const VIEWER: &str = concat!(
        "SELECT ",
        summary_columns!(),
        " FROM datasets WHERE (visibility = 'public' OR owner_id = $2) \
         ORDER BY id DESC LIMIT $1"
    );
    const VIEWER_AFTER: &str = concat!(
        "SELECT ",
        summary_columns!(),
        " FROM datasets WHERE (visibility = 'public' OR owner_id = $2) AND id < $3 \
         ORDER BY id DESC LIMIT $1"
    );
    let query = match (viewer, before_id) {
        (None, None) => sqlx::query_as(PUBLIC).bind(limit),
        (None, Some(before)) => sqlx::query_as(PUBLIC_AFTER).bind(limit).bind(before),
        (Some(viewer), None) => sqlx::query_as(VIEWER).bind(limit).bind(viewer),
        (Some(viewer), Some(before)) => sqlx::query_as(VIEWER_AFTER)
            .bind(limit)
            .bind(viewer)
            .bind(before),
    };
    db.guard(query.fetch_all(db.pool())).await
}
