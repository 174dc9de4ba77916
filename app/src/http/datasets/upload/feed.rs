//! One upload on its way into the analysis: the body is spooled as it arrives to a private
//! temporary file, with no analysis slot held, and analysed whole once it has all arrived.
//!
//! So a slot of the analysis pool is held only while an analysis runs on data that is
//! already here: a client that stalls mid-body holds a file descriptor and its own bytes
//! on disk (at most `max_upload_bytes`), never a slot. The header's column count is
//! checked on the way in, so a header over `max_columns` is refused before the rest of
//! the body is read.
//!
//! The spool file is unlinked as soon as it is created: it has no name, only the open
//! descriptor, so it disappears on every path (success, any error, a client that
//! disconnects and drops the request, a crash of the process).

use std::io::{self, BufReader, Seek};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use super::Limits;
use crate::analysis::{self, Analysis, AnalysisError, HeaderCheck};
use crate::http::Error;

/// Bytes the analysis reads from the spool at a time.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// One upload being received: its spool (created at the first byte), the header check
/// and the byte count.
pub(super) struct Feed {
    limits: Limits,
    spool: Option<tokio::fs::File>,
    header: HeaderCheck,
    size_bytes: u64,
}

impl Feed {
    pub(super) fn new(limits: &Limits) -> Self {
        Self {
            limits: limits.clone(),
            spool: None,
            header: HeaderCheck::new(limits.options.max_columns),
            size_bytes: 0,
        }
    }

    /// Spools one chunk; 413 past the size limit, 422 once the header has too many
    /// columns.
    pub(super) async fn push(&mut self, bytes: Bytes) -> Result<(), Error> {
        self.size_bytes = self.size_bytes.saturating_add(bytes.len() as u64);
        if self.size_bytes > self.limits.max_bytes {
            self.abort().await;
            return Err(Error::PayloadTooLarge {
                limit_bytes: self.limits.max_bytes,
            });
        }
        if bytes.is_empty() {
            return Ok(());
        }
        if let Err(error) = self.header.push(&bytes) {
            self.abort().await;
            return Err(invalid_csv(&error));
        }
        if self.spool.is_none() {
            let dir = std::env::temp_dir();
            let file = tokio::task::spawn_blocking(move || private_spool(&dir))
                .await
                .map_err(|error| Error::Internal(error.into()))?
                .map_err(|error| {
                    Error::Internal(anyhow::Error::from(error).context("creating the upload spool"))
                })?;
            self.spool = Some(tokio::fs::File::from_std(file));
        }
        if let Some(spool) = &mut self.spool {
            spool.write_all(&bytes).await.map_err(|error| {
                Error::Internal(anyhow::Error::from(error).context("spooling the upload"))
            })?;
        }
        Ok(())
    }

    /// Drops what was spooled; the file goes with its descriptor.
    pub(super) async fn abort(&mut self) {
        self.spool = None;
    }

    /// Takes an analysis slot (503 when none frees within the queue wait) and analyses the
    /// whole spooled body.
    pub(super) async fn finish(mut self) -> Result<(Analysis, u64), Error> {
        let spool = match self.spool.take() {
            Some(mut spool) => {
                spool.flush().await.map_err(|error| {
                    Error::Internal(anyhow::Error::from(error).context("spooling the upload"))
                })?;
                Some(spool.into_std().await)
            }
            // An empty body still gets its analysis ("missing header row").
            None => None,
        };
        let options = self.limits.options.clone();
        let task = self
            .limits
            .pool
            .spawn(move || match spool {
                Some(mut file) => {
                    file.rewind().map_err(AnalysisError::Io)?;
                    analysis::analyze(BufReader::with_capacity(READ_BUFFER_BYTES, file), &options)
                }
                None => analysis::analyze(io::empty(), &options),
            })
            .await?;
        match task.await.map_err(|error| Error::Internal(error.into()))? {
            Ok(analysis) => Ok((analysis, self.size_bytes)),
            Err(AnalysisError::Io(error)) => Err(Error::Internal(
                anyhow::Error::from(error).context("reading the upload spool"),
            )),
            Err(error) => Err(invalid_csv(&error)),
        }
    }
}

fn invalid_csv(error: &AnalysisError) -> Error {
    Error::InvalidCsv {
        line: error.line(),
        message: error.to_string(),
    }
}

/// Creates a file in `dir` that only this user can read, and unlinks it at once, so it
/// lives exactly as long as the returned handle.
fn private_spool(dir: &Path) -> io::Result<std::fs::File> {
    let path = dir.join(format!(".upload-{}.csv", uuid::Uuid::new_v4().simple()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;

    #[test]
    fn the_spool_is_private_nameless_and_reads_back() {
        let mut file = private_spool(&std::env::temp_dir()).expect("spool");
        let metadata = file.metadata().expect("metadata");
        assert_eq!(metadata.nlink(), 0, "unlinked at once");
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
        io::Write::write_all(&mut file, b"a,b\n1,2\n").expect("write");
        file.rewind().expect("rewind");
        let mut text = String::new();
        file.read_to_string(&mut text).expect("read");
        assert_eq!(text, "a,b\n1,2\n");
    }
}
