//! The `proxy` program's entry point, shared by the `proxy` binary and the stack launcher
//! (which runs it as `stack proxy …` in a process of its own): parse the command line, load
//! the config, start telemetry, run.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;
use shared::telemetry::LogFormat;

use crate::config::{Cli, Command, Config};
use crate::server::{self, Launch};

/// Runs the proxy with `args` (the first is the program name) and returns its exit status.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Check { config }) = &cli.command {
        return match Config::load(config) {
            Ok(_) => {
                println!("OK: {} is a valid proxy config", config.display());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let loaded = match (&cli.config, cli.listen) {
        (Some(path), _) => Config::load(path),
        (None, Some(listen)) => Config::quick(listen, cli.backends.clone(), cli.admin, cli.cache),
        (None, None) => {
            eprintln!(
                "error: give `--config FILE`, or `--listen ADDR --backend ADDR` (see --help)"
            );
            return ExitCode::from(2);
        }
    };
    let config = match loaded {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Lives until the proxy stops, then writes out what is still queued.
    let _log = shared::telemetry::init_non_blocking(
        config.server.log_format,
        default_filter(config.server.log_format),
        config.server.log_queue_lines,
    );
    let launch = Launch {
        config,
        config_path: cli.config,
        upgrade: cli.upgrade,
        shutdown: None,
    };
    match server::run(launch) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "proxy could not start");
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Access lines at INFO; Pingora's own per-request error lines are noise next to them.
fn default_filter(_format: LogFormat) -> &'static str {
    "info,pingora_proxy=warn,pingora_core=warn"
}
