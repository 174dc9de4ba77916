//! `--tls`: a certificate authority of this machine's own and a certificate it signs for
//! `localhost`, `127.0.0.1` and `::1`, under `<data-dir>/tls/`, so the proxy can serve
//! HTTPS locally and a browser or `curl --cacert` can trust it.
//!
//! They are made on the first `--tls` start and reused after: the CA while it has more
//! than [`RENEW_BEFORE_DAYS`] left, so a browser told to trust it once keeps trusting
//! it; the leaf while it has as long left, names exactly [`NAMES`] and was signed by the
//! CA in place. Either private key is written readable by its owner only.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// The names the leaf certificate is for.
pub const NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The CA's subject, which also tells a reused leaf's issuer apart.
const CA_NAME: &str = "Flotilla local development CA";
/// How long a new CA is valid.
const CA_DAYS: u64 = 3650;
/// How long a new leaf is valid: under the 398 days browsers accept.
const LEAF_DAYS: u64 = 397;
/// Either certificate is made again when it has less than this left.
pub const RENEW_BEFORE_DAYS: u64 = 30;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// The files `--tls` keeps under the data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTls {
    dir: PathBuf,
}

/// What [`LocalTls::prepare`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepared {
    /// A new CA was made (the first start, or the old one was near its end or unreadable):
    /// whoever trusted the old one must trust this one.
    pub new_ca: bool,
    /// A new leaf certificate was made.
    pub new_leaf: bool,
}

impl LocalTls {
    /// The files under `<data_dir>/tls/`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("tls"),
        }
    }

    /// The CA certificate to trust: `curl --cacert`, a browser's or the system's store.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    fn ca_key_path(&self) -> PathBuf {
        self.dir.join("ca-key.pem")
    }

    /// The leaf certificate the proxy serves.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("localhost.pem")
    }

    /// The leaf's private key.
    pub fn key_path(&self) -> PathBuf {
        self.dir.join("localhost-key.pem")
    }

    /// Makes the CA and the leaf unless usable ones are in place.
    ///
    /// # Errors
    ///
    /// When the directory or a file cannot be written, or a certificate cannot be made.
    pub fn prepare(&self) -> anyhow::Result<Prepared> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let now = SystemTime::now();
        let (ca, ca_key, new_ca) = match self.reusable_ca(now) {
            Some((ca, key)) => (ca, key, false),
            None => {
                let (ca, key) = self.make_ca(now)?;
                (ca, key, true)
            }
        };
        let new_leaf = new_ca || !self.leaf_is_reusable(now);
        if new_leaf {
            self.make_leaf(now, &ca, &ca_key)?;
        }
        Ok(Prepared { new_ca, new_leaf })
    }

    /// The CA on disk, as an issuer, when it parses, matches its key and is not near its end.
    fn reusable_ca(&self, now: SystemTime) -> Option<(rcgen::Certificate, KeyPair)> {
        let pem = std::fs::read_to_string(self.ca_path()).ok()?;
        let key = KeyPair::from_pem(&std::fs::read_to_string(self.ca_key_path()).ok()?).ok()?;
        let params = CertificateParams::from_ca_cert_pem(&pem).ok()?;
        let is_ours = params.distinguished_name.get(&DnType::CommonName)
            == Some(&rcgen::DnValue::Utf8String(CA_NAME.to_owned()));
        if !is_ours || !lasts_beyond(&params, now) || !pem_has_key(&pem, &key) {
            return None;
        }
        // Signing only reads the issuer's name, key identifier and key, which are the
        // file's; the file itself stays as it is, so whoever trusts it keeps trusting it.
        let issuer = params.self_signed(&key).ok()?;
        Some((issuer, key))
    }

    fn make_ca(&self, now: SystemTime) -> anyhow::Result<(rcgen::Certificate, KeyPair)> {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, CA_NAME);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params, now, CA_DAYS);
        let key = KeyPair::generate().context("cannot make the CA's key")?;
        let ca = params.self_signed(&key).context("cannot make the CA")?;
        write_private(&self.ca_key_path(), &key.serialize_pem())?;
        write_public(&self.ca_path(), &ca.pem())?;
        Ok((ca, key))
    }

    /// Whether the leaf on disk names [`NAMES`], lasts, matches its key and was signed by
    /// the CA on disk (it names it as issuer and carries its key identifier).
    fn leaf_is_reusable(&self, now: SystemTime) -> bool {
        let read = |path: PathBuf| std::fs::read_to_string(path).ok();
        let (Some(pem), Some(key), Some(ca)) = (
            read(self.cert_path()),
            read(self.key_path()),
            read(self.ca_path()),
        ) else {
            return false;
        };
        let (Ok(params), Ok(key)) = (
            CertificateParams::from_ca_cert_pem(&pem),
            KeyPair::from_pem(&key),
        ) else {
            return false;
        };
        let Ok(wanted) = CertificateParams::new(NAMES.map(str::to_owned).to_vec()) else {
            return false;
        };
        let same_names = params.subject_alt_names.len() == wanted.subject_alt_names.len()
            && wanted
                .subject_alt_names
                .iter()
                .all(|name| params.subject_alt_names.contains(name));
        same_names && lasts_beyond(&params, now) && pem_has_key(&pem, &key) && signed_by(&pem, &ca)
    }

    fn make_leaf(
        &self,
        now: SystemTime,
        ca: &rcgen::Certificate,
        ca_key: &KeyPair,
    ) -> anyhow::Result<()> {
        let mut params = CertificateParams::new(NAMES.map(str::to_owned).to_vec())
            .context("cannot describe the localhost certificate")?;
        params.distinguished_name.push(DnType::CommonName, NAMES[0]);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        set_validity(&mut params, now, LEAF_DAYS);
        let key = KeyPair::generate().context("cannot make the localhost key")?;
        let leaf = params
            .signed_by(&key, ca, ca_key)
            .context("cannot sign the localhost certificate")?;
        write_private(&self.key_path(), &key.serialize_pem())?;
        write_public(&self.cert_path(), &leaf.pem())?;
        Ok(())
    }
}

