//! The end-to-end figure: one app instance in this process, on a temporary SQLite file,
//! and uploads of the file over plain HTTP/1.1 until the 201, analysis and store included.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use app::config::Config;
use app::startup::Application;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bytes written per write call, about what a client's socket buffer takes.
const WRITE_BYTES: usize = 64 * 1024;

/// A running instance and a signed-in user's token.
pub(crate) struct Instance {
    pub(crate) addr: std::net::SocketAddr,
    token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    dir: PathBuf,
}

impl Instance {
    /// Starts the app with uploads of up to 256 MiB, and registers a user.
    pub(crate) async fn start() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("flotilla-bench-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        let url = format!("sqlite://{}", dir.join("bench.db").display());
        let mut config = Config::new(url, "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz");
        config.listen = ([127, 0, 0, 1], 0).into();
        config.drain_secs = 0;
        config.max_upload_bytes = 256 * 1024 * 1024;
        config.body_idle_timeout_ms = 60_000;
        let app = Application::build(config).await?;
        let addr = app.addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        let registered: Value = reqwest::Client::new()
            .post(format!("http://{addr}/api/auth/register"))
            .json(&json!({ "email": "bench@example.org", "password": "bench password" }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = registered["token"].as_str().unwrap_or_default().to_owned();
        Ok(Self {
            addr,
            token,
            stop: Some(stop),
            dir,
        })
    }

    /// Uploads `body` as `text/csv` and returns the time to the whole 201 and its JSON.
    pub(crate) async fn upload(&self, body: &[u8]) -> anyhow::Result<(Duration, Value)> {
        let start = Instant::now();
        let mut stream = self.connect(body.len()).await?;
        for chunk in body.chunks(WRITE_BYTES) {
            stream.write_all(chunk).await?;
        }
        let created = read_created(&mut stream).await?;
        Ok((start.elapsed(), created))
    }

    /// Uploads the file at `path`, read from disk as it is sent, so the client holds
    /// little of it (for the memory figure).
    pub(crate) async fn upload_file(&self, path: &Path) -> anyhow::Result<Value> {
        let mut file = tokio::fs::File::open(path).await?;
        let length = file.metadata().await?.len();
        let mut stream = self.connect(usize::try_from(length)?).await?;
        let mut buffer = vec![0u8; WRITE_BYTES];
        loop {
            let read = file.read(&mut buffer).await?;
            if read == 0 {
                break;
            }
            stream.write_all(&buffer[..read]).await?;
        }
        read_created(&mut stream).await
    }

    async fn connect(&self, length: usize) -> anyhow::Result<TcpStream> {
        let mut stream = TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        let head = format!(
            "POST /api/datasets?name=bench&visibility=private HTTP/1.1\r\nHost: {}\r\n\
             Authorization: Bearer {}\r\nContent-Type: text/csv\r\nContent-Length: {length}\r\n\
             Connection: close\r\n\r\n",
            self.addr, self.token
        );
        stream.write_all(head.as_bytes()).await?;
        Ok(stream)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Reads the whole response and checks it is a 201 with a JSON body.
async fn read_created(stream: &mut TcpStream) -> anyhow::Result<Value> {
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    anyhow::ensure!(
        head.starts_with("HTTP/1.1 201"),
        "expected 201, got {}",
        head.lines().next().unwrap_or_default()
    );
    // Connection: close and no chunking from this server: the body is the rest.
    Ok(serde_json::from_str(body)?)
}

/// This process's peak resident set (`VmHWM`), in bytes; `None` off Linux.
pub(crate) fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
