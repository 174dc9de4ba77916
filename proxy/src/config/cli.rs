//! The command line: `proxy --config FILE`, `proxy check --config FILE`, and quick mode.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use shared::config::address::parse_socket_addr;

/// Flotilla's load balancer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Parser)]
#[command(name = "proxy", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do other than run.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The TOML config file to run with.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["listen", "backends"])]
    pub config: Option<PathBuf>,
    /// Quick mode: the public address to listen on (`IP:PORT`; `localhost` is 127.0.0.1).
    #[arg(long, value_name = "ADDR", requires = "backends", value_parser = parse_socket_addr)]
    pub listen: Option<SocketAddr>,
    /// Quick mode: a backend `IP:PORT` (`localhost` is 127.0.0.1); repeat for more.
    #[arg(
        long = "backend",
        value_name = "ADDR",
        requires = "listen",
        value_parser = parse_socket_addr
    )]
    pub backends: Vec<SocketAddr>,
    /// Quick mode: the admin listener (default 127.0.0.1:8081).
    #[arg(long, value_name = "ADDR", value_parser = parse_socket_addr)]
    pub admin: Option<SocketAddr>,
    /// Quick mode: turn the response cache on with this size, such as `64MiB`; `0`
    /// leaves it off.
    #[arg(long, value_name = "SIZE", value_parser = super::parse_cache_size, requires = "listen")]
    pub cache: Option<u64>,
    /// Take over the listening sockets of a running proxy (graceful binary upgrade);
    /// then send the old process SIGQUIT.
    #[arg(long)]
    pub upgrade: bool,
}

/// Subcommands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Validate a config file: exit 0 and print OK, or exit 1 naming the key and reason.
    Check {
        /// The TOML config file to check.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
}

impl Cli {
    /// The arguments (after the program name) that parse back into these flags, for a
    /// launcher that runs the proxy as a child process: the stack builds a `Cli` and
    /// renders it here, beside the fields, so a renamed or added flag breaks the build (the
    /// destructuring below is exhaustive), not the launch.
    pub fn to_args(&self) -> Vec<OsString> {
        let Self {
            command,
            config,
            listen,
            backends,
            admin,
            cache,
            upgrade,
        } = self;
        let mut args = Args::default();
        args.opt("--config", config.as_ref().map(OsString::from));
        args.opt("--listen", listen.map(|a| a.to_string().into()));
        for backend in backends {
            args.opt("--backend", Some(backend.to_string().into()));
        }
        args.opt("--admin", admin.map(|a| a.to_string().into()));
        args.opt("--cache", cache.map(|bytes| bytes.to_string().into()));
        if *upgrade {
            args.0.push("--upgrade".into());
        }
        match command {
            Some(Command::Check { config }) => {
                args.0.push("check".into());
                args.opt("--config", Some(config.into()));
            }
            None => {}
        }
        args.0
    }
}

/// An argument list under construction.
#[derive(Default)]
struct Args(Vec<OsString>);

impl Args {
    /// `flag value`, when there is a value.
    fn opt(&mut self, flag: &str, value: Option<OsString>) {
        if let Some(value) = value {
            self.0.push(flag.into());
            self.0.push(value);
        }
    }
}

#[cfg(test)]
mod tests;
