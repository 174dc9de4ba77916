//! Receiving an upload: a `text/csv` body or a multipart form with a `file` field,
//! checked as it arrives and analysed once it has all arrived.
//!
//! The body is spooled to a private, nameless temporary file as it arrives (see
//! `feed.rs`), with no analysis slot held; the byte count and the header's column count
//! are checked on every chunk, so an oversized upload stops at the limit and a header
//! over `max_columns` is refused before the rest is read. Only once the whole body is
//! here does the upload take a slot of the bounded analysis pool, so a stalled client
//! never holds one; when the pool stays full the upload is 503 with `Retry-After`. A body
//! that pauses longer than the idle timeout is 408, and nothing is stored.
//!
//! Refusing an upload with 413 while the client is still sending it needs care: closing a
//! connection with unread bytes makes the kernel reset it, and the reset can destroy the
//! 413 before the client reads it. So after deciding to refuse, the server reads and
//! discards what is still arriving, for at most [`LINGER_BYTES`] and [`LINGER_TIME`]
//! (nginx's "lingering close"), and then answers.

use std::future::Future;
use std::time::Duration;

use axum::extract::{FromRequest, Multipart, Request};
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, header};

use self::feed::Feed;
use crate::analysis::{self, Analysis};
use crate::http::Error;
use crate::work::Pool;

mod feed;

/// Room for multipart boundaries and small text fields on top of the file itself.
const MULTIPART_OVERHEAD_BYTES: u64 = 64 * 1024;
/// Longest accepted text field in a multipart form.
const MAX_FORM_FIELD_BYTES: usize = 1024;
/// Most parts accepted in one multipart form; with the per-field cap, this bounds the
/// bytes read besides the file.
const MAX_FORM_PARTS: usize = 16;
/// Most bytes of a refused upload read and discarded before answering 413.
const LINGER_BYTES: u64 = 16 * 1024 * 1024;
/// Longest time spent discarding a refused upload before answering 413.
const LINGER_TIME: Duration = Duration::from_secs(2);

/// Form fields that came with a multipart upload.
#[derive(Debug, Default)]
pub(super) struct FormFields {
    pub(super) name: Option<String>,
    pub(super) visibility: Option<String>,
    /// The file part's own file name, used when no `name` is given.
    pub(super) filename: Option<String>,
}

/// A fully received and analysed upload.
#[derive(Debug)]
pub(super) struct Received {
    pub(super) analysis: Analysis,
    pub(super) size_bytes: u64,
    pub(super) form: FormFields,
}

/// What bounds one upload.
#[derive(Debug, Clone)]
pub(super) struct Limits {
    /// `max_upload_bytes`.
    pub(super) max_bytes: u64,
    /// `body_idle_timeout_ms`.
    pub(super) idle: Duration,
    /// The analysis's own bounds (`max_columns`, `max_cell_chars`).
    pub(super) options: analysis::Options,
    /// Where the analysis runs.
    pub(super) pool: Pool,
}

/// Reads and analyses the body of `request`.
///
/// # Errors
///
/// 415 for other content types, 413 over `max_bytes`, 422 for a CSV the analysis rejects
/// (a header over `max_columns` as soon as it shows),
/// 400 for a broken multipart body, 408 for a stalled one, 503 when the analysis pool
/// stays full.
pub(super) async fn receive(request: Request, limits: &Limits) -> Result<Received, Error> {
    let max_bytes = limits.max_bytes;
    let essence = content_type_essence(request.headers());
    match essence.as_deref() {
        Some("text/csv") => {
            let declared = reject_declared_length(request.headers(), max_bytes, max_bytes);
            let mut chunks = request.into_body().into_data_stream();
            if let Err(error) = declared {
                linger(&mut chunks).await;
                return Err(error);
            }
            let mut feed = Feed::new(limits);
            loop {
                let chunk = match idle(limits, chunks.next()).await {
                    Ok(Some(chunk)) => chunk,
                    Ok(None) => break,
                    Err(error) => {
                        feed.abort().await;
                        return Err(error);
                    }
                };
                match chunk {
                    Ok(bytes) => {
                        if let Err(error) = feed.push(bytes).await {
                            linger(&mut chunks).await;
                            return Err(error);
                        }
                    }
                    Err(error) => {
                        feed.abort().await;
                        return Err(Error::BadRequest(format!(
                            "reading the upload failed: {error}"
                        )));
                    }
                }
            }
            let (analysis, size_bytes) = feed.finish().await?;
            Ok(Received {
                analysis,
                size_bytes,
                form: FormFields::default(),
            })
        }
        Some("multipart/form-data") => {
            if let Err(error) = reject_declared_length(
                request.headers(),
                max_bytes.saturating_add(MULTIPART_OVERHEAD_BYTES),
                max_bytes,
            ) {
                linger(&mut request.into_body().into_data_stream()).await;
                return Err(error);
            }
            receive_multipart(request, limits).await
        }
        _ => Err(Error::UnsupportedMediaType(
            "upload a CSV as Content-Type: text/csv or as multipart/form-data field `file`",
        )),
    }
}

