//! Throughput of the analysis engine on a generated CSV file.
//!
//! Run with `cargo bench -p app --bench analysis`. `ANALYSIS_BENCH_MB` sets the file size
//! (default 50) and `ANALYSIS_BENCH_RUNS` the number of timed runs (default 5). The table
//! shows the median run of `analyze` next to a bare csv pass over the same bytes, so the
//! ratio tells what type inference and statistics cost on top of parsing.

use std::hint::black_box;
use std::time::{Duration, Instant};

use app::analysis::{Options, analyze};

const CITIES: [&str; 8] = [
    "Paris", "Oslo", "Lima", "Accra", "Quito", "Hanoi", "Perth", "Dakar",
];

/// A small deterministic generator (xorshift64*), so every run benches the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// About `bytes` of CSV with integer, number, datetime, boolean and two text columns (one
/// with few values, one with nearly all distinct).
fn generate(bytes: usize) -> (Vec<u8>, u64) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut csv = String::with_capacity(bytes + 256);
    csv.push_str("id,price,at,active,city,note\n");
    let mut rows = 0u64;
    while csv.len() < bytes {
        let r = rng.next();
        let seconds = 1_600_000_000 + r % 100_000_000;
        let at = chrono::DateTime::from_timestamp(seconds as i64, 0).unwrap_or_default();
        let price = (r >> 20) % 1_000_000;
        csv.push_str(&format!(
            "{rows},{}.{:02},{},{},{},\"note {:x}, {}\"\n",
            price / 100,
            price % 100,
            at.format("%Y-%m-%dT%H:%M:%SZ"),
            r & 1 == 0,
            CITIES[(r >> 8) as usize % CITIES.len()],
            r >> 40,
            if r % 10 == 0 { "NA" } else { "ok" },
        ));
        rows += 1;
    }
    (csv.into_bytes(), rows)
}

/// A bare csv pass: what reading the records costs without any analysis.
fn parse_only(data: &[u8]) -> u64 {
    let mut reader = csv::ReaderBuilder::new().from_reader(data);
    let mut record = csv::ByteRecord::new();
    let mut rows = 0;
    while reader.read_byte_record(&mut record).unwrap_or(false) {
        rows += 1;
    }
    rows
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort_unstable();
    runs[runs.len() / 2]
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let megabytes = env_or("ANALYSIS_BENCH_MB", 50);
    let runs = env_or("ANALYSIS_BENCH_RUNS", 5).max(1);
    let (data, rows) = generate(megabytes * 1_000_000);
    let options = Options::default();

    let time = |work: &dyn Fn()| {
        median(
            (0..runs)
                .map(|_| {
                    let start = Instant::now();
                    work();
                    start.elapsed()
                })
                .collect(),
        )
    };
    let parse = time(&|| {
        black_box(parse_only(black_box(&data)));
    });
    let analysis = time(&|| {
        let result = analyze(black_box(&data[..]), &options).expect("generated CSV analyses");
        assert_eq!(result.rows, rows);
        black_box(result);
    });

    let mb = data.len() as f64 / 1e6;
    println!(
        "{:.1} MB, {rows} rows, 6 columns, median of {runs} runs",
        mb
    );
    println!();
    println!("| pass           | median s |   MB/s |     rows/s | vs parse |");
    println!("|----------------|---------:|-------:|-----------:|---------:|");
    for (name, elapsed) in [("csv parse only", parse), ("analyze", analysis)] {
        let seconds = elapsed.as_secs_f64();
        println!(
            "| {name:<14} | {seconds:>8.3} | {:>6.1} | {:>10.0} | {:>7.2}x |",
            mb / seconds,
            rows as f64 / seconds,
            seconds / parse.as_secs_f64(),
        );
    }
}
