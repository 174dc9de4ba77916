//! A private PostgreSQL server for tests that stop and restart the database: its own data
//! directory, its own loopback port, `fsync=off`. The machine's shared server is never
//! touched. PostgreSQL refuses to run as root, so under root every command runs as the
//! `postgres` user.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use shared::testing::{Component, free_port};

use crate::helpers::TempDir;

/// A running (or stopped, between [`PrivatePostgres::stop`] and
/// [`PrivatePostgres::start`]) PostgreSQL server, stopped and removed on drop.
pub(crate) struct PrivatePostgres {
    bin: PathBuf,
    data: PathBuf,
    dir: TempDir,
    port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    /// Initialises and starts a server, or says which component is missing:
    /// `TEST_DATABASE_URL` not set (the sign that tests may use Postgres), or no server
    /// binaries installed.
    ///
    /// # Panics
    ///
    /// When the binaries are there but the server cannot be set up.
    pub(crate) fn launch() -> Result<Self, (Component, String)> {
        if std::env::var_os("TEST_DATABASE_URL").is_none() {
            return Err((
                Component::Postgres,
                "TEST_DATABASE_URL is not set".to_owned(),
            ));
        }
        let bin = server_bin_dir().ok_or((
            Component::PostgresServer,
            "no /usr/lib/postgresql/*/bin/initdb".to_owned(),
        ))?;
        let as_postgres = is_root();
        let dir = TempDir::new();
        if as_postgres {
            run(Command::new("chown").arg("postgres:").arg(&dir.0))
                .unwrap_or_else(|error| panic!("{error}"));
        }
        let server = Self {
            data: dir.0.join("data"),
            bin,
            dir,
            port: free_port(),
            as_postgres,
        };
        let mut initdb = server.command("initdb");
        initdb.arg("-D").arg(&server.data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(&mut initdb).unwrap_or_else(|error| panic!("{error}"));
        server.start();
        Ok(server)
    }

    /// `postgres://` URL of its `postgres` database.
    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server on its port and waits until it accepts connections.
    pub(crate) fn start(&self) {
        let options = format!(
            "-p {} -h 127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.0.display()
        );
        let mut start = self.command("pg_ctl");
        start
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.dir.0.join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"]);
        run(&mut start).unwrap_or_else(|error| panic!("{error}\n{}", self.log()));
    }

    /// Stops the server the hard way (`-m immediate`: connections are cut, no checkpoint),
    /// as a crash or a network loss would.
    pub(crate) fn stop(&self) {
        run(&mut self.stop_command()).unwrap_or_else(|error| panic!("{error}\n{}", self.log()));
    }

    fn stop_command(&self) -> Command {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "-t", "60", "stop"]);
        stop
    }

    /// The server's own log, for failure messages.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("server.log")).unwrap_or_default()
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // Stopped already when the test stopped it last; the error is then expected.
        let _ = self.stop_command().output();
    }
}

/// The newest installed server's `bin` directory.
fn server_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    versions.sort_by_key(|bin| version_of(bin));
    versions.pop()
}

fn version_of(bin: &Path) -> u32 {
    bin.parent()
        .and_then(Path::file_name)
        .and_then(|name| name.to_str())
        .and_then(|name| name.parse().ok())
        .unwrap_or(0)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

fn run(command: &mut Command) -> Result<Output, String> {
    let output = command
        .output()
        .map_err(|error| format!("cannot run {command:?}: {error}"))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!(
            "{command:?} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
