//! HTTP-01 key authorizations the proxy answers while an order is being validated: in
//! memory for its own orders, and in `storage_dir/challenges/` for every proxy sharing the
//! directory, because the CA's request may reach any of them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// The tokens of orders in progress and their key authorizations.
#[derive(Debug)]
pub struct Challenges {
    own: Mutex<HashMap<String, String>>,
    /// The shared directory, written by whichever proxy orders.
    dir: PathBuf,
}

/// Whether `token` can be a token at all (RFC 8555 §8.3: base64url), so it is safe as a
/// file name and nothing else is looked up.
pub fn is_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 256
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Challenges {
    /// Tokens published in memory and under `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            own: Mutex::new(HashMap::new()),
            dir,
        }
    }

    /// Answers `token` with `key_authorization` until [`Challenges::withdraw`].
    ///
    /// # Errors
    ///
    /// When the shared file cannot be written (this proxy still answers from memory).
    pub fn publish(&self, token: &str, key_authorization: &str) -> std::io::Result<()> {
        self.own
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(token.to_owned(), key_authorization.to_owned());
        if is_token(token) {
            std::fs::write(self.dir.join(token), key_authorization)?;
        }
        Ok(())
    }

    /// Stops answering `token`.
    pub fn withdraw(&self, token: &str) {
        self.own
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(token);
        if is_token(token) {
            let _ = std::fs::remove_file(self.dir.join(token));
        }
    }

    /// The key authorization for `token`, from this proxy's orders or the shared directory.
    pub async fn lookup(&self, token: &str) -> Option<String> {
        if !is_token(token) {
            return None;
        }
        let own = self
            .own
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(token)
            .cloned();
        match own {
            Some(answer) => Some(answer),
            None => tokio::fs::read_to_string(self.dir.join(token)).await.ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_base64url_and_nothing_else() {
        assert!(is_token("LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"));
        for bad in ["", "../lock", "a/b", "a.b", "%2e%2e"] {
            assert!(!is_token(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn another_proxys_token_is_answered_from_the_shared_directory() {
        let dir = std::env::temp_dir().join(format!("flotilla-acme-ch-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let ordering = Challenges::new(dir.clone());
        let other = Challenges::new(dir.clone());
        ordering.publish("tok_1", "tok_1.thumb").expect("publish");
        assert_eq!(other.lookup("tok_1").await.as_deref(), Some("tok_1.thumb"));
        ordering.withdraw("tok_1");
        assert_eq!(other.lookup("tok_1").await, None);
        assert_eq!(ordering.lookup("tok_1").await, None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
