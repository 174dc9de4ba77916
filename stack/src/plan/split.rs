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

/// The file the proxy config is written to, under the data directory.
pub fn config_path(data_dir: &Path) -> PathBuf {
    data_dir.join("proxy-split.toml")
}

/// The proxy's config for the split stack: quick mode's settings (the defaults, the
/// listeners and cache the flags gave) with two upstreams and the route between them.
pub fn proxy_config(
    public: SocketAddr,
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
    let mut text =
        String::from("# Written by `stack --split-auth`, on every start: edits do not last.\n\n");
    // Writing to a String cannot fail.
    let _ = writeln!(text, "[[listeners]]\naddr = \"{public}\"\n");
    let _ = writeln!(text, "[admin]\naddr = \"{admin}\"\n");
    if cache_bytes > 0 {
        let _ = writeln!(
            text,
            "[cache]\nenabled = true\nmax_size_bytes = {cache_bytes}\nmax_object_bytes = {}\n",
            cache_bytes.min(1024 * 1024)
        );
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
