//! One upload on its way into the analysis: body chunks go down a bounded channel to the
//! analysis, which runs on a thread of the analysis pool and reads them as a `Read`.

use std::io::{self, Read};

use bytes::{Buf, Bytes};
use tokio::sync::mpsc;

use super::Limits;
use crate::analysis::{self, Analysis, AnalysisError};
use crate::http::Error;
use crate::work::Task;

/// Body chunks in flight between the network and the analysis.
const CHANNEL_CHUNKS: usize = 8;

/// One upload on its way into the analysis: the sending half of the channel and the
/// analysis task reading the other half (started at the first chunk), and the byte count.
pub(super) struct Feed {
    limits: Limits,
    running: Option<Running>,
    size_bytes: u64,
}

/// An analysis running on a pool thread.
struct Running {
    sender: mpsc::Sender<io::Result<Bytes>>,
    task: Task<Result<Analysis, AnalysisError>>,
}

impl Feed {
    pub(super) fn new(limits: &Limits) -> Self {
        Self {
            limits: limits.clone(),
            running: None,
            size_bytes: 0,
        }
    }

    /// The running analysis, started (waiting for a pool slot) on first use.
    async fn running(&mut self) -> Result<&mut Running, Error> {
        if self.running.is_none() {
            let (sender, receiver) = mpsc::channel(CHANNEL_CHUNKS);
            let options = self.limits.options.clone();
            let task = self
                .limits
                .pool
                .spawn(move || analysis::analyze(ChannelReader::new(receiver), &options))
                .await?;
            self.running = Some(Running { sender, task });
        }
        self.running
            .as_mut()
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("the analysis did not start")))
    }

    /// Hands one chunk to the analysis, or stops it with 413 past the limit. A send that
    /// fails means the analysis already stopped (on a malformed row); `finish` reports why.
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
        let _ = self.running().await?.sender.send(Ok(bytes)).await;
        Ok(())
    }

    /// Makes the analysis fail at its next read, so its thread is freed at once.
    pub(super) async fn abort(&mut self) {
        if let Some(running) = &self.running {
            let _ = running
                .sender
                .send(Err(io::Error::other("upload abandoned")))
                .await;
        }
    }

    /// Ends the input and waits for the analysis.
    pub(super) async fn finish(mut self) -> Result<(Analysis, u64), Error> {
        // An empty body still gets its analysis ("missing header row").
        self.running().await?;
        let Some(Running { sender, task }) = self.running.take() else {
            return Err(Error::Internal(anyhow::anyhow!(
                "the analysis did not start"
            )));
        };
        let size_bytes = self.size_bytes;
        drop(sender);
        let outcome = task.await.map_err(|error| Error::Internal(error.into()))?;
        match outcome {
            Ok(analysis) => Ok((analysis, size_bytes)),
            // The only read errors this reader yields come from `abort`, whose callers
            // answer with their own error and never get here; so every failure is the CSV's.
            Err(error) => Err(Error::InvalidCsv {
                line: error.line(),
                message: error.to_string(),
            }),
        }
    }
}

/// A blocking `Read` over the chunks the async side sends.
struct ChannelReader {
    receiver: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl ChannelReader {
    fn new(receiver: mpsc::Receiver<io::Result<Bytes>>) -> Self {
        Self {
            receiver,
            current: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                Some(Ok(bytes)) => self.current = bytes,
                Some(Err(error)) => return Err(error),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}
