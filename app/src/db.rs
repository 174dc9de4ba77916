//! The database: one pool over SQLite or Postgres (sqlx's `Any` driver), migrations that are
//! safe when several instances start at once, and one module per table.
//!
//! Every query is written once in SQL both engines accept, with `$N` placeholders, and every
//! value travels as a bound parameter. Write transactions start with
//! [`Db::begin_write`], which on SQLite takes the write lock up front (`BEGIN IMMEDIATE`)
//! so concurrent writers from several processes queue on the busy timeout instead of failing
//! with "database is locked" when a read snapshot cannot be upgraded.
//!
//! Every operation runs through [`Db::guard`]: a short acquire timeout bounds how long one
//! waits for a connection, and the [`breaker`] refuses operations at once while the
//! database is known to be unreachable, so an outage costs a fast 503, not a hung request.

pub mod attempts;
pub mod breaker;
pub mod datasets;
pub mod events;
pub mod identities;
pub mod users;

use std::future::Future;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Any, Executor, Transaction};

/// Migrations for SQLite, embedded in the binary.
pub static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");
/// Migrations for Postgres, embedded in the binary.
pub static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// How long a SQLite connection waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How many times a SQLite migration run is retried when another instance raced it.
const SQLITE_MIGRATION_ATTEMPTS: u32 = 20;
/// How long a starting instance waits for the database to come up, whatever the acquire
/// timeout: a fleet started beside its database should not exit for being early.
const STARTUP_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often start-up tries the database again while it is unreachable.
const STARTUP_RETRY_EVERY: Duration = Duration::from_millis(250);

use self::breaker::{Breaker, Outcome, Transition};

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The breaker is open: the database is known to be unreachable, and nothing was tried.
    #[error(transparent)]
    Down(#[from] breaker::Open),
    /// The driver's error (the breaker has counted it).
    #[error(transparent)]
    Query(#[from] sqlx::Error),
}

/// How the pool and its breaker behave; from the app's configuration.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Most connections this instance holds.
    pub max_connections: u32,
    /// Longest wait for a connection before an operation fails as unreachable.
    pub acquire_timeout: Duration,
    /// When to stop trying and when to try again.
    pub breaker: breaker::Settings,
}

impl From<&crate::config::Config> for Settings {
    fn from(config: &crate::config::Config) -> Self {
        Self {
            max_connections: config.db_max_connections,
            acquire_timeout: Duration::from_millis(config.db_acquire_timeout_ms),
            breaker: breaker::Settings {
                failures_to_open: config.db_breaker_failures_to_open,
                probe_interval: Duration::from_millis(config.db_breaker_probe_interval_ms),
            },
        }
    }
}

/// Which engine is behind the pool; a few statements differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file, for one machine.
    Sqlite,
    /// Postgres, shared by instances anywhere.
    Postgres,
}

impl Backend {
    /// The engine a URL names.
    ///
    /// # Errors
    ///
    /// For a scheme that is neither `sqlite:` nor `postgres:`/`postgresql:`, with
    /// [`Self::EXPECTED`] as the reason.
    pub fn of_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Self::Postgres)
        } else {
            anyhow::bail!(Self::EXPECTED)
        }
    }

    /// What a database URL must look like.
    pub const EXPECTED: &'static str = "expected sqlite://PATH or postgres://...";
}

/// The connection pool, the engine behind it and the breaker in front of it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// Shared by every clone, so one instance learns of an outage once.
    breaker: Arc<Breaker>,
    /// Bounds a probe's query as the pool bounds its wait for a connection.
    acquire_timeout: Duration,
}

