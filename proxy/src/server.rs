//! Builds the Pingora server from a [`Config`]: the public proxy service (HTTP and HTTPS
//! listeners), the admin service, and the control thread; then runs it until a shutdown
//! signal and stops everything it started.

mod control;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use pingora::listeners::tls::TlsSettings;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::{RunArgs, Server, ShutdownSignalWatch};
use pingora::services::background::background_service;
use pingora::services::listening::Service;

pub use control::Control;

use crate::admin::{Admin, AdminSettings, History, Sampler};
use crate::cache::Cache;
use crate::config::{Config, TlsSource};
use crate::error::StartError;
use crate::gateway::{ConnectionTracker, Front, Gateway, Listeners};
use crate::metrics::Metrics;
use crate::routing::{Live, SharedLive};
use crate::tls::acme::Acme;
use shared::config::ConfigError;

/// How the process was asked to start.
pub struct Launch {
    /// The validated configuration.
    pub config: Config,
    /// The file it came from, reloaded on SIGHUP; `None` in quick mode.
    pub config_path: Option<PathBuf>,
    /// Take the listening sockets over from a running proxy (graceful upgrade).
    pub upgrade: bool,
    /// `None`: Unix signals (SIGTERM graceful, SIGINT fast, SIGQUIT upgrade). Tests pass
    /// their own watch to stop an in-process server.
    pub shutdown: Option<Box<dyn ShutdownSignalWatch>>,
}

impl std::fmt::Debug for Launch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launch")
            .field("config_path", &self.config_path)
            .field("upgrade", &self.upgrade)
            .finish_non_exhaustive()
    }
}

/// Runs the proxy until shutdown.
///
/// # Errors
///
/// Anything that prevents start-up, named by config key; nothing after that.
pub fn run(launch: Launch) -> Result<(), StartError> {
    let Launch {
        config,
        config_path,
        upgrade,
        shutdown,
    } = launch;
    if !upgrade {
        check_bindable(&config)?;
    }
    raise_open_file_limit(config.limits.max_connections);
    let live: SharedLive = Arc::new(ArcSwap::from_pointee(Live::build(
        &config,
        &BTreeMap::new(),
    )));
    let metrics = Arc::new(Metrics::new(live.clone())?);

    let server_conf = ServerConf {
        threads: config.server.threads,
        grace_period_seconds: Some(config.server.grace_period_secs),
        graceful_shutdown_timeout_seconds: Some(config.server.graceful_shutdown_timeout_secs),
        upgrade_sock: config.server.upgrade_sock.clone(),
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, server_conf);
    server.bootstrap();

    let acme =
        match &config.tls.acme {
            Some(acme) => Some(Acme::open(acme, metrics.clone()).map_err(|source| {
                StartError::AcmeStorage {
                    dir: acme.storage_dir.clone(),
                    source,
                }
            })?),
            None => None,
        };

    let tracker = Arc::new(ConnectionTracker::default());
    let listeners = Arc::new(Listeners::from_config(&config.listeners));
    // Built once: a reload keeps the cache and its contents (its size is fixed at start).
    let cache = Cache::from_config(&config.cache);
    let gateway = Gateway::new(
        live.clone(),
        metrics.clone(),
        tracker.clone(),
        cache.clone(),
        listeners.clone(),
        acme.as_ref().map(Acme::challenges),
    );
    let proxy = pingora::proxy::http_proxy(&server.configuration, gateway);
    let front = Front::new(
        proxy,
        tracker,
        live.clone(),
        listeners,
        metrics.open_connections.clone(),
        metrics.connections_rejected.clone(),
        metrics.client_faults.clone(),
    );
    let mut public = Service::new("proxy".to_owned(), front);
    public.threads = Some(config.server.threads);
    for (index, listener) in config.listeners.iter().enumerate() {
        let addr = listener.addr.to_string();
        let source = listener.tls.as_ref().and_then(|tls| tls.source());
        let mut settings = match source {
            None => {
                public.add_tcp(&addr);
                continue;
            }
            Some(TlsSource::Files { cert, key }) => {
                file_tls_settings(&format!("listeners[{index}].tls"), cert, key, &metrics)?
            }
            Some(TlsSource::Acme) => {
                let resolver = acme.as_ref().map(Acme::resolver).ok_or_else(|| {
                    ConfigError::invalid(
                        &format!("listeners[{index}].tls.acme"),
                        "needs [tls.acme]",
                    )
                })?;
                // The paths are unused: with a resolver, Pingora reads no files.
                let mut settings = TlsSettings::intermediate("", "")
                    .map_err(|e| ConfigError::invalid("tls.acme", e.to_string()))?;
                settings.set_cert_resolver(resolver);
                settings
            }
        };
        settings.enable_h2();
        public.add_tls_with_settings(&addr, None, settings);
    }

    let history = Arc::new(History::new(live.clone(), metrics.clone(), cache.clone()));
    let settings = AdminSettings {
        token: config.admin.token.clone(),
        loopback: config.admin.addr.ip().is_loopback(),
        max_event_streams: config.admin.max_event_streams,
    };
    let mut admin = Service::new(
        "admin".to_owned(),
        Admin::new(
            live.clone(),
            metrics.clone(),
            cache,
            history.clone(),
            settings,
        ),
    );
    admin.threads = Some(1);
    admin.add_tcp(&config.admin.addr.to_string());
    let mut sampler = background_service("admin history", Sampler(history));
    sampler.threads = Some(1);

    server.add_service(public);
    server.add_service(admin);
    server.add_service(sampler);
    if let Some(acme) = acme {
        server.add_service(background_service("acme", acme));
    }

    let listeners: Vec<SocketAddr> = config.listeners.iter().map(|l| l.addr).collect();
    tracing::info!(?listeners, admin = %config.admin.addr, upstreams = config.upstreams.len(),
        threads = config.server.threads, "proxy starting");
    let control = Control::start(live, config, config_path).map_err(StartError::Control)?;
    let run_args = match shutdown {
        Some(shutdown_signal) => RunArgs { shutdown_signal },
        None => RunArgs::default(),
    };
    server.run(run_args);
    control.stop();
    tracing::info!("proxy stopped");
    Ok(())
}

