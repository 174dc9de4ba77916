//! Attempts that are limited per key over a sliding window: failed logins and
//! registrations. They live in the database so a limit holds across every instance behind
//! the balancer.
//!
//! Checking a limit and recording an attempt happen in one write transaction
//! ([`reserve`]): SQLite serialises write transactions, and on Postgres the transaction
//! takes the ledger's table lock first. So concurrent requests can never all pass the
//! check before any of them is recorded: a login's attempt is reserved *before* its
//! password is verified, and only given back ([`release`]) when the password was right.
//! Every reservation also forgets the ledger's expired rows, for all keys.

use super::{Backend, Db, Error};

/// Which ledger an attempt goes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ledger {
    /// Failed logins, keyed `pair:<address> <email>`, `account:<email>` and `ip:<address>`.
    LoginFailures,
    /// Registrations, keyed `ip:<address>`.
    Registrations,
}

impl Ledger {
    fn table(self) -> &'static str {
        match self {
            Self::LoginFailures => "login_failures",
            Self::Registrations => "register_attempts",
        }
    }

    /// The column holding when the attempt happened, in ms since the epoch.
    fn at(self) -> &'static str {
        match self {
            Self::LoginFailures => "failed_at_ms",
            Self::Registrations => "attempted_at_ms",
        }
    }
}

/// What [`reserve`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// No limit was reached; one attempt is recorded per key.
    Granted {
        /// The recorded rows, to [`release`] if the attempt turns out not to count.
        ids: Vec<i64>,
        /// Per key, the attempts already in the window before this one.
        recent: Vec<i64>,
    },
    /// A limit is reached until this time (ms since the epoch); nothing was recorded.
    Blocked {
        /// When the last blocking key drops back under its limit.
        until_ms: i64,
    },
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Atomically: forgets the ledger's rows older than the window (for every key), checks
/// each `(key, max)` (blocked while `max` or more attempts lie in the window), and when
/// none is blocked records one attempt per key.
///
/// # Errors
///
/// Database failures; nothing is recorded then.
pub async fn reserve(
    db: &Db,
    ledger: Ledger,
    limits: &[(&str, u32)],
    window_ms: i64,
    now_ms: i64,
) -> Result<Reservation, Error> {
    db.guard(reserve_in_one_transaction(
        db, ledger, limits, window_ms, now_ms,
    ))
    .await
}

async fn reserve_in_one_transaction(
    db: &Db,
    ledger: Ledger,
    limits: &[(&str, u32)],
    window_ms: i64,
    now_ms: i64,
) -> Result<Reservation, sqlx::Error> {
    let (table, at) = (ledger.table(), ledger.at());
    let horizon = now_ms.saturating_sub(window_ms);
    let mut tx = db.begin_write().await?;
    if db.backend() == Backend::Postgres {
        // EXCLUSIVE still lets plain reads through, but only one reserving transaction.
        sqlx::query(&format!("LOCK TABLE {table} IN EXCLUSIVE MODE"))
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(&format!("DELETE FROM {table} WHERE {at} <= $1"))
        .bind(horizon)
        .execute(&mut *tx)
        .await?;
    let mut blocked_until = None;
    let mut recent = Vec::with_capacity(limits.len());
    for (key, max) in limits {
        let count: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM {table} WHERE key = $1 AND {at} > $2"
        ))
        .bind(*key)
        .bind(horizon)
        .fetch_one(&mut *tx)
        .await?;
        recent.push(count);
        if count < i64::from(*max) {
            continue;
        }
        // The `max`-th newest attempt is the one whose expiry lifts the block.
        let offset = i64::from(max.saturating_sub(1));
        let at: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT {at} FROM {table} WHERE key = $1 AND {at} > $2 \
             ORDER BY {at} DESC LIMIT 1 OFFSET $3"
        ))
        .bind(*key)
        .bind(horizon)
        .bind(offset)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(at) = at {
            blocked_until = blocked_until.max(Some(at.saturating_add(window_ms)));
        }
    }
    if let Some(until_ms) = blocked_until {
        tx.rollback().await?;
        return Ok(Reservation::Blocked { until_ms });
    }
    let mut ids = Vec::with_capacity(limits.len());
    for (key, _) in limits {
        let id: i64 = sqlx::query_scalar(&format!(
            "INSERT INTO {table} (key, {at}) VALUES ($1, $2) RETURNING id"
        ))
        .bind(*key)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await?;
        ids.push(id);
    }
    tx.commit().await?;
    Ok(Reservation::Granted { ids, recent })
}

/// Gives back attempts that turned out not to count (a login whose password was right).
///
/// # Errors
///
/// Database failures.
pub async fn release(db: &Db, ledger: Ledger, ids: &[i64]) -> Result<(), Error> {
    let table = ledger.table();
    db.guard(async {
        for id in ids {
            sqlx::query(&format!("DELETE FROM {table} WHERE id = $1"))
                .bind(*id)
                .execute(db.pool())
                .await?;
        }
        Ok(())
    })
    .await
}

/// Forgets every attempt of `key`, e.g. an address's failures after it logged in.
///
/// # Errors
///
/// Database failures.
pub async fn clear(db: &Db, ledger: Ledger, key: &str) -> Result<(), Error> {
    let sql = format!("DELETE FROM {} WHERE key = $1", ledger.table());
    let query = sqlx::query(&sql).bind(key).execute(db.pool());
    db.guard(query).await.map(|_| ())
}

/// Attempts of `key` recorded in the ledger, expired or not, for tests.
///
/// # Errors
///
/// Database failures.
pub async fn count(db: &Db, ledger: Ledger, key: &str) -> Result<i64, Error> {
    let sql = format!("SELECT COUNT(*) FROM {} WHERE key = $1", ledger.table());
    let query = sqlx::query_scalar(&sql).bind(key).fetch_one(db.pool());
    db.guard(query).await
}
