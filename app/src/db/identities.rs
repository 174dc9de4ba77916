//! External identities (a provider's subject linked to a user) and the one-time codes the
//! sign-in callback hands the page.

use super::users::{self, User};
use super::{Db, Error};

/// What a provider said about the person signing in.
#[derive(Debug, Clone)]
pub struct ExternalAccount {
    /// The provider's id from `[[oauth.providers]]`.
    pub provider: String,
    /// The provider's stable id for the person.
    pub subject: String,
    /// Normalised email, when the provider gave one.
    pub email: Option<String>,
    /// Whether the provider vouches for the email.
    pub email_verified: bool,
}

/// Why a sign-in could not be tied to an account.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// A password account has this email, and the provider does not vouch for it: linking
    /// would let whoever controls the provider account take over ours.
    #[error("an account with this email exists, and the provider has not verified the email")]
    UnverifiedEmailCollision,
    /// Anything else.
    #[error(transparent)]
    Database(#[from] Error),
}

/// The hash stored for accounts made by a provider sign-in: no password verifies against
/// it (it is not a PHC string), and a password can be set later only through a new flow.
pub const NO_PASSWORD: &str = "!oauth-only";

/// Finds the user for `account`, linking or creating one as the account rules say: a known
/// identity signs its user in; a verified email of an existing user links to that user;
/// otherwise a new user is made (with the email when it is verified and free).
///
/// # Errors
///
/// [`LinkError::UnverifiedEmailCollision`], or database failures.
pub async fn sign_in(db: &Db, account: &ExternalAccount) -> Result<User, LinkError> {
    if let Some(user) = find_user(db, &account.provider, &account.subject).await? {
        return Ok(user);
    }
    let existing = match &account.email {
        Some(email) => users::find_by_email(db, email).await?,
        None => None,
    };
    let user = match existing {
        Some(credentials) if account.email_verified => credentials.into_user(),
        Some(_) => return Err(LinkError::UnverifiedEmailCollision),
        None => {
            // An unverified email is not claimed: a synthetic, undeliverable one stands in.
            let email = match (&account.email, account.email_verified) {
                (Some(email), true) => email.clone(),
                _ => format!(
                    "{}@{}.oauth.invalid",
                    hex::encode(sha2::Sha256::digest(account.subject.as_bytes()))
                        .get(..24)
                        .unwrap_or_default(),
                    account.provider
                ),
            };
            match users::insert(db, &email, NO_PASSWORD).await {
                Ok(user) => user,
                Err(users::InsertError::DuplicateEmail) => {
                    return Err(LinkError::UnverifiedEmailCollision);
                }
                Err(users::InsertError::Database(error)) => return Err(error.into()),
            }
        }
    };
    let insert = sqlx::query(
        "INSERT INTO external_identities (provider, subject, user_id, email, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&account.provider)
    .bind(&account.subject)
    .bind(&user.id)
    .bind(account.email.clone())
    .bind(super::now_text())
    .execute(db.pool());
    match db.guard(insert).await {
        Ok(_) => Ok(user),
        // A concurrent first sign-in of the same identity won: use its link.
        Err(Error::Query(sqlx::Error::Database(error))) if error.is_unique_violation() => {
            find_user(db, &account.provider, &account.subject)
                .await?
                .ok_or(LinkError::Database(Error::Query(sqlx::Error::RowNotFound)))
        }
        Err(error) => Err(error.into()),
    }
}

async fn find_user(db: &Db, provider: &str, subject: &str) -> Result<Option<User>, Error> {
    let query = sqlx::query_as(
        "SELECT u.id, u.email, u.created_at FROM external_identities i \
         JOIN users u ON u.id = i.user_id WHERE i.provider = $1 AND i.subject = $2",
    )
    .bind(provider.to_owned())
    .bind(subject.to_owned())
    .fetch_optional(db.pool());
    db.guard(query).await
}

/// Stores a one-time code (its hash) for `user_id`, valid until `expires_at_ms`.
///
/// # Errors
///
/// Database failures.
pub async fn store_code(
    db: &Db,
    code_hash: &str,
    user_id: &str,
    expires_at_ms: i64,
) -> Result<(), Error> {
    let query = sqlx::query(
        "INSERT INTO oauth_login_codes (code_hash, user_id, expires_at_ms) VALUES ($1, $2, $3)",
    )
    .bind(code_hash.to_owned())
    .bind(user_id.to_owned())
    .bind(expires_at_ms)
    .execute(db.pool());
    db.guard(query).await.map(|_| ())
}

/// Takes a code: the user it was for when it exists and has not expired, and the code is
/// gone either way, so it works once. Expired codes are swept at the same time.
///
/// # Errors
///
/// Database failures.
pub async fn take_code(db: &Db, code_hash: &str, now_ms: i64) -> Result<Option<String>, Error> {
    let take = sqlx::query_scalar(
        "DELETE FROM oauth_login_codes WHERE code_hash = $1 AND expires_at_ms > $2 \
         RETURNING user_id",
    )
    .bind(code_hash.to_owned())
    .bind(now_ms)
    .fetch_optional(db.pool());
    let user_id: Option<String> = db.guard(take).await?;
    let sweep = sqlx::query("DELETE FROM oauth_login_codes WHERE expires_at_ms <= $1")
        .bind(now_ms)
        .execute(db.pool());
    db.guard(sweep).await?;
    Ok(user_id)
}

use sha2::Digest as _;
