//! Requests per second for a public dataset's detail, one instance, in-process.
//!
//! Run with `cargo bench -p app --bench detail`. It starts the app on a temporary SQLite
//! file, uploads one public dataset, then drives `GET /api/datasets/{id}` from a fixed number
//! of keep-alive clients for a fixed time and prints throughput and latency percentiles.
//! Client and server share the machine's cores, so compare figures from the same machine.

use std::time::{Duration, Instant};

use app::config::Config;
use app::startup::Application;
use serde_json::{Value, json};

const CLIENTS: usize = 16;
const WARM_UP: Duration = Duration::from_secs(2);
const MEASURE: Duration = Duration::from_secs(10);

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("flotilla-bench-{}", uuid::Uuid::new_v4()));
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let mut config = Config::new(url, "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz");
    config.drain_secs = 0;
    let app = Application::build(config).await?;
    let base = format!("http://{}", app.addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));

    let client = reqwest::Client::new();
    let registered: Value = client
        .post(format!("{base}/api/auth/register"))
        .json(&json!({ "email": "bench@example.org", "password": "bench password" }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = registered["token"].as_str().unwrap_or_default().to_owned();
    let mut csv = String::from("id,value,label,when\n");
    for i in 0..1000 {
        csv.push_str(&format!(
            "{i},{}.5,label-{},2024-01-{:02}\n",
            i * 7 % 113,
            i % 17,
            i % 28 + 1
        ));
    }
    let created: Value = client
        .post(format!("{base}/api/datasets?name=bench&visibility=public"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let detail_url = format!(
        "{base}/api/datasets/{}",
        created["id"].as_str().unwrap_or_default()
    );

    let started = Instant::now();
    let warm_until = started + WARM_UP;
    let end = warm_until + MEASURE;
    let workers = (0..CLIENTS).map(|_| {
        let client = reqwest::Client::new();
        let url = detail_url.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let ok = match client.get(&url).send().await {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        ok && response.bytes().await.is_ok()
                    }
                    Err(_) => false,
                };
                if sent >= warm_until {
                    if ok {
                        latencies.push(sent.elapsed());
                    } else {
                        errors += 1;
                    }
                }
            }
            (latencies, errors)
        })
    });
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in futures::future::join_all(workers).await {
        let (mine, failed) = worker?;
        latencies.extend(mine);
        errors += failed;
    }
    latencies.sort();
    let percentile = |p: f64| {
        let index = ((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1));
        latencies.get(index).copied().unwrap_or_default()
    };
    let body_bytes = client.get(&detail_url).send().await?.bytes().await?.len();
    println!(
        "GET /api/datasets/{{id}} (public, {body_bytes} B body), {CLIENTS} keep-alive clients, {}s after {}s warm-up",
        MEASURE.as_secs(),
        WARM_UP.as_secs()
    );
    println!(
        "  {:.0} requests/s   p50 {:.2} ms   p99 {:.2} ms   errors {errors}",
        latencies.len() as f64 / MEASURE.as_secs_f64(),
        percentile(0.50).as_secs_f64() * 1000.0,
        percentile(0.99).as_secs_f64() * 1000.0,
    );

    let _ = stop.send(());
    server.await??;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}
