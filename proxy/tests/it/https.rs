//! `redirect_to_https` on a plain listener and `hsts_max_age_secs` on a TLS one (`hsts`):
//! the proxy started with a redirecting listener, an HTTPS listener with HSTS and one
//! without, beside the harness's own plain listener.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{LOCATION, STRICT_TRANSPORT_SECURITY};
use reqwest::redirect::Policy;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::helpers::{Origin, Proxy, SETTLE, check, scratch_dir, upstream};
use crate::raw::read_response;

mod hsts;

/// The proxy's default `[public] health_path`.
const HEALTH_PATH: &str = "/.flotilla/health";

/// A certificate for `localhost` and its key, written under `dir`.
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("self-signed cert");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).expect("write cert");
    std::fs::write(&key, certified.key_pair.serialize_pem()).expect("write key");
    (cert, key)
}

/// A listener's `tls = { … }` line for a fresh `localhost` certificate under `dir`.
fn tls_line(dir: &Path) -> String {
    let (cert, key) = certificate(dir);
    format!(
        "tls = {{ cert_path = \"{}\", key_path = \"{}\" }}",
        cert.display(),
        key.display()
    )
}

/// The proxy under test and its three extra listeners' ports.
struct Https {
    proxy: Proxy,
    /// Plain, `redirect_to_https = true`.
    redirect: u16,
    /// TLS with `hsts_max_age_secs = 600`: the first TLS listener, so the redirect's port.
    hsts: u16,
    /// TLS without HSTS.
    bare: u16,
    /// The listeners' `tls = { … }` line.
    tls: String,
    dir: PathBuf,
}

impl Https {
    async fn start(origin: &Origin) -> Self {
        Self::start_with(origin, "").await
    }

    /// As [`Https::start`], with `tables` (such as `[limits]`) added to the config.
    async fn start_with(origin: &Origin, tables: &str) -> Self {
        let dir = scratch_dir();
        let tls = tls_line(&dir);
        let [redirect, hsts, bare] = [(); 3].map(|()| shared::testing::free_port());
        let body = listeners(redirect, hsts, bare, &tls, true);
        let body = format!("{body}{tables}\n\n{}", upstream("app", &[origin]));
        let proxy = Proxy::start(&body).await;
        for port in [redirect, hsts, bare] {
            shared::testing::wait_for_tcp(([127, 0, 0, 1], port).into(), SETTLE)
                .await
                .expect("listener up");
        }
        Self {
            proxy,
            redirect,
            hsts,
            bare,
            tls,
            dir,
        }
    }
}

/// The three listeners, with `redirect_to_https` and `hsts_max_age_secs` when `keys`.
fn listeners(redirect: u16, hsts: u16, bare: u16, tls: &str, keys: bool) -> String {
    let (redirect_key, hsts_key) = match keys {
        true => ("redirect_to_https = true\n", "hsts_max_age_secs = 600\n"),
        false => ("", ""),
    };
    format!(
        "[[listeners]]\naddr = \"127.0.0.1:{redirect}\"\n{redirect_key}\n\
         [[listeners]]\naddr = \"127.0.0.1:{hsts}\"\n{tls}\n{hsts_key}\n\
         [[listeners]]\naddr = \"127.0.0.1:{bare}\"\n{tls}\n\n"
    )
}

impl Https {
    /// `path` on the redirecting plain listener.
    fn plain_url(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.redirect)
    }
}

