//! Accounts: an email (normalised before it gets here) and an argon2id hash.

use serde::Serialize;

use super::{Db, Error};

/// An account as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct User {
    /// UUIDv7.
    pub id: String,
    /// Trimmed and lower-cased.
    pub email: String,
    /// RFC 3339.
    pub created_at: String,
}

/// An account with its password hash, for login only.
#[derive(Debug, sqlx::FromRow)]
pub struct Credentials {
    /// UUIDv7.
    pub id: String,
    /// Trimmed and lower-cased.
    pub email: String,
    /// RFC 3339.
    pub created_at: String,
    /// PHC-format argon2id hash.
    pub password_hash: String,
}

impl Credentials {
    /// The account without its hash.
    pub fn into_user(self) -> User {
        User {
            id: self.id,
            email: self.email,
            created_at: self.created_at,
        }
    }
}

/// Why an account could not be created.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    /// Another account has this email.
    #[error("email already registered")]
    DuplicateEmail,
    /// Anything else.
    #[error(transparent)]
    Database(#[from] Error),
}

/// Creates an account.
///
/// # Errors
///
/// [`InsertError::DuplicateEmail`] when the email is taken.
pub async fn insert(db: &Db, email: &str, password_hash: &str) -> Result<User, InsertError> {
    let user = User {
        id: uuid::Uuid::now_v7().to_string(),
        email: email.to_owned(),
        created_at: super::now_text(),
    };
    let insert = sqlx::query(
        "INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&user.id)
    .bind(&user.email)
    .bind(password_hash)
    .bind(&user.created_at)
    .execute(db.pool());
    match db.guard(insert).await {
        Ok(_) => Ok(user),
        Err(Error::Query(sqlx::Error::Database(error))) if error.is_unique_violation() => {
            Err(InsertError::DuplicateEmail)
        }
        Err(error) => Err(error.into()),
    }
}

/// The account with this (normalised) email, with its hash.
///
/// # Errors
///
/// Database failures.
pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<Credentials>, Error> {
    let query =
        sqlx::query_as("SELECT id, email, created_at, password_hash FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(db.pool());
    db.guard(query).await
}

/// The account with this id.
///
/// # Errors
///
/// Database failures.
pub async fn find(db: &Db, id: &str) -> Result<Option<User>, Error> {
    let query = sqlx::query_as("SELECT id, email, created_at FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool());
    db.guard(query).await
}
