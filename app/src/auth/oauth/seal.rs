//! The state a sign-in carries from its start to its callback (state, nonce, PKCE
//! verifier), sealed with ChaCha20-Poly1305 under a key derived by HKDF-SHA256 from the JWT
//! secret every instance shares: any instance can open what another sealed, nobody can
//! read or alter it, and nothing is kept in memory.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

/// What the start of a sign-in leaves for its callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The provider's id; a callback for another provider is refused.
    pub provider: String,
    /// The `state` sent to the provider, compared with the one that comes back.
    pub state: String,
    /// The OIDC `nonce`, compared with the ID token's.
    pub nonce: String,
    /// The PKCE verifier, sent with the code.
    pub verifier: String,
    /// When this stops being accepted, in seconds since the epoch.
    pub expires_at: i64,
}

/// Seals and opens [`Pending`] values, and makes random tokens.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(***)")
    }
}

impl Sealer {
    /// The sealer every instance with this secret agrees on.
    pub fn new(secret: &[u8]) -> Self {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"flotilla oauth state v1");
        let key = salt
            .extract(secret)
            .expand(&[b"chacha20-poly1305 state cookie"], &CHACHA20_POLY1305)
            .map(UnboundKey::from)
            .expect("32 bytes is a valid HKDF output length");
        Self {
            key: LessSafeKey::new(key),
            rng: SystemRandom::new(),
        }
    }

    /// `pending` as cookie-safe text.
    pub fn seal(&self, pending: &Pending) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        self.fill(&mut nonce);
        let mut sealed = serde_json::to_vec(pending).unwrap_or_default();
        // Sealing fails only for inputs larger than ChaCha20-Poly1305 allows, far past this.
        let _ = self.key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(b"pending"),
            &mut sealed,
        );
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// What `text` sealed, if it is intact, and still valid at `now` (seconds).
    pub fn open(&self, text: &str, now: i64) -> Option<Pending> {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(b"pending"), &mut sealed)
            .ok()?;
        let pending: Pending = serde_json::from_slice(plain).ok()?;
        (pending.expires_at > now).then_some(pending)
    }

    /// 32 random bytes, URL-safe base64: states, nonces, verifiers and one-time codes.
    pub fn token(&self) -> String {
        let mut bytes = [0u8; 32];
        self.fill(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn fill(&self, bytes: &mut [u8]) {
        // The system RNG failing is not something a request can recover from.
        self.rng
            .fill(bytes)
            .expect("the operating system's random number generator works");
    }
}

/// The PKCE S256 challenge for `verifier`.
pub fn pkce_challenge(verifier: &str) -> String {
    use sha2::Digest as _;
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// The hex SHA-256 of a one-time code: what the database stores.
pub fn code_hash(code: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(code.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> Pending {
        Pending {
            provider: "test".into(),
            state: "s".into(),
            nonce: "n".into(),
            verifier: "v".into(),
            expires_at: 100,
        }
    }

    #[test]
    fn another_instance_with_the_secret_opens_it_and_nothing_else_does() {
        let sealed = Sealer::new(b"secret one").seal(&pending());
        assert_eq!(
            Sealer::new(b"secret one").open(&sealed, 50),
            Some(pending())
        );
        assert_eq!(Sealer::new(b"secret two").open(&sealed, 50), None);
        assert_eq!(
            Sealer::new(b"secret one").open(&sealed, 100),
            None,
            "expired"
        );
        let mut tampered = sealed.into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).expect("ascii");
        assert_eq!(Sealer::new(b"secret one").open(&tampered, 50), None);
    }

    #[test]
    fn the_challenge_is_the_unpadded_base64url_sha256_of_the_verifier() {
        // `printf '%s' VERIFIER | openssl dgst -sha256 -binary | base64`, URL-safe, no `=`.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gXFrSKZ1I"),
            "bRtzgO-jcKlAnQNSoTeUwDXcFsv_4wh63CzMugMTnaM"
        );
    }
}
