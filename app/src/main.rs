//! The `app` binary: parse flags, load config, start telemetry, build, run until SIGTERM or
//! Ctrl-C, drain, exit 0.

use std::process::ExitCode;

use app::config::{Config, Flags};
use app::startup::Application;
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let flags = Flags::parse();
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
