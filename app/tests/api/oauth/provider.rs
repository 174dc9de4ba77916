//! A real OpenID Connect provider for the tests: `testkit/oidc/provider.mjs` (panva's
//! `oidc-provider`) under Node on loopback, and a cookie-keeping client that walks its
//! redirects the way a browser would.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;

use reqwest::{StatusCode, Url};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::DEADLINE;

pub(crate) const CLIENT_ID: &str = "flotilla-test";
pub(crate) const CLIENT_SECRET: &str = "flotilla-test-secret-value";

/// A running provider; killed when dropped.
pub(crate) struct OidcProvider {
    pub(crate) issuer: String,
    _child: Child,
}

impl OidcProvider {
    /// Starts the provider for a client that may redirect to `redirect_uris`, or `None`
    /// (after saying it skipped) when Node or the installed package is missing.
    pub(crate) async fn start(test: &str, redirect_uris: &[String]) -> Option<Self> {
        let skip = |why: &str| {
            shared::testing::skip(shared::testing::Component::Node, test, why);
            None
        };
        let Some(modules) = std::env::var_os("OIDC_PROVIDER_MODULES").map(PathBuf::from) else {
            return skip(
                "OIDC_PROVIDER_MODULES (where `npm ci` installed testkit/oidc) is not set",
            );
        };
        if !modules.join("node_modules/oidc-provider").is_dir() {
            return skip("oidc-provider is not installed under OIDC_PROVIDER_MODULES");
        }
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testkit/oidc/provider.mjs");
        let Ok(mut child) = Command::new("node")
            .arg(script)
            .env("OIDC_PROVIDER_MODULES", &modules)
            .env("CLIENT_ID", CLIENT_ID)
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .env("REDIRECT_URIS", redirect_uris.join(","))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
        else {
            return skip("node is not installed");
        };
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let issuer = tokio::time::timeout(DEADLINE, async {
            while let Some(line) = lines.next_line().await.expect("read the provider") {
                if let Some(issuer) = line.strip_prefix("listening ") {
                    return issuer.to_owned();
                }
            }
            panic!("the OIDC provider exited before listening");
        })
        .await
        .expect("the OIDC provider listens in time");
        // It logs notices to stdout; keep reading so its writes never meet a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Some(Self {
            issuer,
            _child: child,
        })
    }
}

/// A client that keeps cookies (by name: everything here is on 127.0.0.1, and cookies
/// ignore ports) and follows redirects one at a time.
pub(crate) struct Browserish {
    client: reqwest::Client,
    pub(crate) cookies: HashMap<String, String>,
}

impl Browserish {
    pub(crate) fn new() -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a client"),
            cookies: HashMap::new(),
        }
    }

    /// `GET url` with the jar's cookies, keeping the ones set.
    pub(crate) async fn get(&mut self, url: &str) -> reqwest::Response {
        let cookie = self
            .cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut request = self.client.get(url);
        if !cookie.is_empty() {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.expect("GET");
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().expect("ascii cookie");
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || text.to_ascii_lowercase().contains("max-age=0") {
                    self.cookies.remove(name.trim());
                } else {
                    self.cookies
                        .insert(name.trim().to_owned(), value.to_owned());
                }
            }
        }
        response
    }

    /// Follows redirects from `url` until one points under `stop_prefix`; returns it.
    pub(crate) async fn follow_until(&mut self, url: &str, stop_prefix: &str) -> String {
        let mut current = url.to_owned();
        for _ in 0..20 {
            if current.starts_with(stop_prefix) {
                return current;
            }
            let response = self.get(&current).await;
            let status = response.status();
            assert!(
                status.is_redirection(),
                "{current} answered {status}: {}",
                response.text().await.unwrap_or_default()
            );
            let location = response.headers()["location"].to_str().expect("location");
            current = Url::parse(&current)
                .and_then(|base| base.join(location))
                .expect("a redirect URL")
                .to_string();
        }
        panic!("too many redirects from {url}");
    }
}

/// The query parameter `name` of `url`.
pub(crate) fn param(url: &str, name: &str) -> Option<String> {
    Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// Whether a response is the sign-in failure page with this code.
pub(crate) async fn assert_failure(response: reqwest::Response, status: StatusCode, code: &str) {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let page = response.text().await.expect("page");
    assert!(
        page.contains(&format!("data-code=\"{code}\"")),
        "expected {code}: {page}"
    );
}