/// Awaits one piece of the body, or answers 408 when it takes longer than the idle timeout.
async fn idle<T>(limits: &Limits, next: impl Future<Output = T>) -> Result<T, Error> {
    tokio::time::timeout(limits.idle, next)
        .await
        .map_err(|_| Error::BodyTimeout {
            idle_ms: u64::try_from(limits.idle.as_millis()).unwrap_or(u64::MAX),
        })
}

async fn receive_multipart(request: Request, limits: &Limits) -> Result<Received, Error> {
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|rejection| Error::BadRequest(rejection.body_text()))?;
    let mut form = FormFields::default();
    let mut file = None;
    let mut parts = 0;
    while let Some(mut field) = idle(limits, multipart.next_field())
        .await?
        .map_err(multipart_error)?
    {
        parts += 1;
        if parts > MAX_FORM_PARTS {
            return Err(Error::BadRequest(format!(
                "a form may have at most {MAX_FORM_PARTS} parts"
            )));
        }
        match field.name() {
            Some("file") if file.is_none() => {
                form.filename = field.file_name().map(str::to_owned);
                let mut feed = Feed::new(limits);
                loop {
                    let chunk = match idle(limits, field.chunk()).await {
                        Ok(chunk) => chunk,
                        Err(error) => {
                            feed.abort().await;
                            return Err(error);
                        }
                    };
                    match chunk {
                        Ok(Some(bytes)) => {
                            if let Err(error) = feed.push(bytes).await {
                                drop(field);
                                linger_multipart(&mut multipart).await;
                                return Err(error);
                            }
                        }
                        Ok(None) => break,
                        Err(error) => {
                            feed.abort().await;
                            return Err(multipart_error(error));
                        }
                    }
                }
                file = Some(feed.finish().await?);
            }
            Some("file") => return Err(Error::field("file", "give exactly one file")),
            Some("name") => form.name = Some(idle(limits, small_text(field)).await??),
            Some("visibility") => {
                form.visibility = Some(idle(limits, small_text(field)).await??);
            }
            // Unknown parts are read and ignored, within the same overall budget.
            _ => {
                idle(limits, small_text(field)).await??;
            }
        }
    }
    let (analysis, size_bytes) = file.ok_or_else(|| Error::field("file", "is required"))?;
    Ok(Received {
        analysis,
        size_bytes,
        form,
    })
}

/// Reads and discards what remains of a refused body, within the linger budget.
async fn linger<S, E>(chunks: &mut S)
where
    S: futures::Stream<Item = Result<Bytes, E>> + Unpin,
{
    let mut discarded = 0u64;
    let drain = async {
        while let Some(Ok(bytes)) = chunks.next().await {
            discarded += bytes.len() as u64;
            if discarded >= LINGER_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}

/// [`linger`] for a multipart body: the rest of the current part is skipped by asking for
/// the next one, and every later part is read and discarded.
async fn linger_multipart(multipart: &mut Multipart) {
    let mut discarded = 0u64;
    let drain = async {
        while let Ok(Some(mut field)) = multipart.next_field().await {
            while let Ok(Some(bytes)) = field.chunk().await {
                discarded += bytes.len() as u64;
                if discarded >= LINGER_BYTES {
                    return;
                }
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}

async fn small_text(mut field: axum::extract::multipart::Field<'_>) -> Result<String, Error> {
    let mut text = Vec::new();
    while let Some(bytes) = field.chunk().await.map_err(multipart_error)? {
        text.extend_from_slice(&bytes);
        if text.len() > MAX_FORM_FIELD_BYTES {
            let name = match field.name() {
                Some("name") => "name",
                Some("visibility") => "visibility",
                _ => "form",
            };
            return Err(Error::field(
                name,
                format!("must be at most {MAX_FORM_FIELD_BYTES} bytes"),
            ));
        }
    }
    String::from_utf8(text).map_err(|_| Error::BadRequest("form fields must be UTF-8".to_owned()))
}

fn multipart_error(error: axum::extract::multipart::MultipartError) -> Error {
    Error::BadRequest(format!("malformed multipart body: {}", error.body_text()))
}

fn content_type_essence(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let mime: mime::Mime = value.parse().ok()?;
    Some(mime.essence_str().to_ascii_lowercase())
}

/// A declared `Content-Length` over `max_body` is refused before reading anything.
fn reject_declared_length(headers: &HeaderMap, max_body: u64, limit: u64) -> Result<(), Error> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    match declared {
        Some(length) if length > max_body => Err(Error::PayloadTooLarge { limit_bytes: limit }),
        _ => Ok(()),
    }
}
