//! Building and running the server: connect and migrate, bind, serve until told to stop,
//! then drain.
//!
//! The drain, in order: `/readyz` answers 503 (the balancer stops sending new work) and
//! `draining` is cancelled (live streams end); the instance keeps serving for `drain_secs`;
//! then it stops accepting, finishes in-flight requests, closes the pool and returns. The
//! requests and the pool get `shutdown_timeout_secs` each; what outlives that is dropped.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use http::HeaderValue;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::{password, token::Tokens};
use crate::config::{Config, redact_url};
use crate::db::Db;
use crate::realtime::Hub;
use crate::state::{AppState, Metrics};
use crate::work::{Pool, Pools};

/// A bound, migrated, ready-to-run app.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
}

impl Application {
    /// Validates `config`, connects to and migrates the database, and binds `config.listen`
    /// (port 0 picks a free port; see [`Application::addr`]).
    ///
    /// # Errors
    ///
    /// Invalid configuration, an unreachable database, failed migrations, or a port in use.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        config.validate()?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        Self::build_with_listener(config, listener).await
    }

    /// Like [`Application::build`], on a listener the caller already bound.
    ///
    /// # Errors
    ///
    /// As [`Application::build`].
    pub async fn build_with_listener(
        config: Config,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        config.validate()?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let db = Db::connect(&config.database_url, (&config).into())
            .await
            .with_context(|| format!("opening {}", redact_url(&config.database_url)))?;
        let instance = HeaderValue::from_str(&config.instance_name())
            .context("the instance id is not a valid header value")?;
        let tokens = Tokens::new(
            config.jwt_secret.expose().as_bytes(),
            Duration::from_secs(config.token_lifetime_secs),
        );
        let queue_wait = Duration::from_millis(config.max_queue_wait_ms);
        let pools = Pools {
            hashing: Pool::start("password hashing", config.max_concurrent_hashes, queue_wait)
                .context("starting the hashing threads")?,
            analysis: Pool::start("analysis", config.max_concurrent_analyses, queue_wait)
                .context("starting the analysis threads")?,
        };
        // On the hashing pool, so the thread that computes it keeps the work area.
        let dummy_password_hash: Arc<str> = pools
            .hashing
            .spawn(|| password::hash("not a real password; never matches"))
            .await?
            .await?
            .context("hashing the dummy password")?
            .into();
        let metrics = Arc::new(Metrics::new().context("registering metrics")?);
        let draining = CancellationToken::new();
        let hub = Hub::start(
            db.clone(),
            &config.database_url,
            draining.clone(),
            metrics.live_clients.clone(),
        )
        .await
        .context("starting live events")?;
        let oauth =
            crate::auth::oauth::Oauth::new(&config.oauth, config.jwt_secret.expose().as_bytes())
                .map(Arc::new)?;
        let polls = Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_polls));
        let state = AppState {
            polls,
            oauth,
            db,
            config: Arc::new(config),
            tokens: Arc::new(tokens),
            metrics,
            instance,
            draining,
            hub,
            pools,
            dummy_password_hash,
        };
        tracing::info!(
            %addr,
            instance = state.instance.to_str().unwrap_or_default(),
            database = ?state.db.backend(),
            "listening"
        );
        Ok(Self {
            listener,
            addr,
            state,
        })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state, e.g. for a test to read the database directly.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The router with every route and layer, for embedding.
    pub fn router(&self) -> Router {
        crate::http::router(self.state.clone())
    }

    /// Serves until `shutdown` resolves, then drains (see the module docs) and returns.
    ///
    /// # Errors
    ///
    /// When the server fails to accept connections.
    pub async fn run_until<F>(self, shutdown: F) -> anyhow::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let router = self.router();
        let Self {
            listener, state, ..
        } = self;
        let draining = state.draining.clone();
        let drain = Duration::from_secs(state.config.drain_secs);
        let finish = Duration::from_secs(state.config.shutdown_timeout_secs);
        let (drain_over, drain_over_rx) = tokio::sync::oneshot::channel::<()>();
        let drained = async move {
            shutdown.await;
            draining.cancel();
            tracing::info!(
                drain_secs = drain.as_secs(),
                "draining: /readyz now answers 503"
            );
            tokio::time::sleep(drain).await;
            tracing::info!("drain period over; finishing in-flight requests");
            let _ = drain_over.send(());
        };
        // Once the drain is over, requests in flight get `finish`; one that outlives it
        // (a client trickling a body) does not keep the instance from exiting.
        let finish_deadline = async move {
            match drain_over_rx.await {
                Ok(()) => tokio::time::sleep(finish).await,
                Err(_) => std::future::pending().await,
            }
        };
        let serve = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(drained)
        .into_future();
        tokio::select! {
            served = serve => served.context("serving HTTP")?,
            () = finish_deadline => tracing::warn!(
                shutdown_timeout_secs = finish.as_secs(),
                "requests still in flight after shutdown_timeout_secs; stopping anyway"
            ),
        }
        if tokio::time::timeout(finish, state.db.close())
            .await
            .is_err()
        {
            tracing::warn!("database connections still in use; stopping anyway");
        }
        tracing::info!("stopped");
        Ok(())
    }
}
