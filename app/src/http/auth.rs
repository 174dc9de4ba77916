//! Accounts and tokens: register, log in, and who am I.
//!
//! Emails are trimmed and lower-cased before anything else sees them. Passwords are hashed
//! with argon2id on a blocking thread. Failed logins are counted in the database per account
//! and per client address, so the 429 holds across every instance behind the balancer.

pub mod password;
pub mod token;

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{StatusCode, header};
use serde::{Deserialize, Serialize};

use super::extract::{AuthUser, ClientIp, Json};
use super::{Error, Result};
use crate::db::{login_failures, users};
use crate::state::AppState;

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest accepted password, in characters; bounds the hashing work per request.
pub const MAX_PASSWORD_CHARS: usize = 1024;

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
        if !fields.is_empty() {
            let message = fields
                .iter()
                .map(|(field, reason)| format!("{field}: {reason}"))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(Error::Validation { message, fields });
        }
        Ok(Self {
            email,
            password: body.password,
        })
    }
}

async fn register(
    State(state): State<AppState>,
    Json(body): Json<CredentialsBody>,
) -> Result<Response> {
    let account = NewAccount::try_from(body)?;
    let hash = password::hash_blocking(account.password).await?;
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

async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<CredentialsBody>,
) -> Result<Response> {
    let email = normalise_email(&body.email);
    let mut fields = BTreeMap::new();
    if email.is_empty() {
        fields.insert("email", "is required".to_owned());
    }
    if body.password.is_empty() {
        fields.insert("password", "is required".to_owned());
    }
    if !fields.is_empty() {
        return Err(Error::Validation {
            message: "email and password are required".to_owned(),
            fields,
        });
    }

    let config = &state.config;
    let window_ms =
        i64::try_from(config.login_window_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let now = login_failures::now_ms();
    let account_key = format!("account:{email}");
    let ip_key = format!("ip:{ip}");
    let limits = [
        (&account_key, config.login_max_failures_per_account),
        (&ip_key, config.login_max_failures_per_ip),
    ];
    let mut blocked_until = None;
    for (key, max) in limits {
        if let Some(until) =
            login_failures::blocked_until(&state.db, key, max, window_ms, now).await?
        {
            blocked_until = blocked_until.max(Some(until));
        }
    }
    if let Some(until) = blocked_until {
        let wait_ms = u64::try_from(until - now).unwrap_or(0);
        return Err(Error::TooManyAttempts {
            retry_after_secs: wait_ms.div_ceil(1000).max(1),
        });
    }

    let credentials = users::find_by_email(&state.db, &email).await?;
    let hash = credentials.as_ref().map_or_else(
        || state.dummy_password_hash.to_string(),
        |found| found.password_hash.clone(),
    );
    let matches = password::verify_blocking(body.password, hash).await?;
    match credentials {
        Some(found) if matches => {
            login_failures::clear(&state.db, &account_key).await?;
            let user = found.into_user();
            let token = state.tokens.issue(&user.id)?;
            Ok(token_response(
                StatusCode::OK,
                TokenResponse { token, user },
            ))
        }
        _ => {
            login_failures::record(&state.db, &[&account_key, &ip_key], window_ms, now).await?;
            Err(Error::InvalidCredentials)
        }
    }
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

/// A plausible address: one `@`, something before it, a dotted domain after it, no spaces.
fn validate_email(email: &str) -> Result<(), &'static str> {
    if email.is_empty() {
        return Err("is required");
    }
    if email.len() > 254 {
        return Err("must be at most 254 characters");
    }
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