/// GETs `url` with `client`.
async fn get(client: &reqwest::Client, url: &str) -> reqwest::Response {
    client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

impl Drop for Https {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A client that trusts any certificate and follows redirects as `policy` says.
fn client(policy: Policy) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .danger_accept_invalid_certs(true)
        .redirect(policy)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// Sends `request` verbatim on a fresh connection to `port` and reads the status.
async fn raw_status(port: u16, request: &str) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write request");
    read_response(&mut stream, Duration::from_secs(10))
        .await
        .expect("a response")
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirecting_listener_sends_every_method_to_the_same_url_over_https() {
    let origin = Origin::start("a").await;
    let https = Https::start(&origin).await;
    let manual = client(Policy::none());

    let redirected = get(&manual, &https.plain_url("/a/b?x=1&y=2")).await;
    assert_eq!(redirected.status(), 308);
    assert_eq!(
        redirected.headers()[LOCATION],
        format!("https://localhost:{}/a/b?x=1&y=2", https.hsts).as_str()
    );
    assert!(
        redirected
            .headers()
            .get(STRICT_TRANSPORT_SECURITY)
            .is_none(),
        "no HSTS over plain HTTP"
    );

    let head = manual
        .head(format!("http://127.0.0.1:{}/p?q=%20", https.redirect))
        .send()
        .await
        .expect("head");
    assert_eq!(head.status(), 308);
    assert_eq!(
        head.headers()[LOCATION],
        format!("https://127.0.0.1:{}/p?q=%20", https.hsts).as_str()
    );

    let post = manual
        .post(format!("http://localhost:{}/echo", https.redirect))
        .body("payload")
        .send()
        .await
        .expect("post");
    assert_eq!(post.status(), 308);

    // A client that follows it sends the POST again, body and all, over HTTPS.
    let followed = client(Policy::limited(2))
        .post(format!("http://localhost:{}/echo?n=1", https.redirect))
        .body("payload")
        .send()
        .await
        .expect("post followed");
    assert_eq!(followed.status(), 200);
    assert_eq!(followed.url().scheme(), "https");
    let echo: serde_json::Value = followed.json().await.expect("echo");
    assert_eq!(echo["method"], "POST", "{echo}");
    assert_eq!(echo["headers"]["x-forwarded-proto"][0], "https", "{echo}");
    assert_eq!(
        origin.count("POST").await,
        1,
        "the POST reached the app once"
    );

    let metrics = https.proxy.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("proxy_requests_total{")
                && l.contains("route=\"https_redirect\"")),
        "redirects are counted under their own route:\n{metrics}"
    );

    // The harness's own plain listener does not redirect.
    let plain = manual
        .get(https.proxy.url("/echo"))
        .send()
        .await
        .expect("plain");
    assert_eq!(plain.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_challenges_and_the_health_path_are_served_over_http() {
    let origin = Origin::start("a").await;
    let https = Https::start(&origin).await;
    let manual = client(Policy::none());

    let challenge = get(
        &manual,
        &https.plain_url("/.well-known/acme-challenge/token-1"),
    )
    .await;
    assert_eq!(challenge.status(), 200, "forwarded as without the redirect");
    assert_eq!(challenge.headers()["x-instance"], "a");

    let health = get(&manual, &https.plain_url(HEALTH_PATH)).await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.expect("body"), "ok\n");

    // Only the challenge prefix is excepted, not its neighbours.
    let other = get(&manual, &https.plain_url("/.well-known/other")).await;
    assert_eq!(other.status(), 308);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_bad_host_gets_400_not_a_redirect() {
    let origin = Origin::start("a").await;
    let https = Https::start(&origin).await;
    let cases = [
        "GET / HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: evil.test/path\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: user@evil.test\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n",
    ];
    for request in cases {
        assert_eq!(
            raw_status(https.redirect, request).await,
            400,
            "{request:?}"
        );
    }
    let good = "GET /x HTTP/1.1\r\nHost: good.test:80\r\nConnection: close\r\n\r\n";
    assert_eq!(raw_status(https.redirect, good).await, 308);
    assert_eq!(origin.count("GET").await, 0, "nothing was forwarded");
}

#[test]
fn the_keys_on_the_wrong_listener_name_themselves() {
    let dir = scratch_dir();
    let tls = tls_line(&dir);
    let backends = "[upstreams.app]\nbackends = [{ addr = \"127.0.0.1:3001\" }]\n";
    let cases = [
        (
            format!("[[listeners]]\naddr = \"127.0.0.1:8443\"\n{tls}\nredirect_to_https = true\n"),
            "listeners[0].redirect_to_https",
            "without `tls`",
        ),
        (
            "[[listeners]]\naddr = \"127.0.0.1:8080\"\nhsts_max_age_secs = 60\n".to_owned(),
            "listeners[0].hsts_max_age_secs",
            "with `tls`",
        ),
        (
            format!(
                "[[listeners]]\naddr = \"127.0.0.1:8443\"\n{tls}\nhsts_include_subdomains = true\n"
            ),
            "listeners[0].hsts_include_subdomains",
            "needs `hsts_max_age_secs`",
        ),
        (
            "[[listeners]]\naddr = \"127.0.0.1:8080\"\n\n\
             [[listeners]]\naddr = \"127.0.0.1:8081\"\nredirect_to_https = true\n"
                .to_owned(),
            "listeners[1].redirect_to_https",
            "no listener has `tls`",
        ),
    ];
    for (listeners, key, reason) in cases {
        let text = format!("{listeners}\n[admin]\naddr = \"127.0.0.1:9081\"\n\n{backends}");
        let (ok, output) = check(&text);
        assert!(!ok, "accepted:\n{text}");
        assert!(output.contains(key), "`{key}` not named:\n{output}");
        assert!(output.contains(reason), "`{reason}` not given:\n{output}");
    }
    let good = format!(
        "[[listeners]]\naddr = \"0.0.0.0:8080\"\nredirect_to_https = true\n\n\
         [[listeners]]\naddr = \"0.0.0.0:8443\"\n{tls}\nhsts_max_age_secs = 31536000\n\
         hsts_include_subdomains = true\n\n{backends}"
    );
    let (ok, output) = check(&good);
    assert!(ok, "{output}");
    let _ = std::fs::remove_dir_all(&dir);
}
