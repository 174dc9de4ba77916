//! app: under construction.
//!
//! Temporary wiring so the frontend router compiles on this branch; replaced at merge.
#[allow(dead_code)]
mod http {
    pub(crate) mod frontend;
}

/// Placeholder entry point until the app lands.
pub mod cli {
    /// Exits at once: the real app replaces this.
    pub fn main(_args: Vec<std::ffi::OsString>) -> std::process::ExitCode {
        std::process::ExitCode::FAILURE
    }
}
