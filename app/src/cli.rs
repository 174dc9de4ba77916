//! The `app` program's entry point, shared by the `app` binary and the stack launcher (which
//! runs it as `stack app …` in a process of its own): parse flags, load config, start
//! telemetry, build, run until SIGTERM or Ctrl-C, drain, exit 0.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use crate::config::{Config, Flags};
use crate::startup::Application;

/// Runs the app with `args` (the first is the program name) and returns its exit status:
/// 0 after a clean drain, 2 for bad flags or configuration, 1 when it cannot start or serve.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("app: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Vec<OsString>) -> ExitCode {
    let flags = match Flags::try_parse_from(args) {
        Ok(flags) => flags,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(2);
        }
    };
    let config = match Config::load(&flags) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("app: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    shared::telemetry::init(config.log_format, "info,sqlx=warn");
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(error) => {
            tracing::error!(error = ?error, "failed to start");
            eprintln!("app: failed to start: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let stop = async {
        let signal = shared::shutdown::signal().await;
        tracing::info!(?signal, "stop requested");
    };
    match app.run_until(stop).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = ?error, "server failed");
            ExitCode::FAILURE
        }
    }
}
