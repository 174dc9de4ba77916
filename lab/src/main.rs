//! `lab`: the failover lab's command line. See the crate docs (`lib.rs`) for the map.

use clap::{Parser, Subcommand};

/// Command line.
#[derive(Parser, Debug)]
#[command(
    name = "lab",
    about = "Measure what clients see when a backend fails behind a load balancer"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Open-loop load against a running target, with faults on a schedule.
    Run(lab::run::RunArgs),
    /// Flotilla, nginx and HAProxy side by side through the same failure scenarios.
    Compare(lab::compare::CompareArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| match cli.command {
            Command::Run(args) => runtime.block_on(lab::run::main(args)),
            Command::Compare(args) => runtime.block_on(lab::compare::main(args)),
        });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // The whole chain on one line, with no backtrace: the message is for the user.
            eprintln!("lab: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
