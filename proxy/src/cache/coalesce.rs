//! Request coalescing: the first miss for a key becomes its leader and goes upstream;
//! later misses wait for the leader to finish (bounded by the lock timeout), then look
//! the key up again and, failing that, go upstream themselves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

/// Keys with a fill in progress.
#[derive(Default)]
pub struct Coalescer {
    inflight: Mutex<HashMap<String, watch::Receiver<()>>>,
}

/// Held by the leader; dropping it releases every waiter.
pub struct Leader {
    coalescer: Arc<Coalescer>,
    key: String,
    _done: watch::Sender<()>,
}

impl Drop for Leader {
    fn drop(&mut self) {
        if let Ok(mut map) = self.coalescer.inflight.lock() {
            map.remove(&self.key);
        }
    }
}

/// What a miss should do.
pub enum Turn {
    /// Go upstream and fill the cache; hold this until the fill is stored or abandoned.
    Lead(Leader),
    /// Another request is filling this key; wait on it.
    Follow(watch::Receiver<()>),
}

impl Coalescer {
    /// Becomes the leader for `key`, or learns who is.
    pub fn join(self: &Arc<Self>, key: &str) -> Turn {
        let Ok(mut map) = self.inflight.lock() else {
            // A poisoned map only costs coalescing, never the request.
            let (done, _) = watch::channel(());
            return Turn::Lead(Leader {
                coalescer: self.clone(),
                key: String::new(),
                _done: done,
            });
        };
        if let Some(waiting) = map.get(key) {
            return Turn::Follow(waiting.clone());
        }
        let (done, waiting) = watch::channel(());
        map.insert(key.to_owned(), waiting);
        Turn::Lead(Leader {
            coalescer: self.clone(),
            key: key.to_owned(),
            _done: done,
        })
    }

    /// Waits until the leader finishes or `timeout` passes; true if it finished.
    pub async fn wait(mut waiting: watch::Receiver<()>, timeout: Duration) -> bool {
        // `changed` errs once the sender is dropped, which is exactly "finished".
        tokio::time::timeout(timeout, async { while waiting.changed().await.is_ok() {} })
            .await
            .is_ok()
    }
}
