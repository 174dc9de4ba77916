//! Failed logins, stored in the database so the limit holds across every instance behind
//! the balancer. Keys are `account:<email>` and `ip:<address>`.

use super::{Db, Error};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// When `key` is over its limit, the time (ms since epoch) at which it drops back under it.
///
/// The key is blocked while `max_failures` or more failures lie inside the window; the
/// `max_failures`-th newest is the one whose expiry lifts the block.
///
/// # Errors
///
/// Database failures.
pub async fn blocked_until(
    db: &Db,
    key: &str,
    max_failures: u32,
    window_ms: i64,
    now_ms: i64,
) -> Result<Option<i64>, Error> {
    let offset = i64::from(max_failures.saturating_sub(1));
    let query = sqlx::query_scalar(
        "SELECT failed_at_ms FROM login_failures WHERE key = $1 AND failed_at_ms > $2 \
         ORDER BY failed_at_ms DESC LIMIT 1 OFFSET $3",
    )
    .bind(key)
    .bind(now_ms - window_ms)
    .bind(offset)
    .fetch_optional(db.pool());
    let failed_at: Option<i64> = db.guard(query).await?;
    Ok(failed_at.map(|at| at + window_ms))
}

/// Records one failure for each key and forgets their failures older than the window.
///
/// # Errors
///
/// Database failures.
pub async fn record(db: &Db, keys: &[&str], window_ms: i64, now_ms: i64) -> Result<(), Error> {
    db.guard(async {
        for key in keys {
            sqlx::query("DELETE FROM login_failures WHERE key = $1 AND failed_at_ms <= $2")
                .bind(*key)
                .bind(now_ms - window_ms)
                .execute(db.pool())
                .await?;
            sqlx::query("INSERT INTO login_failures (key, failed_at_ms) VALUES ($1, $2)")
                .bind(*key)
                .bind(now_ms)
                .execute(db.pool())
                .await?;
        }
        Ok(())
    })
    .await
}

/// Forgets the failures of `key`, after a successful login.
///
/// # Errors
///
/// Database failures.
pub async fn clear(db: &Db, key: &str) -> Result<(), Error> {
    let query = sqlx::query("DELETE FROM login_failures WHERE key = $1")
        .bind(key)
        .execute(db.pool());
    db.guard(query).await.map(|_| ())
}
