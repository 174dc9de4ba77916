//! `[tls.acme]` against a real ACME server: Pebble issues over HTTP-01, which the proxy
//! answers on its plain listener; the certificate is served, stored, loaded at restart,
//! renewed without dropping an open connection, shared by proxies on one `storage_dir`,
//! and kept when an order fails.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use shared::testing::{READY_DEADLINE, free_port, wait_for_tcp, wait_until};

use crate::helpers::{Origin, Pebble, Proxy, client, instance, metric, scratch_dir, upstream};

/// The names the tests order; Pebble's DNS answers 127.0.0.1 for every name.
const DOMAIN: &str = "acme.flotilla.test";
const OTHER_DOMAIN: &str = "www.flotilla.test";

/// How long a test waits for an order (or a renewal) to complete.
const ISSUE_DEADLINE: Duration = Duration::from_secs(90);

/// The config body of a proxy with an ACME listener on `https_port` over `origin`.
fn acme_body(
    pebble: &Pebble,
    https_port: u16,
    storage: &Path,
    extra: &str,
    origin: &Origin,
) -> String {
    format!(
        "[[listeners]]\naddr = \"127.0.0.1:{https_port}\"\ntls = {{ acme = true }}\n\n\
         [tls.acme]\ndomains = [\"{DOMAIN}\", \"{OTHER_DOMAIN}\"]\n\
         contact_email = \"ops@flotilla.test\"\ndirectory_url = \"{}\"\n\
         directory_ca_file = \"{}\"\nstorage_dir = \"{}\"\n{extra}\n\n{}",
        pebble.directory,
        pebble.api_ca.display(),
        storage.display(),
        upstream("app", &[origin]),
    )
}

/// A client that trusts only Pebble's root, and sends `DOMAIN` to the HTTPS listener.
fn https_client(root_pem: &str, https_port: u16) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(root_pem.as_bytes()).expect("root"))
        .resolve(DOMAIN, ([127, 0, 0, 1], https_port).into())
        .tls_info(true)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("https client")
}

/// What a TLS client saw: the leaf certificate, DER.
async fn served_leaf(client: &reqwest::Client, https_port: u16) -> Result<Vec<u8>, String> {
    let response = client
        .get(format!("https://{DOMAIN}:{https_port}/echo"))
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    if response.status() != 200 {
        return Err(format!("status {}", response.status()));
    }
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .map(<[u8]>::to_vec)
        .ok_or_else(|| "no peer certificate".to_owned())
}

/// Waits until a new client (trusting Pebble's root) gets a 200 over HTTPS.
async fn wait_for_https(root_pem: &str, https_port: u16, log: &Path) -> Vec<u8> {
    wait_until(
        "an HTTPS answer with the issued certificate",
        ISSUE_DEADLINE,
        || async move {
            served_leaf(&https_client(root_pem, https_port), https_port)
                .await
                .ok()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}; proxy log:\n{}", read(log)))
}

/// The DNS names and `notAfter` of a DER certificate.
fn names_and_expiry(der: &[u8]) -> (Vec<String>, i64) {
    let (_, cert) = x509_parser::parse_x509_certificate(der).expect("x509");
    let names = cert
        .subject_alternative_name()
        .expect("san")
        .expect("has san")
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            x509_parser::extensions::GeneralName::DNSName(dns) => Some((*dns).to_owned()),
            _ => None,
        })
        .collect();
    (names, cert.validity().not_after.timestamp())
}

/// The leaf of the stored chain, DER.
fn stored_leaf(storage: &Path) -> Vec<u8> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(storage.join("cert.pem")).expect("stored cert");
    CertificateDer::pem_slice_iter(&pem)
        .next()
        .expect("a certificate")
        .expect("pem")
        .to_vec()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A scratch directory and, in it, the storage directory and a log path.
fn places() -> (PathBuf, PathBuf, PathBuf) {
    let dir = scratch_dir();
    let storage = dir.join("acme");
    let log = dir.join("proxy.log");
    (dir, storage, log)
}

/// A proxy that got its first certificate from a fresh Pebble, and what it took.
struct Issued {
    origin: Origin,
    pebble: Pebble,
    /// Pebble's root, PEM: what the HTTPS clients trust.
    root: String,
    /// The scratch directory, and in it the storage directory.
    dir: PathBuf,
    storage: PathBuf,
    proxy: Proxy,
    /// The certificate served, DER.
    leaf: Vec<u8>,
}