/// A listener's settings for a certificate from files, whose expiry goes to the metric.
fn file_tls_settings(
    key: &str,
    cert: &std::path::Path,
    private: &std::path::Path,
    metrics: &Metrics,
) -> Result<TlsSettings, StartError> {
    let invalid = |reason: String| ConfigError::invalid(key, reason);
    let (Some(cert_text), Some(private_text)) = (cert.to_str(), private.to_str()) else {
        return Err(invalid("paths must be valid UTF-8".into()).into());
    };
    let pem = std::fs::read(cert).map_err(|e| invalid(format!("{}: {e}", cert.display())))?;
    let leaf = crate::tls::certificate::leaf_of_pem(&pem).map_err(invalid)?;
    metrics.certificate_expiry(&leaf);
    Ok(TlsSettings::intermediate(cert_text, private_text).map_err(|e| invalid(e.to_string()))?)
}

/// Pingora binds listeners inside service tasks and only logs a failure there; binding
/// each address once up front turns "address in use" into a start-up error with its key.
fn check_bindable(config: &Config) -> Result<(), StartError> {
    let admin = std::iter::once(("admin.addr".to_owned(), config.admin.addr));
    let public = config
        .listeners
        .iter()
        .enumerate()
        .map(|(index, l)| (format!("listeners[{index}].addr"), l.addr));
    for (key, addr) in public.chain(admin) {
        if let Err(source) = std::net::TcpListener::bind(addr) {
            return Err(StartError::Bind { key, addr, source });
        }
    }
    Ok(())
}

/// Every client connection and every backend connection is a file descriptor, and the
/// usual soft limit (1024) is far below `limits.max_connections`; past it `accept()` fails
/// for everyone. Raises the soft limit to the hard one and logs the figure.
fn raise_open_file_limit(max_connections: usize) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        tracing::warn!("could not read the open-file limit");
        return;
    };
    let limit = if soft < hard {
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(error) => {
                tracing::warn!(%error, soft, hard, "could not raise the open-file limit");
                soft
            }
        }
    } else {
        soft
    };
    tracing::info!(open_files = limit, "open-file limit");
    // A client connection costs one descriptor, its backend connection another.
    let needed = u64::try_from(max_connections)
        .unwrap_or(u64::MAX)
        .saturating_mul(2);
    if limit < needed {
        tracing::warn!(
            open_files = limit,
            max_connections,
            "the open-file limit is below twice limits.max_connections; accept() may fail before the limit is reached"
        );
    }
}
