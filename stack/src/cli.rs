//! The launcher's command line, and the hidden entry points that turn this binary into an
//! app instance or the proxy.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::plan::Plan;
use crate::supervise;

/// `cargo run --release`: the proxy on 127.0.0.1:8080 and three app instances behind it.
#[derive(Debug, Clone, Parser)]
#[command(name = "stack", version, about, args_override_self = true)]
pub struct Flags {
    /// How many app instances to start.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub instances: u16,
    /// App instances to start as a separate `auth` group, on the ports after the others:
    /// the proxy sends `/api/auth/` to them and everything else to the rest, so each
    /// group is scaled on its own. 0: one group for everything.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=64))]
    pub split_auth: u16,
    /// The proxy's public port.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Serve HTTPS too, on `--tls-port`, with a certificate for `localhost` from a local
    /// CA made under `<data-dir>/tls/` (and reused on later starts).
    #[arg(long)]
    pub tls: bool,
    /// The proxy's HTTPS port with `--tls`.
    #[arg(long, default_value_t = 8443)]
    pub tls_port: u16,
    /// The proxy's admin port (metrics, status, discovery); always bound to loopback.
    #[arg(long, default_value_t = 8081)]
    pub admin_port: u16,
    /// The first app instance's port; the others take the following ports.
    #[arg(long, default_value_t = 3001)]
    pub instance_port: u16,
    /// The address every listener binds: an IP address, or `localhost` for 127.0.0.1.
    #[arg(long, default_value = "127.0.0.1", value_parser = shared::config::address::parse_ip)]
    pub bind: IpAddr,
    /// Database handed to every instance; defaults to a SQLite file under `--data-dir`.
    /// A `postgres://` URL makes every instance share that database.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Where the default SQLite database lives.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// The proxy's response cache size, such as `64MiB`; `0` turns the cache off.
    #[arg(long, default_value = "64MiB", value_parser = proxy::config::parse_cache_size)]
    pub cache: u64,
    /// Leave an instance that exits stopped instead of restarting it.
    #[arg(long)]
    pub no_restart: bool,
    /// Log format for the launcher and its children: `human` or `json`.
    #[arg(long, default_value = "human")]
    pub log_format: shared::telemetry::LogFormat,
}

/// Runs the launcher, or, when the first argument is `app` or `proxy`, that program.
pub fn main(args: Vec<OsString>) -> ExitCode {
    match args.get(1).and_then(|arg| arg.to_str()) {
        Some(supervise::APP_COMMAND) => app::cli::main(without_subcommand(args)),
        Some(supervise::PROXY_COMMAND) => proxy::cli::main(without_subcommand(args)),
        _ => launch(Flags::parse_from(args)),
    }
}

/// `stack app --listen …` becomes `app --listen …` for the app's own parser.
fn without_subcommand(mut args: Vec<OsString>) -> Vec<OsString> {
    args.remove(0);
    args
}

fn launch(flags: Flags) -> ExitCode {
    shared::telemetry::init(flags.log_format, "info");
    let plan = match Plan::from_flags(&flags) {
        Ok(plan) => plan,
        Err(error) => {
            eprintln!("stack: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("stack: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(supervise::run(plan)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("stack: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests;
