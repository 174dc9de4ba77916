//! What the stack starts, decided before anything is started: every address is checked
//! free first, so a port already taken fails at once with its name instead of leaving a
//! half-started fleet behind.

use std::ffi::OsString;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

use anyhow::{Context, bail};
use rand::RngCore;

use crate::cli::Flags;
use crate::supervise::{APP_COMMAND, PROXY_COMMAND};
use crate::tls::LocalTls;

pub mod split;

/// One process the stack runs and keeps running.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// Short name used in the banner and in logs: `proxy`, `app-1`, ….
    pub name: String,
    /// Arguments after the binary itself: the `app`/`proxy` subcommand, then that
    /// program's flags as its own flag struct renders them (`app::config::Flags`,
    /// `proxy::config::Cli`).
    pub args: Vec<OsString>,
    /// Extra environment, e.g. the JWT secret (kept out of the argument list, which any
    /// local user can read).
    pub env: Vec<(String, String)>,
    /// The address it serves on.
    pub addr: SocketAddr,
}

/// The whole fleet for one run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The load balancer.
    pub proxy: ProcessSpec,
    /// The proxy's admin address.
    pub admin: SocketAddr,
    /// The app instances, in port order.
    pub instances: Vec<ProcessSpec>,
    /// Restart instances that exit.
    pub restart: bool,
    /// The data directory, created before start when the default SQLite database is used
    /// or a file is written there.
    pub data_dir: Option<PathBuf>,
    /// A file to write before start, and its contents: the proxy's config in a split stack
    /// or one with `--tls`.
    pub proxy_config: Option<(PathBuf, String)>,
    /// With `--tls`: the proxy's HTTPS address, and the certificates to make or reuse
    /// before start.
    pub tls: Option<(SocketAddr, LocalTls)>,
}

impl Plan {
    /// Builds the plan and checks that every port it needs is free.
    ///
    /// # Errors
    ///
    /// A port out of range or already in use, named with what wanted it.
    pub fn from_flags(flags: &Flags) -> anyhow::Result<Self> {
        let public = SocketAddr::new(flags.bind, flags.port);
        let admin = SocketAddr::new(flags.bind.to_canonical(), flags.admin_port);
        let admin = if admin.ip().is_loopback() {
            admin
        } else {
            SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), flags.admin_port)
        };

        let total = flags.instances + flags.split_auth;
        let mut instance_addrs = Vec::with_capacity(usize::from(total));
        for index in 0..total {
            let port = flags.instance_port.checked_add(index).with_context(|| {
                format!(
                    "--instance-port {} leaves no room for {total} instances",
                    flags.instance_port
                )
            })?;
            instance_addrs.push(SocketAddr::new(flags.bind, port));
        }

        let https = flags
            .tls
            .then(|| SocketAddr::new(flags.bind, flags.tls_port));
        ensure_free(public, "the proxy's public listener (--port)")?;
        if let Some(https) = https {
            ensure_free(https, "the proxy's HTTPS listener (--tls-port)")?;
        }
        ensure_free(admin, "the proxy's admin listener (--admin-port)")?;
        for (index, addr) in instance_addrs.iter().enumerate() {
            ensure_free(
                *addr,
                &format!("app instance {} (--instance-port)", index + 1),
            )?;
        }

        let (database_url, mut data_dir) = match &flags.database_url {
            Some(url) => (url.clone(), None),
            None => (
                format!("sqlite://{}", flags.data_dir.join("flotilla.db").display()),
                Some(flags.data_dir.clone()),
            ),
        };
        let (app_addrs, auth_addrs) = instance_addrs.split_at(usize::from(flags.instances));
        let secret = new_secret();
        let log_format = match flags.log_format {
            shared::telemetry::LogFormat::Human => "human",
            shared::telemetry::LogFormat::Json => "json",
        };

        let instances: Vec<ProcessSpec> = instance_addrs
            .iter()
            .enumerate()
            .map(|(index, addr)| {
                let name = match index.checked_sub(app_addrs.len()) {
                    None => format!("app-{}", index + 1),
                    Some(auth) => format!("auth-{}", auth + 1),
                };
                let app = app::config::Flags {
                    listen: Some(*addr),
                    database_url: Some(database_url.clone()),
                    instance_id: Some(name.clone()),
                    ..app::config::Flags::default()
                };
                ProcessSpec {
                    args: command_line(APP_COMMAND, app.to_args()),
                    env: vec![
                        (app::config::JWT_SECRET_ENV.to_owned(), secret.clone()),
                        (
                            format!("{}LOG_FORMAT", app::config::ENV_PREFIX),
                            log_format.to_owned(),
                        ),
                    ],
                    name,
                    addr: *addr,
                }
            })
            .collect();

        let tls = https.map(|addr| (addr, LocalTls::new(&flags.data_dir)));
        let tls_listener = tls.as_ref().map(|(addr, files)| split::TlsListener {
            addr: *addr,
            cert_path: files.cert_path(),
            key_path: files.key_path(),
        });
        let mut proxy_config = None;
        let proxy = if auth_addrs.is_empty() && tls.is_none() {
            proxy::config::Cli {
                listen: Some(public),
                backends: instance_addrs,
                admin: Some(admin),
                cache: (flags.cache > 0).then_some(flags.cache),
                ..proxy::config::Cli::default()
            }
        } else {
            let path = split::config_path(&flags.data_dir, !auth_addrs.is_empty());
            let text = split::proxy_config(
                public,
                tls_listener.as_ref(),
                admin,
                flags.cache,
                app_addrs,
                auth_addrs,
            );
            proxy_config = Some((path.clone(), text));
            data_dir = Some(flags.data_dir.clone());
            proxy::config::Cli {
                config: Some(path),
                ..proxy::config::Cli::default()
            }
        };
        let proxy = ProcessSpec {
            name: "proxy".to_owned(),
            args: command_line(PROXY_COMMAND, proxy.to_args()),
            env: Vec::new(),
            addr: public,
        };

        Ok(Self {
            proxy,
            admin,
            instances,
            restart: !flags.no_restart,
            data_dir,
            proxy_config,
            tls,
        })
    }
}

/// Fails with a message naming the port and its purpose when `addr` cannot be bound.
fn ensure_free(addr: SocketAddr, purpose: &str) -> anyhow::Result<()> {
    match TcpListener::bind(addr) {
        Ok(_listener) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
            bail!(
                "port {} on {} is already in use; {purpose} needs it",
                addr.port(),
                addr.ip()
            )
        }
        Err(error) => Err(error).with_context(|| format!("cannot bind {addr} for {purpose}")),
    }
}

/// 32 random bytes, hex-encoded: the JWT secret every instance of this run shares.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `subcommand` followed by a program's own arguments: what this binary runs as a child.
fn command_line(subcommand: &str, args: Vec<OsString>) -> Vec<OsString> {
    std::iter::once(OsString::from(subcommand))
        .chain(args)
        .collect()
}

#[cfg(test)]
mod tests;
