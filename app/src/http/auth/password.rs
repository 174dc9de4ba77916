//! Argon2id hashing, always off the async worker threads.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::http::Error;

/// Hashes `password` into a PHC string on a blocking thread.
///
/// # Errors
///
/// Only if hashing itself fails, which is internal.
pub async fn hash_blocking(password: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|error| Error::Internal(anyhow::anyhow!("hashing task failed: {error}")))?
}

/// Whether `password` matches `hash`, checked on a blocking thread.
///
/// # Errors
///
/// Only if the task cannot run.
pub async fn verify_blocking(password: String, hash: String) -> Result<bool, Error> {
    tokio::task::spawn_blocking(move || verify(&password, &hash))
        .await
        .map_err(|error| Error::Internal(anyhow::anyhow!("verify task failed: {error}")))
}

/// Hashes with argon2id, default parameters and a random salt.
///
/// # Errors
///
/// Only if the parameters are invalid, which is internal.
pub fn hash(password: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| Error::Internal(anyhow::anyhow!("argon2: {error}")))
}

/// Whether `password` matches the PHC string `hash`; a malformed hash never matches.
pub fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}
