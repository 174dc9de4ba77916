//! `proxy`: parse the command line, load the config, start telemetry, run.

use std::process::ExitCode;

use clap::Parser;
use proxy::config::{Cli, Command, Config};
use proxy::server::{self, Launch};
use shared::telemetry::LogFormat;

fn main() -> ExitCode {
    let cli = Cli::parse();
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
        (None, Some(listen)) => Config::quick(listen, cli.backends.clone(), cli.admin),
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
    shared::telemetry::init(
        config.server.log_format,
        default_filter(config.server.log_format),
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
