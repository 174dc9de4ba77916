//! Datasets: upload a CSV (analysed as it streams in), list, read and delete.
//!
//! Caching is part of the contract: a public dataset's detail is `public, max-age=60` with a
//! strong ETag (the body never changes once stored), anything private is
//! `private, no-store`, and the anonymous list is `public, max-age=5`. Both public answers
//! add `stale-if-error=600`: while the database is down, a shared cache may keep serving
//! its copy for ten minutes past freshness instead of passing on the 503.

mod upload;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::extract::{AuthUser, MaybeAuthUser, Query};
use super::{Error, Result};
use crate::analysis::Analysis;
use crate::db::datasets::{self, Stored, Summary, Visibility};
use crate::db::users;
use crate::state::AppState;

/// Items per page when the client does not say.
pub const DEFAULT_PAGE_LIMIT: u32 = 20;
/// Most items per page.
pub const MAX_PAGE_LIMIT: u32 = 100;
/// Longest dataset name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

const PUBLIC_DETAIL: &str = "public, max-age=60, stale-if-error=600";
const PUBLIC_LIST: &str = "public, max-age=5, stale-if-error=600";
const PRIVATE: &str = "private, no-store";

/// `GET|POST /api/datasets`, `GET|DELETE /api/datasets/{id}`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/datasets", get(list).post(create))
        .route("/api/datasets/{id}", get(detail).delete(remove))
        // Uploads are counted against `max_upload_bytes` as they stream in, not buffered.
        .route_layer(DefaultBodyLimit::disable())
}

/// Upload parameters that may come in the query string.
#[derive(Debug, Default, Deserialize)]
struct UploadParams {
    name: Option<String>,
    visibility: Option<String>,
}

/// List parameters.
#[derive(Debug, Default, Deserialize)]
struct ListParams {
    limit: Option<String>,
    cursor: Option<String>,
}

/// One page of the list.
#[derive(Debug, Serialize)]
struct Page {
    items: Vec<Summary>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

/// A dataset with its analysis, as detail and create return it.
#[derive(Debug, Serialize)]
struct Detail<'a> {
    #[serde(flatten)]
    summary: &'a Summary,
    analysis: &'a RawValue,
}

async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Query(params): Query<UploadParams>,
    request: Request,
) -> Result<Response> {
    // Check what the query string says before reading a byte of the body.
    let query_name = params.name.as_deref().map(validate_name).transpose()?;
    let query_visibility = params
        .visibility
        .as_deref()
        .map(parse_visibility)
        .transpose()?;

    // A token for an account deleted since is refused before any work is done.
    users::find(&state.db, &user.id)
        .await?
        .ok_or(Error::InvalidToken)?;

    let received = upload::receive(request, &upload_limits(&state)).await?;
    let name = match query_name {
        Some(name) => name,
        None => match received
            .form
            .name
            .as_deref()
            .or(received.form.filename.as_deref())
        {
            Some(name) => validate_name(name)?,
            None => return Err(Error::field("name", "is required")),
        },
    };
    let visibility = match (query_visibility, received.form.visibility.as_deref()) {
        (Some(visibility), _) => visibility,
        (None, Some(text)) => parse_visibility(text)?,
        (None, None) => Visibility::Private,
    };

    let mut analysis = received.analysis;
    let analysis_json = fit_analysis(&mut analysis, state.config.max_analysis_bytes)?;
    let summary = Summary {
        id: uuid::Uuid::now_v7().to_string(),
        name,
        visibility,
        owner_id: user.id,
        rows: i64::try_from(analysis.rows).unwrap_or(i64::MAX),
        columns: i64::try_from(analysis.columns.len()).unwrap_or(i64::MAX),
        size_bytes: i64::try_from(received.size_bytes).unwrap_or(i64::MAX),
        created_at: crate::db::now_text(),
    };
    let detail = detail_body(&summary, &analysis_json)?;
    let etag = strong_etag(detail.as_bytes());
    let stored = Stored {
        summary,
        analysis: Some(analysis_json),
        detail: Some(detail),
        etag: Some(etag),
    };
    datasets::create(&state.db, &stored)
        .await
        .map_err(|error| match error {
            // The owner was deleted while the upload was being analysed.
            crate::db::Error::Query(sqlx::Error::Database(cause))
                if cause.is_foreign_key_violation() =>
            {
                Error::InvalidToken
            }
            other => other.into(),
        })?;
    state.metrics.datasets_analysed.inc();
    state.metrics.analysis_rows.inc_by(analysis.rows);

    let location = format!("/api/datasets/{}", stored.summary.id);
    Ok((
        StatusCode::CREATED,
        [
            (header::LOCATION, location.as_str()),
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, PRIVATE),
        ],
        stored.detail.unwrap_or_default(),
    )
        .into_response())
}

