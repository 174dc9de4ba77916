//! TLS files are checked when the config loads, because Pingora only reads them when the
//! listener starts and a bad file then panics inside a service task.

use std::path::Path;

use pingora::tls::ServerConfig;
use shared::config::ConfigError;

/// Reads and parses the certificate and key, and checks that they belong together.
pub(super) fn check_files(key: &str, cert_path: &Path, key_path: &Path) -> Result<(), ConfigError> {
    let cert_key = format!("{key}.cert_path");
    let key_key = format!("{key}.key_path");
    let cert_text = std::fs::read(cert_path).map_err(|e| {
        ConfigError::invalid(
            &cert_key,
            format!("cannot read {}: {e}", cert_path.display()),
        )
    })?;
    std::fs::read(key_path).map_err(|e| {
        ConfigError::invalid(&key_key, format!("cannot read {}: {e}", key_path.display()))
    })?;
    if !String::from_utf8_lossy(&cert_text).contains("-----BEGIN CERTIFICATE-----") {
        return Err(ConfigError::invalid(
            &cert_key,
            "no PEM certificate in the file",
        ));
    }
    let (Some(cert), Some(private)) = (cert_path.to_str(), key_path.to_str()) else {
        return Err(ConfigError::invalid(key, "paths must be valid UTF-8"));
    };
    let loaded = pingora::tls::load_certs_and_key_files(cert, private)
        .map_err(|e| ConfigError::invalid(key, format!("cannot parse PEM: {e}")))?;
    let Some((certs, private_key)) = loaded else {
        return Err(ConfigError::invalid(
            &key_key,
            "no PEM private key (PKCS#8, PKCS#1 or SEC1) in the file",
        ));
    };
    pingora::tls::install_default_crypto_provider();
    ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, private_key)
        .map_err(|e| ConfigError::invalid(key, format!("certificate and key do not match: {e}")))?;
    Ok(())
}