impl Db {
    /// Connects, creating a SQLite file (and its directory) when needed, and runs the
    /// migrations.
    ///
    /// # Errors
    ///
    /// When the database cannot be reached, created or migrated.
    pub async fn connect(url: &str, settings: Settings) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url)?;
        if backend == Backend::Sqlite {
            prepare_sqlite(url).await?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        let busy_ms = SQLITE_BUSY_TIMEOUT.as_millis();
                        conn.execute(format!("PRAGMA busy_timeout = {busy_ms}").as_str())
                            .await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect_lazy(url)
            .context("parsing the database URL")?;
        wait_for_first_connection(url).await?;
        if backend == Backend::Postgres {
            // sqlx's Postgres migrator holds an advisory lock for the whole run, so
            // instances starting together apply each migration exactly once.
            POSTGRES_MIGRATOR
                .run(&pool)
                .await
                .context("running Postgres migrations")?;
        }
        Ok(Self {
            pool,
            backend,
            breaker: Arc::new(Breaker::new(settings.breaker)),
            acquire_timeout: settings.acquire_timeout,
        })
    }

    /// The pool, for queries inside [`Db::guard`].
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Runs one database operation through the breaker: refused at once while the database
    /// is known to be unreachable, otherwise run and its outcome counted. The operation that
    /// opens the breaker starts the background probe that will close it.
    ///
    /// # Errors
    ///
    /// [`Error::Down`] while the breaker is open, or the operation's own error.
    pub async fn guard<T>(
        &self,
        operation: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, Error> {
        self.breaker.admit()?;
        let result = operation.await;
        let outcome = match &result {
            Ok(_) => Outcome::Reached,
            Err(error) => breaker::classify(error),
        };
        if self.breaker.record(outcome) == Transition::Opened {
            if let Err(error) = &result {
                tracing::warn!(
                    %error,
                    probe_interval_ms = self.breaker.settings().probe_interval.as_millis(),
                    "database unreachable: failing fast and probing it in the background"
                );
            }
            self.spawn_probe();
        }
        result.map_err(Error::from)
    }

    /// Whether the breaker is open: the database is known to be unreachable.
    pub fn is_down(&self) -> bool {
        self.breaker.is_open()
    }

    /// Probes the database every probe interval until one probe reaches it, which closes
    /// the breaker. Ends early when the pool is closed (the instance is stopping).
    fn spawn_probe(&self) {
        let db = self.clone();
        let interval = self.breaker.settings().probe_interval;
        let bound = self.acquire_timeout + interval;
        tokio::spawn(async move {
            let opened = Instant::now();
            loop {
                tokio::time::sleep(interval).await;
                if db.pool.is_closed() {
                    return;
                }
                let outcome = match tokio::time::timeout(bound, db.select_one()).await {
                    Ok(Ok(())) => Outcome::Reached,
                    Ok(Err(error)) => breaker::classify(&error),
                    Err(_) => Outcome::Unreachable,
                };
                if db.breaker.record_probe(outcome) == Transition::Closed {
                    tracing::warn!(
                        down_ms = opened.elapsed().as_millis(),
                        "database reachable again: the breaker is closed"
                    );
                    return;
                }
            }
        });
    }

    async fn select_one(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    /// The engine behind the pool.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Succeeds when the database answers a trivial query (through the breaker).
    ///
    /// # Errors
    ///
    /// [`Error::Down`] while the breaker is open, or the driver's error.
    pub async fn ping(&self) -> Result<(), Error> {
        self.guard(self.select_one()).await
    }

    /// Begins a transaction that will write; on SQLite it holds the write lock from the start.
    ///
    /// # Errors
    ///
    /// When no connection is available or the lock is not granted within the busy timeout.
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Connections open (`in_use`, `idle`) for the pool gauge.
    pub fn pool_connections(&self) -> (u32, u32) {
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        let size = self.pool.size();
        (size.saturating_sub(idle), idle)
    }

    /// Closes every connection; later queries fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Waits up to [`STARTUP_CONNECT_TIMEOUT`] for the database to accept a connection.
///
/// Each attempt is a direct connection rather than a pool checkout, so the operator reads
/// the real cause ("Connection refused", a bad password) at once in a WARN line, and in the
/// error when the wait runs out, instead of "pool timed out" seconds later. A cause that
/// waiting cannot cure (the database answered and refused us) ends the wait at once.
async fn wait_for_first_connection(url: &str) -> anyhow::Result<()> {
    use sqlx::Connection as _;

    let deadline = Instant::now() + STARTUP_CONNECT_TIMEOUT;
    let mut warned = false;
    loop {
        match sqlx::AnyConnection::connect(url).await {
            Ok(connection) => {
                let _ = connection.close().await;
                return Ok(());
            }
            Err(error)
                if breaker::classify(&error) == Outcome::Unreachable
                    && Instant::now() < deadline =>
            {
                if !warned {
                    tracing::warn!(
                        %error,
                        "the database is not reachable yet; retrying for up to {}s",
                        STARTUP_CONNECT_TIMEOUT.as_secs()
                    );
                    warned = true;
                }
                tokio::time::sleep(STARTUP_RETRY_EVERY).await;
            }
            Err(error) => return Err(error).context("connecting to the database"),
        }
    }
}

/// Creates the SQLite file and its directory, switches it to WAL and migrates it.
///
/// SQLite has no advisory lock, so instances racing to migrate one file can see each other's
/// half-applied state as an error ("table already exists", a duplicate migration row). Each
/// migration runs in its own transaction, so the loser rolls back cleanly; running the
/// migrator again then finds the work done.
async fn prepare_sqlite(url: &str) -> anyhow::Result<()> {
    let options = SqliteConnectOptions::from_str(url)
        .context("parsing the SQLite URL")?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true);
    let file = options.get_filename();
    if let Some(dir) = file.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        create_dir(dir)?;
    }
    create_private_file(file)?;
    // A one-connection pool rather than a bare connection: `Migrator::run` on a pool keeps
    // the future `Send`, so `Application::build` can run on a spawned task.
    // Switching a fresh file to WAL takes an exclusive lock that SQLite does not wait for
    // when another instance opening the same file holds it; the loser opens again.
    let mut attempt = 1;
    let conn = loop {
        match SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
        {
            Ok(conn) => break conn,
            Err(error) if is_locked(&error) && attempt < SQLITE_MIGRATION_ATTEMPTS => {
                tracing::debug!(%error, attempt, "SQLite open raced another instance; retrying");
                tokio::time::sleep(Duration::from_millis(25 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("opening the SQLite database {}", file.display()));
            }
        }
    };
    let mut attempt = 1;
    loop {
        match SQLITE_MIGRATOR.run(&conn).await {
            Ok(()) => break,
            Err(error) if attempt < SQLITE_MIGRATION_ATTEMPTS => {
                tracing::debug!(%error, attempt, "SQLite migration raced another instance; retrying");
                tokio::time::sleep(Duration::from_millis(25 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(error) => return Err(error).context("running SQLite migrations"),
        }
    }
    conn.close().await;
    Ok(())
}

/// SQLite's "database is locked" (`SQLITE_BUSY`, code 5): another connection holds a lock.
fn is_locked(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(cause)
        if cause.code().as_deref() == Some("5") || cause.message().contains("database is locked"))
}

/// Creates the database directory (and missing parents) readable by this user only, and
/// makes an existing one so too: the directory holds the database and its journals.
/// Parents that already exist keep their mode.
fn create_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating the database directory {}", dir.display()))?;
    let mode = std::fs::metadata(dir)
        .with_context(|| format!("reading the database directory {}", dir.display()))?
        .permissions()
        .mode();
    if mode & 0o777 != 0o700 {
        // A directory this user does not own (a mounted volume) cannot be changed; the
        // database file inside is still 0600, so say so and go on rather than not start.
        if let Err(error) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
            tracing::warn!(%error, dir = %dir.display(), "could not make the database directory private (0700)");
        }
    }
    Ok(())
}

/// Creates the database file, if missing, readable and writable by this user only. SQLite
/// gives its `-wal` and `-shm` files the mode of the database file.
fn create_private_file(file: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => {
            Err(error).with_context(|| format!("creating the database file {}", file.display()))
        }
    }
}

/// Now as RFC 3339 UTC with milliseconds, the one timestamp format stored.
pub(crate) fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
