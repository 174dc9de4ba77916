//! The `app` binary; everything it does is in [`app::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    app::cli::main(std::env::args_os().collect())
}
