//! The app's command line: the four contract settings, each with its environment name, and
//! the one place that renders them back into arguments for a launcher.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Serialize;
use shared::config::address::parse_socket_addr;

/// The environment variable the JWT secret is read from, and how a launcher hands it over:
/// never on the command line, which any local user can read.
pub const JWT_SECRET_ENV: &str = "JWT_SECRET";

/// Command-line flags. Unset flags are skipped so they never hide the file or environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Parser, Serialize)]
#[command(name = "app", version, about = "Flotilla's app service")]
pub struct Flags {
    /// TOML file with the remaining settings (see the README's configuration table).
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Address to listen on (`IP:PORT`; `localhost` is 127.0.0.1).
    #[arg(long, env = "APP_LISTEN", value_name = "ADDR", value_parser = parse_socket_addr)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `sqlite://PATH` or `postgres://...`.
    #[arg(long, env = "DATABASE_URL", value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Secret shared by every instance to sign and verify tokens (at least 32 bytes).
    #[arg(
        long,
        env = JWT_SECRET_ENV,
        value_name = "SECRET",
        hide_env_values = true
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_secret: Option<String>,
    /// Name of this instance in the `X-Instance` header and in logs.
    #[arg(long, env = "APP_INSTANCE", value_name = "ID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
}

impl Flags {
    /// The arguments (after the program name) that parse back into these flags, for a
    /// launcher that runs the app as a child process: the stack builds `Flags` and renders
    /// them here, beside the fields, so a renamed or added flag breaks the build (the
    /// destructuring below is exhaustive), not the launch.
    ///
    /// The secret is left out: a launcher puts it in the child's [`JWT_SECRET_ENV`].
    pub fn to_args(&self) -> Vec<OsString> {
        let Self {
            config,
            listen,
            database_url,
            jwt_secret: _,
            instance_id,
        } = self;
        let flags = [
            ("--config", config.as_ref().map(OsString::from)),
            ("--listen", listen.map(|addr| addr.to_string().into())),
            ("--database-url", database_url.as_ref().map(OsString::from)),
            ("--instance-id", instance_id.as_ref().map(OsString::from)),
        ];
        flags
            .into_iter()
            .filter_map(|(flag, value)| Some([OsString::from(flag), value?]))
            .flatten()
            .collect()
    }
}

#[cfg(test)]
mod tests;
