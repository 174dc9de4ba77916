//! CPU-heavy work (password hashing, CSV analysis) off the async worker threads, in
//! bounded pools.
//!
//! Each kind of work has its own [`Pool`]: a fixed number of threads with as many slots,
//! and a short queue in front of them. A job takes a slot, runs on one of the pool's
//! threads, and gives the slot back when it returns, so at most `slots` jobs (and their
//! memory: 19 MiB per argon2 hash) run per kind, and one kind can never starve the other
//! or tokio's own blocking pool. A job that finds no free
//! slot within the queue wait is refused with [`Busy`], which the API answers with 503 and
//! `Retry-After`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// No slot became free within the queue wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{what} is at capacity")]
pub struct Busy {
    /// Which pool was full: `password hashing` or `analysis`.
    pub what: &'static str,
}

/// A job that ended without a result: it panicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {what} job panicked")]
pub struct JobFailed {
    /// Which pool ran it.
    pub what: &'static str,
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed set of threads for one kind of work, and as many slots. Cheap to clone.
///
/// The threads are the pool's own, started once: a job never creates a thread, so the
/// number of threads (and of allocator arenas holding their memory) stays `slots`.
#[derive(Debug, Clone)]
pub struct Pool {
    what: &'static str,
    slots: Arc<Semaphore>,
    jobs: mpsc::Sender<Job>,
    queue_wait: Duration,
}

impl Pool {
    /// Starts `slots` threads named after `what`; callers wait up to `queue_wait` for one.
    ///
    /// # Errors
    ///
    /// When the operating system refuses to start a thread.
    pub fn start(what: &'static str, slots: usize, queue_wait: Duration) -> std::io::Result<Self> {
        let slots = slots.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..slots {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("{}-{n}", what.replace(' ', "-")))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Self {
            what,
            slots: Arc::new(Semaphore::new(slots)),
            jobs,
            queue_wait,
        })
    }

    /// Takes a slot (waiting up to the queue wait), then runs `job` on one of the pool's
    /// threads, which holds the slot until the job returns.
    ///
    /// # Errors
    ///
    /// [`Busy`] when no slot became free within the queue wait.
    pub async fn spawn<T, F>(&self, job: F) -> Result<Task<T>, Busy>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let busy = Busy { what: self.what };
        let slot: OwnedSemaphorePermit =
            match tokio::time::timeout(self.queue_wait, self.slots.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                // The semaphore is never closed; treat it like a full pool anyway.
                Ok(Err(_)) | Err(_) => return Err(busy),
            };
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let outcome = job();
            drop(slot);
            let _ = done.send(outcome);
        });
        self.jobs.send(job).map_err(|_| busy)?;
        Ok(Task {
            what: self.what,
            result,
        })
    }

    /// Slots free right now.
    pub fn available(&self) -> usize {
        self.slots.available_permits()
    }
}

/// A job running on a [`Pool`]; resolves to its result.
#[derive(Debug)]
pub struct Task<T> {
    what: &'static str,
    result: oneshot::Receiver<T>,
}

impl<T> Future for Task<T> {
    type Output = Result<T, JobFailed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let what = self.what;
        Pin::new(&mut self.result)
            .poll(cx)
            .map(|result| result.map_err(|_| JobFailed { what }))
    }
}

/// The app's two pools, one per kind of heavy work.
#[derive(Debug, Clone)]
pub struct Pools {
    /// Argon2id hashes and verifications.
    pub hashing: Pool,
    /// CSV analyses, one per upload whose body has fully arrived.
    pub analysis: Pool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_pool_refuses_after_the_queue_wait() {
        let pool = Pool::start("test work", 1, Duration::from_millis(20)).expect("start");
        let (release, held) = std::sync::mpsc::channel::<()>();
        let blocked = pool
            .spawn(move || held.recv().is_ok())
            .await
            .expect("one slot");
        let refused = pool.spawn(|| ()).await.expect_err("full");
        assert_eq!(refused.what, "test work");
        release.send(()).expect("release");
        assert_eq!(blocked.await, Ok(true));
        let done = pool.spawn(|| 7).await.expect("free again");
        assert_eq!(done.await, Ok(7));
        assert_eq!(pool.available(), 1, "the slot is back once the job is done");
    }
}
