//! The control thread: runs every group's health checks and discovery
//! ([`Upstream::run`]) and reloads the config file on SIGHUP.
//!
//! It owns a small tokio runtime of its own, so the SIGHUP handler is installed before the
//! server starts (the default action of SIGHUP would kill the process) and health checks
//! do not compete with request handling for the proxy's worker threads.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ServerSettings};
use crate::routing::{Live, SharedLive};
use crate::upstreams::Upstream;

/// Handle to the running control thread.
#[derive(Debug)]
pub struct Control {
    stop: CancellationToken,
    thread: Option<JoinHandle<()>>,
}

impl Control {
    /// Starts the thread; the SIGHUP handler is in place when this returns.
    ///
    /// # Errors
    ///
    /// When the runtime, the signal handler or the thread cannot be created.
    pub fn start(live: SharedLive, config: Config, path: Option<PathBuf>) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("proxy-control")
            .enable_all()
            .build()?;
        let hangup = {
            let _entered = runtime.enter();
            signal(SignalKind::hangup())?
        };
        let stop = CancellationToken::new();
        let token = stop.clone();
        let thread = std::thread::Builder::new()
            .name("proxy-control".into())
            .spawn(move || {
                runtime.block_on(control_loop(live, config, path, hangup, token));
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops health checks and reloads, and waits for the thread.
    pub fn stop(mut self) {
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn control_loop(
    live: SharedLive,
    mut current: Config,
    path: Option<PathBuf>,
    mut hangup: Signal,
    stop: CancellationToken,
) {
    let mut tasks: BTreeMap<String, CancellationToken> = BTreeMap::new();
    spawn_missing(&live.load().upstreams().clone(), &mut tasks, &stop);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            received = hangup.recv() => {
                if received.is_none() {
                    break;
                }
                if let Some(config) = reload(&live, &current, path.as_ref()) {
                    current = config;
                    let upstreams = live.load().upstreams().clone();
                    tasks.retain(|name, token| {
                        let keep = upstreams.contains_key(name);
                        if !keep {
                            token.cancel();
                        }
                        keep
                    });
                    spawn_missing(&upstreams, &mut tasks, &stop);
                }
            }
        }
    }
    // Child tokens are cancelled with `stop`; give the tasks a moment to observe it.
    tokio::task::yield_now().await;
}

fn spawn_missing(
    upstreams: &BTreeMap<String, Arc<Upstream>>,
    tasks: &mut BTreeMap<String, CancellationToken>,
    stop: &CancellationToken,
) {
    for (name, group) in upstreams {
        if !tasks.contains_key(name) {
            let token = stop.child_token();
            tokio::spawn(group.clone().run(token.clone()));
            tasks.insert(name.clone(), token);
        }
    }
}

/// Loads and applies the file; on any error the old state stays and the error is logged.
fn reload(live: &SharedLive, current: &Config, path: Option<&PathBuf>) -> Option<Config> {
    let Some(path) = path else {
        tracing::warn!("SIGHUP ignored: quick mode has no config file to reload");
        return None;
    };
    let config = match Config::load(path) {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(%error, file = %path.display(), "config reload rejected; the previous config stays in force");
            return None;
        }
    };
    // `server.trusted_proxies` lives in the swapped state, so only the rest of `server`
    // waits for a restart.
    let server_rest = ServerSettings {
        trusted_proxies: current.server.trusted_proxies.clone(),
        ..config.server.clone()
    };
    if config.listeners != current.listeners
        || config.tls != current.tls
        || config.admin != current.admin
        || server_rest != current.server
    {
        tracing::warn!(
            "`listeners`, `tls`, `admin` and `server` changes (but `server.trusted_proxies`) \
             take effect only after a restart or upgrade"
        );
    }
    let next = Live::build(&config, live.load().upstreams());
    live.store(Arc::new(next));
    tracing::info!(file = %path.display(), upstreams = config.upstreams.len(), routes = config.routes.len(), "config reloaded");
    Some(config)
}