impl Issued {
    /// Starts Pebble, an origin and a proxy ordering for `DOMAIN`, and waits for the
    /// certificate to be served.
    async fn start() -> Self {
        let origin = Origin::start("a").await;
        let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let pebble = Pebble::start(http.port(), None).await;
        let root = pebble.root_pem().await;
        let (dir, storage, log) = places();
        let https_port = free_port();
        let body = acme_body(&pebble, https_port, &storage, "", &origin);
        let proxy = Proxy::start_at(http, &body, &log).await;
        let leaf = wait_for_https(&root, https_port, &log).await;
        Self {
            origin,
            pebble,
            root,
            dir,
            storage,
            proxy,
            leaf,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_certificate_is_issued_over_http_01_served_and_loaded_again_at_restart() {
    if !Pebble::available(
        "a_first_certificate_is_issued_over_http_01_served_and_loaded_again_at_restart",
    ) {
        return;
    }
    let Issued {
        origin,
        pebble,
        root,
        dir,
        storage,
        proxy,
        leaf,
    } = Issued::start().await;
    let (names, not_after) = names_and_expiry(&leaf);
    assert!(
        names.contains(&DOMAIN.to_owned()) && names.contains(&OTHER_DOMAIN.to_owned()),
        "{names:?}"
    );
    assert_eq!(
        leaf,
        stored_leaf(&storage),
        "the served certificate is the stored one"
    );
    use std::os::unix::fs::PermissionsExt;
    for private in ["key.pem", "account-127.0.0.1_"] {
        let file = std::fs::read_dir(&storage)
            .expect("storage")
            .filter_map(Result::ok)
            .find(|entry| entry.file_name().to_string_lossy().starts_with(private))
            .unwrap_or_else(|| panic!("{private} stored"));
        let mode = file.metadata().expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{private} is private");
    }
    let metrics = proxy.metrics().await;
    let expiry = metric(
        &metrics,
        "proxy_tls_certificate_expiry_timestamp_seconds",
        &[("domain", DOMAIN)],
    );
    assert_eq!(expiry, not_after as f64, "{metrics}");
    assert_eq!(
        metric(
            &metrics,
            "proxy_tls_certificate_renewals_total",
            &[("result", "success")]
        ),
        1.0
    );

    // The challenge path is the proxy's own: an unknown token is its 404, not the app's.
    let response = client()
        .get(proxy.url("/.well-known/acme-challenge/not-a-live-token"))
        .send()
        .await
        .expect("challenge request");
    assert_eq!(response.status(), 404);
    assert_eq!(instance(&response), "", "never forwarded to an instance");
    assert_eq!(response.text().await.expect("body"), "unknown token\n");

    // A restart serves the stored certificate from its first connection, without ordering.
    drop(proxy);
    let orders = pebble.orders();
    let https_port = free_port();
    let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let log = dir.join("restart.log");
    let _proxy = Proxy::start_at(
        http,
        &acme_body(&pebble, https_port, &storage, "", &origin),
        &log,
    )
    .await;
    wait_for_tcp(([127, 0, 0, 1], https_port).into(), READY_DEADLINE)
        .await
        .expect("https listener");
    let again = served_leaf(&https_client(&root, https_port), https_port)
        .await
        .expect("the stored certificate at once");
    assert_eq!(again, leaf);
    assert_eq!(
        pebble.orders(),
        orders,
        "no new order for a certificate still fresh"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_swaps_the_certificate_while_an_open_connection_keeps_working() {
    if !Pebble::available("a_renewal_swaps_the_certificate_while_an_open_connection_keeps_working")
    {
        return;
    }
    let origin = Origin::start("a").await;
    let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    // Certificates for 60 s, renewed with 45 s left: a renewal every 15 s or so.
    let pebble = Pebble::start(http.port(), Some(60)).await;
    let root = pebble.root_pem().await;
    let (dir, storage, log) = places();
    let https_port = free_port();
    let body = acme_body(
        &pebble,
        https_port,
        &storage,
        "renew_before_secs = 45",
        &origin,
    );
    let proxy = Proxy::start_at(http, &body, &log).await;
    wait_for_https(&root, https_port, &log).await;

    // One client, one h2 connection, kept busy across the swap.
    let open = https_client(&root, https_port);
    let first = served_leaf(&open, https_port)
        .await
        .expect("open connection");
    let (open_ref, first_ref, root_ref) = (&open, &first, root.as_str());
    let renewed = wait_until(
        "a new connection to get a renewed certificate",
        ISSUE_DEADLINE,
        || async move {
            let on_open = served_leaf(open_ref, https_port).await;
            assert_eq!(
                on_open.as_ref(),
                Ok(first_ref),
                "the open connection keeps working, with the certificate it began with"
            );
            let fresh = served_leaf(&https_client(root_ref, https_port), https_port)
                .await
                .ok()?;
            (fresh != *first_ref).then_some(fresh)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}; proxy log:\n{}", read(&log)));

    assert_eq!(
        served_leaf(&open, https_port).await.as_ref(),
        Ok(&first),
        "still open after the swap"
    );
    let (names, renewed_until) = names_and_expiry(&renewed);
    let (_, first_until) = names_and_expiry(&first);
    assert!(names.contains(&DOMAIN.to_owned()), "{names:?}");
    assert!(
        renewed_until > first_until,
        "the renewed certificate lasts longer"
    );
    let metrics = proxy.metrics().await;
    assert!(
        metric(
            &metrics,
            "proxy_tls_certificate_renewals_total",
            &[("result", "success")]
        ) >= 2.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenge_that_cannot_succeed_keeps_the_old_certificate_and_logs_the_cas_reason() {
    if !Pebble::available(
        "a_challenge_that_cannot_succeed_keeps_the_old_certificate_and_logs_the_cas_reason",
    ) {
        return;
    }
    let Issued {
        origin,
        pebble,
        root,
        dir,
        storage,
        proxy: first,
        leaf: old,
    } = Issued::start().await;
    drop(first);

    // Restarted on a plain port Pebble does not validate on, with the certificate due at
    // once: the order fails.
    let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let https_port = free_port();
    let log = dir.join("failing.log");
    let extra = "renew_before_secs = 315360000\nretry_initial_secs = 600";
    let proxy = Proxy::start_at(
        http,
        &acme_body(&pebble, https_port, &storage, extra, &origin),
        &log,
    )
    .await;
    let log_ref = log.as_path();
    let error_line = wait_until(
        "the failed order's ERROR line",
        ISSUE_DEADLINE,
        || async move {
            read(log_ref)
                .lines()
                .find(|line| line.contains("ERROR") && line.contains("ACME order failed"))
                .map(str::to_owned)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}; proxy log:\n{}", read(&log)));
    assert!(
        error_line.contains("urn:ietf:params:acme:error:connection")
            && error_line.contains("/.well-known/acme-challenge/"),
        "the CA's problem is in the log: {error_line}"
    );
    let metrics = proxy.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "proxy_tls_certificate_renewals_total",
            &[("result", "failure")]
        ),
        1.0,
        "{metrics}"
    );

    let served = served_leaf(&https_client(&root, https_port), https_port)
        .await
        .expect("https");
    assert_eq!(served, old, "the old certificate is still served");
    let response = client()
        .get(proxy.url("/echo"))
        .send()
        .await
        .expect("plain http");
    assert_eq!(response.status(), 200, "plain HTTP goes on");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_sharing_a_storage_dir_order_once_and_serve_the_same_certificate() {
    if !Pebble::available("proxies_sharing_a_storage_dir_order_once_and_serve_the_same_certificate")
    {
        return;
    }
    let origin = Origin::start("a").await;
    let http_a: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let http_b: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    // Pebble validates on A's plain port; if B orders, A answers from the shared directory.
    let pebble = Pebble::start(http_a.port(), None).await;
    let root = pebble.root_pem().await;
    let (dir, storage, _) = places();
    let (https_a, https_b) = (free_port(), free_port());
    let (log_a, log_b) = (dir.join("a.log"), dir.join("b.log"));
    let body_a = acme_body(&pebble, https_a, &storage, "", &origin);
    let body_b = acme_body(&pebble, https_b, &storage, "", &origin);
    let (_a, _b) = tokio::join!(
        Proxy::start_at(http_a, &body_a, &log_a),
        Proxy::start_at(http_b, &body_b, &log_b),
    );
    let leaf_a = wait_for_https(&root, https_a, &log_a).await;
    let leaf_b = wait_for_https(&root, https_b, &log_b).await;
    assert_eq!(leaf_a, leaf_b, "both serve the one certificate");
    assert_eq!(pebble.orders(), 1, "one order reached the CA");
    assert_eq!(pebble.issued(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
