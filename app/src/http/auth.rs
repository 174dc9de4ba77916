//! Accounts and tokens: register, log in, and who am I.
//!
//! Emails are trimmed and lower-cased before anything else sees them. Passwords are hashed
//! with argon2id in the bounded hashing pool (503 with `Retry-After` when it stays full).
//! Registrations are limited per client address, and failed logins per account and
//! address, per account and per address, in the database, so each 429 holds across every
//! instance behind the balancer.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{StatusCode, header};
use serde::{Deserialize, Serialize};

use super::extract::{AuthUser, ClientIp, Json};
use super::{Error, Result};
use crate::auth::password;
use crate::db::attempts::{self, Ledger, Reservation};
use crate::db::users;
use crate::state::AppState;

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest accepted password, in characters; bounds the hashing work per request.
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// Longest password a login considers, in bytes; longer is 422 before any database work.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest email, in bytes (RFC 5321's path limit).
pub const MAX_EMAIL_BYTES: usize = 254;

/// `POST /api/auth/register`, `POST /api/auth/login`, `GET /api/auth/me`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/me", get(me))
}

/// Register and login bodies. Missing fields read as empty, so validation can name them.
#[derive(Debug, Deserialize)]
struct CredentialsBody {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// What register and login return.
#[derive(Debug, Serialize)]
struct TokenResponse {
    token: String,
    user: users::User,
}

/// An email and password that passed validation.
struct NewAccount {
    email: String,
    password: String,
}

impl TryFrom<CredentialsBody> for NewAccount {
    type Error = Error;

    fn try_from(body: CredentialsBody) -> Result<Self> {
        let email = normalise_email(&body.email);
        let mut fields = BTreeMap::new();
        if let Err(reason) = validate_email(&email) {
            fields.insert("email", reason.to_owned());
        }
        let chars = body.password.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            fields.insert(
                "password",
                format!("must be at least {MIN_PASSWORD_CHARS} characters"),
            );
        } else if chars > MAX_PASSWORD_CHARS {
            fields.insert(
                "password",
                format!("must be at most {MAX_PASSWORD_CHARS} characters"),
            );
        }
        Error::fields(fields)?;
        Ok(Self {
            email,
            password: body.password,
        })
    }
}

async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<CredentialsBody>,
) -> Result<Response> {
    let account = NewAccount::try_from(body)?;
    let config = &state.config;
    let window_ms = millis(config.register_window_secs);
    let now = attempts::now_ms();
    let ip_key = format!("ip:{ip}");
    let limits = [(ip_key.as_str(), config.register_max_per_ip)];
    let reserved =
        match attempts::reserve(&state.db, Ledger::Registrations, &limits, window_ms, now).await? {
            Reservation::Granted { ids, .. } => ids,
            Reservation::Blocked { until_ms } => {
                return Err(Error::TooManyRegistrations {
                    retry_after_secs: retry_after_secs(until_ms, now),
                });
            }
        };
    let hash = match password::hash_blocking(&state.pools.hashing, account.password).await {
        Ok(hash) => hash,
        // Turned away before any work (a full hashing pool): the attempt does not count.
        Err(error) => {
            attempts::release(&state.db, Ledger::Registrations, &reserved).await?;
            return Err(error.into());
        }
    };
    let user = users::insert(&state.db, &account.email, &hash)
        .await
        .map_err(|error| match error {
            users::InsertError::DuplicateEmail => {
                Error::Conflict("an account with this email already exists")
            }
            users::InsertError::Database(error) => error.into(),
        })?;
    let token = state.tokens.issue(&user.id)?;
    Ok(token_response(
        StatusCode::CREATED,
        TokenResponse { token, user },
    ))
}

