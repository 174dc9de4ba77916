//! Certificates as the listeners and the metrics need them: a PEM chain and key into a
//! rustls `CertifiedKey`, and the leaf's DNS names and expiry.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// A certificate chain and key, parsed, matched and ready to serve.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// What the resolver hands rustls.
    pub certified: Arc<CertifiedKey>,
    /// The leaf's names and expiry.
    pub leaf: Leaf,
    /// The chain as PEM, to tell one stored certificate from another.
    pub chain_pem: String,
}

/// What renewal and the expiry metric read from a leaf certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// The DNS names of its subjectAltName, lowercased.
    pub names: Vec<String>,
    /// `notAfter`, in seconds since the Unix epoch.
    pub not_after_unix: i64,
    /// The serial number, hex, for the log.
    pub serial: String,
}

impl Leaf {
    /// Whether the certificate names every one of `domains`.
    pub fn covers(&self, domains: &[String]) -> bool {
        domains.iter().all(|domain| {
            self.names
                .iter()
                .any(|name| name.eq_ignore_ascii_case(domain))
        })
    }
}

/// Parses `chain_pem` (leaf first) and `key_pem`, and checks that they belong together.
///
/// # Errors
///
/// A message saying which part is missing or unparsable, or that they do not match.
pub fn load(chain_pem: &str, key_pem: &str) -> Result<Loaded, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("certificate chain: {e}"))?;
    let Some(first) = chain.first() else {
        return Err("no certificate in the chain".into());
    };
    let leaf = leaf(first)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| format!("private key: {e}"))?;
    let certified = CertifiedKey::from_der(chain, key, &rustls::crypto::ring::default_provider())
        .map_err(|e| format!("certificate and key: {e}"))?;
    Ok(Loaded {
        certified: Arc::new(certified),
        leaf,
        chain_pem: chain_pem.to_owned(),
    })
}

/// The first certificate of a PEM chain, read.
///
/// # Errors
///
/// When there is no certificate, or it is not X.509.
pub fn leaf_of_pem(chain_pem: &[u8]) -> Result<Leaf, String> {
    let first = CertificateDer::pem_slice_iter(chain_pem)
        .next()
        .ok_or("no certificate in the file")?
        .map_err(|e| e.to_string())?;
    leaf(&first)
}

fn leaf(der: &CertificateDer<'_>) -> Result<Leaf, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    x509_parser::extensions::GeneralName::DNSName(dns) => {
                        Some(dns.to_ascii_lowercase())
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Leaf {
        names,
        not_after_unix: cert.validity().not_after.timestamp(),
        serial: cert.raw_serial_as_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_loads_with_its_names_and_expiry() {
        let certified = rcgen::generate_simple_self_signed(vec![
            "www.example.com".to_owned(),
            "Example.com".to_owned(),
        ])
        .expect("cert");
        let loaded =
            load(&certified.cert.pem(), &certified.key_pair.serialize_pem()).expect("load");
        assert!(
            loaded
                .leaf
                .covers(&["example.com".into(), "www.example.com".into()])
        );
        assert!(!loaded.leaf.covers(&["api.example.com".into()]));
        assert!(loaded.leaf.not_after_unix > 0);
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let one = rcgen::generate_simple_self_signed(vec!["a.example.com".to_owned()]).expect("a");
        let two = rcgen::generate_simple_self_signed(vec!["b.example.com".to_owned()]).expect("b");
        let error = load(&one.cert.pem(), &two.key_pair.serialize_pem()).expect_err("mismatch");
        assert!(error.contains("certificate and key"), "{error}");
    }
}
