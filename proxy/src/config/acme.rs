//! `[tls.acme]`: certificates ordered from an ACME (RFC 8555) certificate authority, for
//! the listeners that say `tls = { acme = true }`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use shared::config::ConfigError;

/// `[tls]`: certificates shared by the HTTPS listeners.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// Certificates from an ACME CA (Let's Encrypt by default), for every listener with
    /// `tls = { acme = true }`.
    #[serde(default)]
    pub acme: Option<AcmeConfig>,
}

/// Let's Encrypt's production directory, the default CA.
pub const LETSENCRYPT_PRODUCTION: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory: untrusted certificates, generous rate limits.
pub const LETSENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// `[tls.acme]`: one certificate for `domains`, ordered, stored and renewed by the proxy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeConfig {
    /// DNS names the certificate covers, the first as its subject. HTTP-01 validates each
    /// one, so each must resolve to this proxy (or its balancer) on port 80; no wildcards.
    pub domains: Vec<String>,
    /// Where the CA sends expiry and incident mail (`ops@example.com`); optional.
    #[serde(default)]
    pub contact_email: Option<String>,
    /// The CA's directory: `"letsencrypt"` (the default), `"letsencrypt-staging"`, or an
    /// `https://` URL of another RFC 8555 CA.
    #[serde(default = "default_directory")]
    pub directory_url: String,
    /// Where the account key, the certificate and its key live (keys 0600). Proxies that
    /// share it (Compose replicas, a Kubernetes volume) share one certificate: a lock file
    /// there lets one of them order while the others wait and load what it stored.
    #[serde(default = "default_storage_dir")]
    pub storage_dir: PathBuf,
    /// Renew when the certificate has fewer than this many days left (30; Let's Encrypt's
    /// certificates last 90).
    #[serde(default)]
    pub renew_before_days: Option<u64>,
    /// The same margin in seconds, for short-lived certificates (a CA issuing for hours or
    /// days); instead of `renew_before_days`, not with it.
    #[serde(default)]
    pub renew_before_secs: Option<u64>,
    /// A PEM file of CA certificates to trust for the directory's HTTPS, besides the
    /// public roots: a private CA's own server certificate.
    #[serde(default)]
    pub directory_ca_file: Option<PathBuf>,
    /// After a failed order, the first wait before the next try, in seconds (300); each
    /// further failure doubles it, up to `retry_max_secs`.
    #[serde(default = "default_retry_initial_secs")]
    pub retry_initial_secs: u64,
    /// The longest wait between two tries after failures, in seconds (3600).
    #[serde(default = "default_retry_max_secs")]
    pub retry_max_secs: u64,
}

/// The default of `renew_before_days`.
pub const DEFAULT_RENEW_BEFORE_DAYS: u64 = 30;

fn default_directory() -> String {
    "letsencrypt".to_owned()
}

fn default_storage_dir() -> PathBuf {
    PathBuf::from("data/acme")
}

fn default_retry_initial_secs() -> u64 {
    300
}

fn default_retry_max_secs() -> u64 {
    3600
}

impl AcmeConfig {
    /// The directory URL, with the Let's Encrypt names resolved.
    pub fn directory(&self) -> &str {
        match self.directory_url.as_str() {
            "letsencrypt" => LETSENCRYPT_PRODUCTION,
            "letsencrypt-staging" => LETSENCRYPT_STAGING,
            url => url,
        }
    }

    /// How long before expiry a renewal is due.
    pub fn renew_before(&self) -> Duration {
        match (self.renew_before_secs, self.renew_before_days) {
            (Some(secs), _) => Duration::from_secs(secs),
            (None, days) => Duration::from_secs(days.unwrap_or(DEFAULT_RENEW_BEFORE_DAYS) * 86_400),
        }
    }

    /// The wait after the first failure.
    pub fn retry_initial(&self) -> Duration {
        Duration::from_secs(self.retry_initial_secs)
    }