/// Login checks every limit and reserves one failure per key *before* verifying, in one
/// transaction, so concurrent guesses cannot all pass the check (see `db::attempts`). A
/// right password gives the reservation back and clears this address's failures for the
/// account; the account-wide count is kept, so the owner logging in does not reset the
/// ceiling on guesses.
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<CredentialsBody>,
) -> Result<Response> {
    let email = normalise_email(&body.email);
    let mut fields = BTreeMap::new();
    if email.is_empty() {
        fields.insert("email", "is required".to_owned());
    } else if let Err(reason) = check_email_text(&email) {
        fields.insert("email", reason.to_owned());
    }
    if body.password.is_empty() {
        fields.insert("password", "is required".to_owned());
    } else if body.password.len() > MAX_PASSWORD_BYTES {
        fields.insert(
            "password",
            format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
        );
    }
    Error::fields(fields)?;

    let config = &state.config;
    let window_ms = millis(config.login_window_secs);
    let now = attempts::now_ms();
    let pair_key = format!("pair:{ip} {email}");
    let account_key = format!("account:{email}");
    let ip_key = format!("ip:{ip}");
    let limits = [
        (
            pair_key.as_str(),
            config.login_max_failures_per_account_and_ip,
        ),
        (account_key.as_str(), config.login_max_failures_per_account),
        (ip_key.as_str(), config.login_max_failures_per_ip),
    ];
    let (reserved, recent) =
        match attempts::reserve(&state.db, Ledger::LoginFailures, &limits, window_ms, now).await? {
            Reservation::Granted { ids, recent } => (ids, recent),
            Reservation::Blocked { until_ms } => {
                return Err(Error::TooManyAttempts {
                    retry_after_secs: retry_after_secs(until_ms, now),
                });
            }
        };
    // Guesses spread over many addresses slow down as the account's failures grow.
    let account_failures = recent.get(1).copied().unwrap_or(0);
    let delay = guess_delay(
        account_failures,
        config.login_max_failures_per_account_and_ip,
        config.login_delay_max_ms,
    );
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }

    let verified = verify(&state, &email, body.password).await;
    match verified {
        Ok(Some(found)) => {
            attempts::release(&state.db, Ledger::LoginFailures, &reserved).await?;
            attempts::clear(&state.db, Ledger::LoginFailures, &pair_key).await?;
            let user = found.into_user();
            let token = state.tokens.issue(&user.id)?;
            Ok(token_response(
                StatusCode::OK,
                TokenResponse { token, user },
            ))
        }
        Ok(None) => Err(Error::InvalidCredentials),
        // Nothing was verified (a full hashing pool, a database error): not a failure.
        Err(error) => {
            attempts::release(&state.db, Ledger::LoginFailures, &reserved).await?;
            Err(error)
        }
    }
}

/// The account, when `password` is its password. Unknown emails are checked against a
/// dummy hash, so they take as long as a wrong password.
async fn verify(
    state: &AppState,
    email: &str,
    password: String,
) -> Result<Option<users::Credentials>> {
    let credentials = users::find_by_email(&state.db, email).await?;
    let hash = credentials.as_ref().map_or_else(
        || state.dummy_password_hash.to_string(),
        |found| found.password_hash.clone(),
    );
    let matches = password::verify_blocking(&state.pools.hashing, password, hash).await?;
    Ok(credentials.filter(|_| matches))
}

/// How long a login waits before verifying, given the account's failures in the window:
/// nothing up to one address's allowance, then 100 ms doubling with each further failure,
/// at most `max_ms`.
fn guess_delay(account_failures: i64, per_address: u32, max_ms: u64) -> std::time::Duration {
    let beyond = account_failures.saturating_sub(i64::from(per_address));
    if beyond <= 0 {
        return std::time::Duration::ZERO;
    }
    let doublings = u32::try_from(beyond - 1).unwrap_or(u32::MAX).min(20);
    std::time::Duration::from_millis(100u64.saturating_mul(1 << doublings).min(max_ms))
}

/// Seconds, for a limit's window, as milliseconds.
fn millis(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// Whole seconds from `now_ms` until `until_ms`, at least 1.
fn retry_after_secs(until_ms: i64, now_ms: i64) -> u64 {
    u64::try_from(until_ms - now_ms)
        .unwrap_or(0)
        .div_ceil(1000)
        .max(1)
}

async fn me(State(state): State<AppState>, user: AuthUser) -> Result<Response> {
    // A valid token for an account that no longer exists is as good as a bad token.
    let user = users::find(&state.db, &user.id)
        .await?
        .ok_or(Error::InvalidToken)?;
    Ok(token_free_response(user))
}

fn token_response(status: StatusCode, body: TokenResponse) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

fn token_free_response(user: users::User) -> Response {
    (
        [(header::CACHE_CONTROL, "private, no-store")],
        Json(serde_json::json!({ "user": user })),
    )
        .into_response()
}

/// Trimmed and lower-cased: how emails are stored and compared.
pub fn normalise_email(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// What both register and login check before an email goes near the database: its
/// length, and no control characters (Postgres refuses NUL in text).
fn check_email_text(email: &str) -> Result<(), &'static str> {
    if email.len() > MAX_EMAIL_BYTES {
        return Err("must be at most 254 bytes");
    }
    if email.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(())
}

/// A plausible address: one `@`, something before it, a dotted domain after it, no spaces.
fn validate_email(email: &str) -> Result<(), &'static str> {
    if email.is_empty() {
        return Err("is required");
    }
    check_email_text(email)?;
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if valid {
        Ok(())
    } else {
        Err("must be an email address")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guess_delay_grows_past_one_address_allowance_up_to_its_cap() {
        let ms = |failures| guess_delay(failures, 5, 2_000).as_millis();
        assert_eq!((ms(0), ms(5)), (0, 0));
        assert_eq!((ms(6), ms(7), ms(8)), (100, 200, 400));
        assert_eq!((ms(10), ms(49)), (1_600, 2_000));
        assert_eq!(guess_delay(40, 5, 0).as_millis(), 0, "0 turns it off");
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(normalise_email("  Ada@Example.ORG "), "ada@example.org");
        assert!(validate_email("ada@example.org").is_ok());
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.org",
            "ada@example",
            "a da@example.org",
            "a@b@c.d",
        ] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
    }
}
