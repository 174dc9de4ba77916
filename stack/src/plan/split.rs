//! `--split-auth N`: the split deployment on one machine. N more app instances form an
//! `auth` group; the proxy, started from a config file the stack writes, sends
//! `/api/auth/` to that group and everything else to the other instances. Same binary,
//! same database and JWT secret: only the routing differs, as in
//! `docker-compose.split.yml`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The path prefix the auth group serves.
pub const AUTH_PREFIX: &str = "/api/auth/";

/// The file the proxy config is written to, under the data directory: for a split stack
/// (`--split-auth`), or for a stack that serves HTTPS as well (`--tls`), which quick mode
/// cannot describe.
pub fn config_path(data_dir: &Path, split: bool) -> PathBuf {
    match split {
        true => data_dir.join("proxy-split.toml"),
        false => data_dir.join("proxy.toml"),
    }
}

/// A TLS listener of the stack's proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsListener {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The PEM certificate chain.
    pub cert_path: PathBuf,
    /// The PEM private key.
    pub key_path: PathBuf,
}

/// The proxy's config for the stack: quick mode's settings (the defaults, the listeners
/// and cache the flags gave), one more listener for `tls`, and with `auth` instances two
/// upstreams and the route between them (else one upstream, `app`, for everything).
pub fn proxy_config(
    public: SocketAddr,
    tls: Option<&TlsListener>,
    admin: SocketAddr,
    cache_bytes: u64,
    app: &[SocketAddr],
    auth: &[SocketAddr],
) -> String {
    let backends = |addrs: &[SocketAddr]| {
        addrs
            .iter()
            .map(|addr| format!("{{ addr = \"{addr}\" }}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut text = String::from("# Written by `stack`, on every start: edits do not last.\n\n");
    // Writing to a String cannot fail.
    let _ = writeln!(text, "[[listeners]]\naddr = \"{public}\"\n");
    if let Some(tls) = tls {
        // `{:?}` quotes and escapes a path as a TOML basic string would.
        let _ = writeln!(
            text,
            "[[listeners]]\naddr = \"{}\"\ntls = {{ cert_path = {:?}, key_path = {:?} }}\n",
            tls.addr,
            tls.cert_path.display().to_string(),
            tls.key_path.display().to_string(),
        );
    }
    let _ = writeln!(text, "[admin]\naddr = \"{admin}\"\n");
    if cache_bytes > 0 {
        let _ = writeln!(
            text,
            "[cache]\nenabled = true\nmax_size_bytes = {cache_bytes}\nmax_object_bytes = {}\n",
            cache_bytes.min(1024 * 1024)
        );
    }
    if auth.is_empty() {
        let _ = writeln!(text, "[upstreams.app]\nbackends = [{}]", backends(app));
        return text;
    }
    let _ = writeln!(
        text,
        "[[routes]]\npath_prefix = \"{AUTH_PREFIX}\"\nupstream = \"auth\"\n"
    );
    let _ = writeln!(
        text,
        "[[routes]]\npath_prefix = \"/\"\nupstream = \"app\"\n"
    );
    let _ = writeln!(text, "[upstreams.app]\nbackends = [{}]\n", backends(app));
    let _ = writeln!(text, "[upstreams.auth]\nbackends = [{}]", backends(auth));
    text
}