    /// The longest wait between failures.
    pub fn retry_max(&self) -> Duration {
        Duration::from_secs(self.retry_max_secs)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.domains.is_empty() {
            return Err(ConfigError::invalid(
                "tls.acme.domains",
                "give at least one domain",
            ));
        }
        for (index, domain) in self.domains.iter().enumerate() {
            if let Err(reason) = check_domain(domain) {
                return Err(ConfigError::invalid(
                    &format!("tls.acme.domains[{index}]"),
                    format!("`{domain}` {reason}"),
                ));
            }
        }
        if let Some(email) = &self.contact_email {
            let parts: Vec<&str> = email.split('@').collect();
            let valid = parts.len() == 2
                && !parts[0].is_empty()
                && parts[1].contains('.')
                && !email.contains(char::is_whitespace)
                && !email.starts_with("mailto:");
            if !valid {
                return Err(ConfigError::invalid(
                    "tls.acme.contact_email",
                    format!("`{email}` is not an address like ops@example.com"),
                ));
            }
        }
        if !self.directory().starts_with("https://") {
            return Err(ConfigError::invalid(
                "tls.acme.directory_url",
                format!(
                    "`{}` must be \"letsencrypt\", \"letsencrypt-staging\" or an https:// URL",
                    self.directory_url
                ),
            ));
        }
        if self.storage_dir.as_os_str().is_empty() {
            return Err(ConfigError::invalid(
                "tls.acme.storage_dir",
                "must not be empty",
            ));
        }
        match (self.renew_before_days, self.renew_before_secs) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    "tls.acme.renew_before_secs",
                    "give renew_before_days or renew_before_secs, not both",
                ));
            }
            (Some(0), _) => {
                return Err(ConfigError::invalid(
                    "tls.acme.renew_before_days",
                    "must be at least 1",
                ));
            }
            (_, Some(0)) => {
                return Err(ConfigError::invalid(
                    "tls.acme.renew_before_secs",
                    "must be at least 1",
                ));
            }
            _ => {}
        }
        if self.retry_initial_secs == 0 {
            return Err(ConfigError::invalid(
                "tls.acme.retry_initial_secs",
                "must be at least 1",
            ));
        }
        if self.retry_max_secs < self.retry_initial_secs {
            return Err(ConfigError::invalid(
                "tls.acme.retry_max_secs",
                format!(
                    "must be at least retry_initial_secs ({})",
                    self.retry_initial_secs
                ),
            ));
        }
        if let Some(path) = &self.directory_ca_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::invalid(
                    "tls.acme.directory_ca_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            if !text.contains("-----BEGIN CERTIFICATE-----") {
                return Err(ConfigError::invalid(
                    "tls.acme.directory_ca_file",
                    "no PEM certificate in the file",
                ));
            }
        }
        Ok(())
    }
}

/// A name HTTP-01 can validate: DNS labels of letters, digits and hyphens; no wildcard
/// (that takes DNS-01), no IP address, no trailing dot.
fn check_domain(domain: &str) -> Result<(), &'static str> {
    if domain.starts_with("*.") {
        return Err("is a wildcard, which needs DNS-01; HTTP-01 validates exact names only");
    }
    if domain.parse::<std::net::IpAddr>().is_ok() {
        return Err("is an IP address; give a DNS name");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let valid = domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if valid {
        Ok(())
    } else {
        Err(
            "is not a DNS name such as www.example.com (letters, digits, hyphens; punycode for others)",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme(extra: &str) -> Result<AcmeConfig, String> {
        let config: AcmeConfig =
            toml::from_str(&format!("domains = [\"www.example.com\"]\n{extra}"))
                .map_err(|e| e.to_string())?;
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }

    #[test]
    fn defaults_are_lets_encrypt_production_and_thirty_days() {
        let config = acme("").expect("minimal");
        assert_eq!(config.directory(), LETSENCRYPT_PRODUCTION);
        assert_eq!(config.renew_before(), Duration::from_secs(30 * 86_400));
        assert_eq!(config.storage_dir, PathBuf::from("data/acme"));
    }

    #[test]
    fn staging_is_named_and_urls_must_be_https() {
        let config = acme("directory_url = \"letsencrypt-staging\"").expect("staging");
        assert_eq!(config.directory(), LETSENCRYPT_STAGING);
        let error = acme("directory_url = \"http://ca.example/dir\"").expect_err("http");
        assert!(error.contains("tls.acme.directory_url"), "{error}");
    }

    #[test]
    fn renew_before_takes_days_or_seconds_not_both() {
        let config = acme("renew_before_secs = 90").expect("secs");
        assert_eq!(config.renew_before(), Duration::from_secs(90));
        let error = acme("renew_before_secs = 90\nrenew_before_days = 3").expect_err("both");
        assert!(error.contains("tls.acme.renew_before_secs"), "{error}");
        let error = acme("renew_before_days = 0").expect_err("zero");
        assert!(error.contains("tls.acme.renew_before_days"), "{error}");
    }

    #[test]
    fn domains_are_exact_dns_names() {
        for bad in [
            "*.example.com",
            "127.0.0.1",
            "localhost",
            "bad_name.example.com",
            "",
        ] {
            let config: AcmeConfig =
                toml::from_str(&format!("domains = [\"ok.example.com\", \"{bad}\"]"))
                    .expect("toml");
            let error = config.validate().expect_err(bad).to_string();
            assert!(error.contains("tls.acme.domains[1]"), "{bad}: {error}");
        }
        let config: AcmeConfig = toml::from_str("domains = []").expect("toml");
        let error = config.validate().expect_err("empty").to_string();
        assert!(error.contains("tls.acme.domains"), "{error}");
    }

    #[test]
    fn back_off_bounds_are_ordered() {
        let error = acme("retry_initial_secs = 600\nretry_max_secs = 60").expect_err("inverted");
        assert!(error.contains("tls.acme.retry_max_secs"), "{error}");
        let error = acme("contact_email = \"mailto:ops@example.com\"").expect_err("mailto");
        assert!(error.contains("tls.acme.contact_email"), "{error}");
    }
}
