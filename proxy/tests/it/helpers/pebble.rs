//! Pebble, the RFC 8555 test CA, as a real child process on loopback, with
//! `pebble-challtestsrv` as its DNS server (every name resolves to 127.0.0.1), so its
//! HTTP-01 requests reach the proxy's plain listener.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use shared::testing::{ChildGuard, Component, READY_DEADLINE, free_port, skip, wait_for_tcp};

use super::scratch_dir;

/// A running Pebble and its DNS server.
pub(crate) struct Pebble {
    /// The ACME directory URL.
    pub(crate) directory: String,
    /// The CA of Pebble's own HTTPS API, for the proxy's `directory_ca_file`.
    pub(crate) api_ca: PathBuf,
    management: SocketAddr,
    log: PathBuf,
    dir: PathBuf,
    _pebble: ChildGuard,
    _dns: ChildGuard,
}

/// The first executable called `name` in a `PATH` directory.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

impl Pebble {
    /// Whether Pebble is installed; when not, says that `test` was skipped (and fails when
    /// `FLOTILLA_REQUIRE` names `pebble`).
    pub(crate) fn available(test: &str) -> bool {
        let found = on_path("pebble").is_some() && on_path("pebble-challtestsrv").is_some();
        if !found {
            skip(
                Component::Pebble,
                test,
                "pebble and pebble-challtestsrv (Debian's pebble package) are not on PATH",
            );
        }
        found
    }

    /// Starts Pebble validating HTTP-01 on 127.0.0.1:`http_port`, issuing certificates
    /// valid for `validity_secs` (Pebble's default, five years, when `None`).
    pub(crate) async fn start(http_port: u16, validity_secs: Option<u64>) -> Self {
        let dir = scratch_dir();
        let (api_cert, api_key, api_ca) = api_certificate(&dir);
        let dns_port = free_port();
        let dns = ChildGuard::spawn(
            Command::new("pebble-challtestsrv")
                .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
                .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
                .args(["-management", &format!("127.0.0.1:{}", free_port())])
                .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let api: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let management: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let mut settings = serde_json::json!({
            "listenAddress": api.to_string(),
            "managementListenAddress": management.to_string(),
            "certificate": api_cert,
            "privateKey": api_key,
            "httpPort": http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        });
        if let Some(secs) = validity_secs {
            settings["certificateValidityPeriod"] = secs.into();
        }
        let config = dir.join("pebble.json");
        std::fs::write(
            &config,
            serde_json::json!({ "pebble": settings }).to_string(),
        )
        .expect("write pebble config");
        let log = dir.join("pebble.log");
        let pebble = ChildGuard::spawn(
            Command::new("pebble")
                .arg("-config")
                .arg(&config)
                .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
                // No artificial validation delays; no refused nonces; every order validates
                // afresh (no reuse of an earlier order's authorizations).
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_WFE_NONCEREJECT", "0")
                .env("PEBBLE_AUTHZREUSE", "0")
                .stdout(Stdio::from(
                    std::fs::File::create(&log).expect("pebble log"),
                ))
                .stderr(Stdio::null()),
        );
        wait_for_tcp(api, READY_DEADLINE).await.expect("pebble API");
        wait_for_tcp(management, READY_DEADLINE)
            .await
            .expect("pebble management");
        Self {
            directory: format!("https://{api}/dir"),
            api_ca,
            management,
            log,
            dir,
            _pebble: pebble,
            _dns: dns,
        }
    }

    /// The root Pebble issues under (a new one each run), PEM.
    pub(crate) async fn root_pem(&self) -> String {
        let ca = std::fs::read(&self.api_ca).expect("api ca");
        let client = reqwest::Client::builder()
            .no_proxy()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("ca pem"))
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        client
            .get(format!("https://{}/roots/0", self.management))
            .send()
            .await
            .expect("pebble root")
            .text()
            .await
            .expect("root text")
    }

    /// Orders Pebble has received so far (its log's `Added order` lines).
    pub(crate) fn orders(&self) -> usize {
        self.log_text().matches("Added order").count()
    }

    /// Certificates Pebble has issued so far.
    pub(crate) fn issued(&self) -> usize {
        self.log_text().matches("Issued certificate serial").count()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A CA and a certificate it signed for 127.0.0.1 and localhost, for Pebble's own HTTPS
/// API (the package ships none); returns the paths of the certificate, its key, the CA.
fn api_certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Pebble API test CA");
    let ca = ca_params.self_signed(&ca_key).expect("ca cert");
    let key = rcgen::KeyPair::generate().expect("api key");
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("api params");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("api cert");
    let paths = (
        dir.join("api-cert.pem"),
        dir.join("api-key.pem"),
        dir.join("api-ca.pem"),
    );
    std::fs::write(&paths.0, cert.pem()).expect("write api cert");
    std::fs::write(&paths.1, key.serialize_pem()).expect("write api key");
    std::fs::write(&paths.2, ca.pem()).expect("write api ca");
    paths
}