/// The analysis as stored JSON, within `max_bytes`: when it is too big, the parts that
/// relate columns are dropped, the bulkiest first (the plot sample, the group summaries,
/// the missing-value positions, the correlations); when the per-column statistics alone
/// are too big, the upload is refused.
fn fit_analysis(analysis: &mut Analysis, max_bytes: u64) -> Result<String> {
    let serialise = |analysis: &Analysis| {
        serde_json::to_string(analysis)
            .map_err(|error| Error::Internal(anyhow::anyhow!("serialising an analysis: {error}")))
    };
    let mut json = serialise(analysis)?;
    let sheds: [fn(&mut Analysis); 4] = [
        |a| a.sample = None,
        |a| a.group_summaries.clear(),
        |a| a.missing_by_position = None,
        |a| a.correlations = None,
    ];
    for shed in sheds {
        if json.len() as u64 <= max_bytes {
            return Ok(json);
        }
        shed(analysis);
        json = serialise(analysis)?;
    }
    if json.len() as u64 > max_bytes {
        return Err(Error::InvalidCsv {
            message: format!(
                "the analysis of this file would take {} bytes; at most {max_bytes} are \
                 stored (max_analysis_bytes): upload fewer columns or shorter text",
                json.len()
            ),
            line: None,
        });
    }
    Ok(json)
}

/// The bounds of one upload, from the configuration.
fn upload_limits(state: &AppState) -> upload::Limits {
    let config = &state.config;
    upload::Limits {
        max_bytes: config.max_upload_bytes,
        idle: std::time::Duration::from_millis(config.body_idle_timeout_ms),
        options: crate::analysis::Options {
            max_columns: config.max_columns,
            max_cell_chars: config.max_cell_chars,
            ..crate::analysis::Options::default()
        },
        pool: state.pools.analysis.clone(),
    }
}

async fn list(
    State(state): State<AppState>,
    viewer: MaybeAuthUser,
    Query(params): Query<ListParams>,
) -> Result<Response> {
    let limit = match params.limit.as_deref() {
        None => DEFAULT_PAGE_LIMIT,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=MAX_PAGE_LIMIT).contains(limit))
            .ok_or_else(|| {
                Error::field(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_PAGE_LIMIT}"),
                )
            })?,
    };
    let before = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut items = datasets::list(
        &state.db,
        viewer.id(),
        before.as_deref(),
        i64::from(limit) + 1,
    )
    .await?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|last| encode_cursor(&last.id))
    } else {
        None
    };
    let cache = if viewer.0.is_some() {
        PRIVATE
    } else {
        PUBLIC_LIST
    };
    Ok((
        [
            (header::CACHE_CONTROL, cache),
            (header::VARY, "Authorization"),
        ],
        super::extract::Json(Page { items, next_cursor }),
    )
        .into_response())
}

async fn detail(
    State(state): State<AppState>,
    viewer: MaybeAuthUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let id = parse_id(&id)?;
    let stored = datasets::find(&state.db, id)
        .await?
        .ok_or(Error::NotFound)?;
    let summary = &stored.summary;
    let public = summary.visibility == Visibility::Public;
    if !public && viewer.id() != Some(summary.owner_id.as_str()) {
        return Err(Error::NotFound);
    }
    // Built once at upload; only datasets stored before that was kept are built here.
    let (body, etag) = match (stored.detail, stored.etag) {
        (Some(detail), Some(etag)) => (detail, etag),
        (_, _) => {
            let analysis = stored.analysis.as_deref().unwrap_or("null");
            let detail = detail_body(&stored.summary, analysis)?;
            let etag = strong_etag(detail.as_bytes());
            (detail, etag)
        }
    };
    let etag = HeaderValue::try_from(etag)
        .map_err(|error| Error::Internal(anyhow::anyhow!("stored ETag: {error}")))?;
    let cache = if public { PUBLIC_DETAIL } else { PRIVATE };
    if super::if_none_match(&headers, &etag) {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, etag),
                (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            ],
        )
            .into_response());
    }
    Ok((
        [
            (header::ETAG, etag),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
        ],
        body,
    )
        .into_response())
}

async fn remove(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id = parse_id(&id)?;
    let summary = datasets::find_summary(&state.db, id)
        .await?
        .ok_or(Error::NotFound)?;
    if summary.owner_id != user.id {
        // Someone else's private dataset does not exist as far as this caller knows.
        return Err(match summary.visibility {
            Visibility::Public => Error::Forbidden,
            Visibility::Private => Error::NotFound,
        });
    }
    datasets::delete(&state.db, id, &user.id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The detail JSON: the summary with the analysis JSON spliced in as is.
fn detail_body(summary: &Summary, analysis: &str) -> Result<String> {
    let analysis: &RawValue = serde_json::from_str(analysis).map_err(|error| {
        Error::Internal(anyhow::anyhow!("stored analysis is not JSON: {error}"))
    })?;
    serde_json::to_string(&Detail { summary, analysis })
        .map_err(|error| Error::Internal(anyhow::anyhow!("serialising a dataset: {error}")))
}

/// A strong validator: a SHA-256 prefix of the exact bytes served, quoted.
fn strong_etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// A dataset id is a UUID; anything else names no dataset, and never reaches the database
/// (Postgres refuses some bytes, such as NUL, in text).
fn parse_id(id: &str) -> Result<&str> {
    match uuid::Uuid::parse_str(id) {
        Ok(_) => Ok(id),
        Err(_) => Err(Error::NotFound),
    }
}

fn validate_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Error::field("name", "must not be empty"));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::field("name", "must not contain control characters"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::field(
            "name",
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(name.to_owned())
}

fn parse_visibility(raw: &str) -> Result<Visibility> {
    raw.trim()
        .parse()
        .map_err(|_| Error::field("visibility", "must be `public` or `private`"))
}

fn encode_cursor(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

fn decode_cursor(cursor: &str) -> Result<String> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|id| uuid::Uuid::parse_str(id).is_ok())
        .ok_or_else(|| Error::field("cursor", "is not a cursor this service issued"))
}
