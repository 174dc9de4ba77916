//! JWTs: HS256 with `sub`, `iat` and `exp`, signed with the secret every instance shares.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Why a token could not be issued, or was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Signing failed. Only a broken key can cause it, so it is internal.
    #[error("signing a token")]
    Signing(#[source] jsonwebtoken::errors::Error),
    /// A token that is malformed, signed with another secret, or expired.
    #[error("invalid or expired token")]
    Invalid(#[source] jsonwebtoken::errors::Error),
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
}

/// Signing and verification keys and the token lifetime, kept in state.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    lifetime: Duration,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// Keys from the shared secret.
    pub fn new(secret: &[u8], lifetime: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            lifetime,
        }
    }

    /// A fresh token for `user_id`.
    ///
    /// # Errors
    ///
    /// [`Error::Signing`], only if signing fails.
    pub fn issue(&self, user_id: &str) -> Result<String, Error> {
        let now = chrono::Utc::now().timestamp();
        let lifetime = i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            sub: user_id.to_owned(),
            iat: now,
            exp: now.saturating_add(lifetime),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(Error::Signing)
    }

    /// The claims of a token that is well-formed, signed with our secret and not expired.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`], with why the token was refused.
    pub fn verify(&self, token: &str) -> Result<Claims, Error> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(Error::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_with_its_own_secret_only() {
        let tokens = Tokens::new(b"one secret", Duration::from_secs(60));
        let token = tokens.issue("user-1").expect("issue");
        let claims = tokens.verify(&token).expect("verify");
        assert_eq!(claims.sub, "user-1");
        assert_eq!(claims.exp - claims.iat, 60);

        let others = Tokens::new(b"another secret", Duration::from_secs(60));
        assert!(matches!(others.verify(&token), Err(Error::Invalid(_))));
        assert!(matches!(
            tokens.verify("not.a.token"),
            Err(Error::Invalid(_))
        ));
    }
}
