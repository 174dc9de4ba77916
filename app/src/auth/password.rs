//! Argon2id hashing, always off the async worker threads, in the bounded hashing pool.
//!
//! Each thread that hashes keeps one argon2 work area (19 MiB with the default
//! parameters) for its whole life instead of allocating one per hash. The allocator would
//! otherwise keep freed work areas around per thread and per arena, and the instance's
//! memory would grow with the number of hashes done rather than with the number of
//! hashing threads.

use std::cell::RefCell;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::work::{Busy, JobFailed, Pool};

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Every hashing slot stayed taken for the queue wait. Nothing was started, so the
    /// caller may retry, here or on another instance.
    #[error(transparent)]
    Busy(#[from] Busy),
    /// The hashing job panicked.
    #[error(transparent)]
    Failed(#[from] JobFailed),
    /// Argon2 refused its own parameters or salt, which is internal.
    #[error("argon2: {0}")]
    Argon2(argon2::password_hash::Error),
}

thread_local! {
    /// This thread's argon2 work area, grown to the largest parameters seen.
    static WORK_AREA: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Hashes `password` into a PHC string on a thread of `pool`.
///
/// # Errors
///
/// [`Error::Busy`] when the pool stays full; otherwise only if hashing itself fails.
pub async fn hash_blocking(pool: &Pool, password: String) -> Result<String, Error> {
    pool.spawn(move || hash(&password)).await?.await?
}

/// Whether `password` matches `hash`, checked on a thread of `pool`.
///
/// # Errors
///
/// [`Error::Busy`] when the pool stays full; otherwise only if the task cannot run.
pub async fn verify_blocking(pool: &Pool, password: String, hash: String) -> Result<bool, Error> {
    Ok(pool.spawn(move || verify(&password, &hash)).await?.await?)
}

/// Hashes with argon2id, default parameters and a random salt.
///
/// # Errors
///
/// [`Error::Argon2`], only if the parameters are invalid.
pub fn hash(password: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut OsRng);
    let params = Params::default();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt
        .as_salt()
        .decode_b64(&mut salt_bytes)
        .map_err(Error::Argon2)?;
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = Output::init_with(output_len, |out| {
        compute(&argon2, password.as_bytes(), salt_raw, out)
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .map_err(Error::Argon2)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params).try_into().map_err(Error::Argon2)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `hash`; a malformed hash never matches.
pub fn verify(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        Some(Ok(version)) => version,
        None => Version::default(),
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_raw) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params);
    Output::init_with(expected.len(), |out| {
        compute(&argon2, password.as_bytes(), salt_raw, out)
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    // `Output` compares in constant time.
    .is_ok_and(|computed| computed == expected)
}

/// Runs argon2 into `out` in this thread's work area.
fn compute(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> argon2::Result<()> {
    let blocks = argon2.params().block_count();
    WORK_AREA.with(|area| {
        let mut area = area.borrow_mut();
        if area.len() < blocks {
            area.resize(blocks, Block::default());
        }
        argon2.hash_password_into_with_memory(password, salt, out, &mut area[..blocks])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hash = hash("correct horse").expect("hash");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify("correct horse", &hash));
        assert!(!verify("wrong horse", &hash));
        assert!(!verify("correct horse", "not a hash"));
    }

    #[test]
    fn hashes_made_by_the_argon2_crate_still_verify() {
        use argon2::password_hash::PasswordHasher;
        let salt = SaltString::generate(&mut OsRng);
        let hash = Argon2::default()
            .hash_password(b"old password", &salt)
            .expect("hash")
            .to_string();
        assert!(verify("old password", &hash));
        assert!(!verify("new password", &hash));
    }
}
