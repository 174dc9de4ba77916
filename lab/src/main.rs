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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Run(args) => runtime.block_on(lab::run::main(args)),
        Command::Compare(args) => runtime.block_on(lab::compare::main(args)),
    }
}