/// From an hour ago (a clock a little behind still accepts it) for `days`.
fn set_validity(params: &mut CertificateParams, now: SystemTime, days: u64) {
    let since_epoch = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    // rcgen's dates are `time`'s; counting from its epoch avoids a dependency on `time`.
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + since_epoch.saturating_sub(Duration::from_secs(3600));
    params.not_after = epoch + since_epoch + DAY * u32::try_from(days).unwrap_or(u32::MAX);
}

/// Whether the certificate is valid for more than [`RENEW_BEFORE_DAYS`] after `now`.
fn lasts_beyond(params: &CertificateParams, now: SystemTime) -> bool {
    let horizon = now + DAY * u32::try_from(RENEW_BEFORE_DAYS).unwrap_or(u32::MAX);
    let horizon = horizon
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(i64::MAX, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    params.not_after.unix_timestamp() > horizon
}

/// Whether the PEM certificate carries `key`'s public key.
fn pem_has_key(pem: &str, key: &KeyPair) -> bool {
    // The subject public key info is the DER of the certificate's key, byte for byte.
    contains(pem, &key.public_key_der())
}

/// Whether the leaf `pem` carries the CA's subject key identifier as its authority key
/// identifier, i.e. was issued by the CA in `ca_pem`.
fn signed_by(pem: &str, ca_pem: &str) -> bool {
    let Ok(ca) = CertificateParams::from_ca_cert_pem(ca_pem) else {
        return false;
    };
    match ca.key_identifier_method {
        rcgen::KeyIdMethod::PreSpecified(id) => contains(pem, &id),
        _ => false,
    }
}

/// Whether the DER inside the PEM certificate `pem` contains `bytes`.
fn contains(pem: &str, bytes: &[u8]) -> bool {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .skip_while(|line| !line.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|line| !line.starts_with("-----END"))
        .collect();
    let Ok(der) = base64::engine::general_purpose::STANDARD.decode(body.trim()) else {
        return false;
    };
    !bytes.is_empty() && der.windows(bytes.len()).any(|window| window == bytes)
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn write_public(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
        .with_context(|| format!("cannot set the mode of {}", path.display()))
}

#[cfg(test)]
mod tests;
