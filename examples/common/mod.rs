//! Helpers shared by the teaching examples: building the runtime, latency
//! percentiles, busy work, and plain-text tables.
//!
//! Each example includes this file with `mod common;`, so not every example
//! uses every helper.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Builds a multi-thread runtime with `workers` workers, named `name`, with
/// I/O and time enabled; on failure prints why and returns `None`.
pub fn runtime(name: &str, workers: usize) -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(name)
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(err) => {
            eprintln!("{name}: cannot build a runtime with {workers} workers: {err}");
            None
        }
    }
}

/// Spins on the CPU for `time` without yielding: a stand-in for real work.
pub fn spin(time: Duration) {
    let start = Instant::now();
    while start.elapsed() < time {
        std::hint::spin_loop();
    }
}

/// Latency percentiles of a set of samples.
#[derive(Clone, Copy, Debug, Default)]
pub struct Percentiles {
    /// Number of samples.
    pub count: usize,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest sample.
    pub max: Duration,
}

impl Percentiles {
    /// Percentiles of `samples` (nearest rank); all zero when empty.
    pub fn of(samples: &mut [Duration]) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let rank = |q: f64| {
            let i = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            samples[i - 1]
        };
        Percentiles {
            count: samples.len(),
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: samples[samples.len() - 1],
        }
    }
}

/// `d` in the unit that keeps it readable: `850ns`, `12.3µs`, `4.56ms`, `1.20s`.
pub fn dur(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{:.1}µs", ns as f64 / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2}ms", ns as f64 / 1e6)
    } else {
        format!("{:.2}s", ns as f64 / 1e9)
    }
}

/// `n` with a `k`/`M` suffix when large: `950`, `12.3k`, `4.56M`.
pub fn count(n: f64) -> String {
    if n < 10_000.0 {
        format!("{n:.0}")
    } else if n < 10_000_000.0 {
        format!("{:.1}k", n / 1e3)
    } else {
        format!("{:.2}M", n / 1e6)
    }
}

/// A plain-text table with right-aligned columns sized to their content.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table whose first row is `header`.
    pub fn new<S: ToString>(header: impl IntoIterator<Item = S>) -> Table {
        let mut table = Table::default();
        table.row(header);
        table
    }

    /// Appends a row.
    pub fn row<S: ToString>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows
            .push(cells.into_iter().map(|c| c.to_string()).collect());
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in &self.rows {
            let mut line = String::new();
            for (cell, width) in row.iter().zip(&widths) {
                let pad = width.saturating_sub(cell.chars().count());
                let _ = write!(line, "{:pad$}{cell}  ", "");
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// Max over mean of `values`: 1.00 is perfectly even, `n` means one of `n`
/// did everything. Zero when all are zero.
pub fn imbalance(values: &[u64]) -> f64 {
    let total: u64 = values.iter().sum();
    if total == 0 || values.is_empty() {
        return 0.0;
    }
    let mean = total as f64 / values.len() as f64;
    values.iter().copied().max().unwrap_or(0) as f64 / mean
}

/// Writes `text` to stdout. A closed pipe (`| head`) is not an error worth a
/// panic: it returns `false`, and the caller stops.
pub fn emit(text: &str) -> bool {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_ok()
}
