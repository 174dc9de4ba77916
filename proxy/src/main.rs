//! The `proxy` binary; everything it does is in [`proxy::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    proxy::cli::main(std::env::args_os().collect())
}
