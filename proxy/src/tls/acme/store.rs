//! `storage_dir`: the account, the certificate and its key, the lock, and the HTTP-01
//! tokens, shared by every proxy pointed at the same directory.
//!
//! - `account-<directory>.json`: the ACME account's credentials, one per CA (0600).
//! - `cert.pem`: the chain, leaf first; `key.pem`: its private key (0600).
//! - `lock`: held (`flock`, exclusive) by the one proxy ordering; the kernel drops it when
//!   that process dies, so a crash leaves no stale lock.
//! - `challenges/<token>`: key authorizations while an order is being validated, so that
//!   any proxy on the directory answers the CA's request, whichever one it reaches.
//!
//! Files are written to a temporary name and renamed, so a reader sees a whole file; the
//! key is written before the certificate, and a reader that catches the pair between the
//! two renames finds they do not match and tries again later.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::tls::certificate::{self, Loaded};

/// The directory and the names of what it holds.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// The storage lock, held until dropped.
#[derive(Debug)]
pub struct Lock {
    _flock: Flock<File>,
}

impl Store {
    /// The store at `dir`, created (0700) if missing.
    ///
    /// # Errors
    ///
    /// When the directory cannot be created.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        let created = !dir.exists();
        std::fs::create_dir_all(dir.join("challenges"))?;
        if created {
            // A directory made here is private; one given (a mounted volume) is left as
            // its owner set it, since the keys in it are 0600 either way.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// Where the HTTP-01 key authorizations are published.
    pub fn challenges_dir(&self) -> PathBuf {
        self.dir.join("challenges")
    }

    /// The stored certificate and key, if both are there and belong together.
    ///
    /// # Errors
    ///
    /// When the files are there but unreadable or do not form a certificate and its key.
    pub fn load_certificate(&self) -> Result<Option<Loaded>, String> {
        let (cert, key) = (self.dir.join("cert.pem"), self.dir.join("key.pem"));
        if !cert.exists() || !key.exists() {
            return Ok(None);
        }
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
        };
        certificate::load(&read(&cert)?, &read(&key)?).map(Some)
    }

    /// Stores an issued chain and key, key first.
    ///
    /// # Errors
    ///
    /// When a file cannot be written.
    pub fn save_certificate(&self, chain_pem: &str, key_pem: &str) -> std::io::Result<()> {
        self.write_private("key.pem", key_pem.as_bytes())?;
        self.write("cert.pem", chain_pem.as_bytes(), 0o644)
    }

    /// The account credentials stored for the CA at `directory`.
    pub fn load_account(&self, directory: &str) -> Option<String> {
        std::fs::read_to_string(self.account_path(directory)).ok()
    }

    /// Stores the account credentials for the CA at `directory` (0600).
    ///
    /// # Errors
    ///
    /// When the file cannot be written.
    pub fn save_account(&self, directory: &str, json: &str) -> std::io::Result<()> {
        let name = self.account_path(directory);
        let name = name
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("account.json");
        self.write_private(name, json.as_bytes())
    }

    /// Removes the account credentials stored for the CA at `directory`.
    pub fn forget_account(&self, directory: &str) {
        let _ = std::fs::remove_file(self.account_path(directory));
    }

    /// Takes the lock if no other process holds it; `Ok(None)` when one does.
    ///
    /// # Errors
    ///
    /// When the lock file cannot be opened or locked for another reason.
    pub fn try_lock(&self) -> std::io::Result<Option<Lock>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(self.dir.join("lock"))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(flock) => Ok(Some(Lock { _flock: flock })),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, errno)) => Err(std::io::Error::from(errno)),
        }
    }

    fn account_path(&self, directory: &str) -> PathBuf {
        let slug: String = directory
            .trim_start_matches("https://")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(format!("account-{slug}.json"))
    }

    fn write_private(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        self.write(name, bytes, 0o600)
    }

    fn write(&self, name: &str, bytes: &[u8], mode: u32) -> std::io::Result<()> {
        let temporary = self.dir.join(format!(".{name}.{}", std::process::id()));
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(mode)
            .open(&temporary)?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, self.dir.join(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("flotilla-acme-store-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[test]
    fn a_saved_certificate_loads_back_and_its_key_is_private() {
        let dir = scratch();
        let store = Store::open(&dir.join("acme")).expect("open");
        assert!(store.load_certificate().expect("empty").is_none());
        let certified =
            rcgen::generate_simple_self_signed(vec!["www.example.com".to_owned()]).expect("cert");
        store
            .save_certificate(&certified.cert.pem(), &certified.key_pair.serialize_pem())
            .expect("save");
        let loaded = store.load_certificate().expect("load").expect("stored");
        assert!(loaded.leaf.covers(&["www.example.com".into()]));
        let mode = std::fs::metadata(dir.join("acme/key.pem"))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_lock_is_held_by_one_opener_at_a_time() {
        let dir = scratch();
        let store = Store::open(&dir).expect("open");
        let held = store.try_lock().expect("lock").expect("free");
        // A second open file description is refused, as another process would be.
        assert!(store.try_lock().expect("try").is_none());
        drop(held);
        assert!(store.try_lock().expect("again").is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
