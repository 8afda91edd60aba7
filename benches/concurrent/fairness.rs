//! Fairness: how evenly polls spread over workers, and how long a
//! latency-sensitive task waits beside CPU hogs.
//!
//! - `fairness/equal_tasks`: `TASKS` equal tasks spawned from outside; the
//!   fork's probes give each worker's share of the polls, printed as the
//!   ratio of the busiest worker's polls to the idlest's (1.0 is even).
//! - `fairness/wake_latency_beside_hogs`: `HOGS` tasks each spin for
//!   `HOG_SLICE` and yield, forever; the measured time is from spawning a
//!   task from outside to its first poll. Criterion reports the mean; the
//!   bench also prints p50, p99 and max of every sample it took.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio_pulse_benches::{config_slow, rt, WORKERS};

const TASKS: u64 = 1_000;
const YIELDS: u64 = 10;
const HOGS: usize = 4;
const HOG_SLICE: Duration = Duration::from_micros(50);

fn equal_tasks(rt: &tokio::runtime::Runtime) {
    let handles: Vec<_> = (0..TASKS)
        .map(|_| {
            rt.spawn(async {
                for _ in 0..YIELDS {
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    rt.block_on(async {
        for handle in handles {
            handle.await.expect("a task panicked");
        }
    });
}

fn spread(c: &mut Criterion) {
    let rt = rt(WORKERS);
    let probes = rt.handle().pulse();
    let mut group = c.benchmark_group("fairness");
    group.throughput(Throughput::Elements(TASKS * (YIELDS + 1)));
    let before = probes.snapshot();
    group.bench_function("equal_tasks", |b| b.iter(|| equal_tasks(&rt)));
    let delta = probes.snapshot().delta(&before);
    let polls: Vec<u64> = delta.workers.iter().map(|w| w.polls).collect();
    let (max, min) = (
        polls.iter().copied().max().unwrap_or(0),
        polls.iter().copied().min().unwrap_or(0),
    );
    eprintln!(
        "fairness/equal_tasks: polls per worker {polls:?}, busiest/idlest {:.2}",
        max as f64 / min.max(1) as f64
    );
    group.finish();
}

fn latency(c: &mut Criterion) {
    let rt = rt(WORKERS);
    let stop = Arc::new(AtomicBool::new(false));
    for _ in 0..HOGS {
        let stop = Arc::clone(&stop);
        rt.spawn(async move {
            while !stop.load(Relaxed) {
                let start = Instant::now();
                while start.elapsed() < HOG_SLICE {
                    std::hint::spin_loop();
                }
                tokio::task::yield_now().await;
            }
        });
    }
    let mut samples: Vec<Duration> = Vec::new();
    let mut group = c.benchmark_group("fairness");
    group.bench_function("wake_latency_beside_hogs", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let spawned = Instant::now();
                let first_poll = rt
                    .block_on(rt.spawn(async { Instant::now() }))
                    .expect("the latency task panicked");
                let waited = first_poll.saturating_duration_since(spawned);
                samples.push(waited);
                total += waited;
            }
            black_box(total)
        })
    });
    group.finish();
    stop.store(true, Relaxed);
    samples.sort();
    if !samples.is_empty() {
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
        eprintln!(
            "fairness/wake_latency_beside_hogs: {} samples, p50 {:?}, p99 {:?}, max {:?}",
            samples.len(),
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
}

criterion_group! {
    name = benches;
    config = config_slow();
    targets = spread, latency
}
criterion_main!(benches);
