use std::process::ExitCode;

fn main() -> ExitCode {
    stack::cli::main(std::env::args_os().collect())
}
