//! Shared pieces of the Tokio-Pulse criterion benches.
//!
//! # Index
//!
//! - [`rt`]: the multi-thread runtime every runtime bench uses, one per bench.
//! - [`config`]: the seed's statistical settings for sub-microsecond benches
//!   (command-line options such as `--measurement-time` still override them).
//! - [`workloads`]: the workloads of `cargo xtask overhead`, the same source
//!   file, so `integration/regression.rs` measures exactly what it measures.
//! - [`seed_targets`]: the rows of the seed's performance-targets table.
//!
//! This library depends on Tokio and criterion only, never on the probes, so
//! that `cargo xtask bench --targets` can build it against stock Tokio.
//!
//! # Examples
//!
//! ```
//! let rt = tokio_pulse_benches::rt(2);
//! assert_eq!(rt.block_on(async { 1 + 1 }), 2);
//! ```

#![warn(missing_docs)]

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use tokio::runtime::Runtime;

#[path = "../../overhead/src/workloads.rs"]
pub mod workloads;

/// Worker threads of the benches' runtimes: the machine's two cores.
pub const WORKERS: usize = 2;

/// Operations per iteration of a batched sub-microsecond bench.
pub const BATCH: u64 = 100;

/// Lock acquisitions per iteration of the contention rows.
pub const CONTENDED_OPS: u64 = 8_000;

/// Messages, spawns or yields per iteration of the runtime rows.
pub const RUNTIME_OPS: u64 = 1_000;

/// A multi-thread runtime with `workers` workers and every driver enabled.
///
/// # Examples
///
/// ```
/// let rt = tokio_pulse_benches::rt(1);
/// assert_eq!(rt.metrics().num_workers(), 1);
/// ```
pub fn rt(workers: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("building a multi-thread runtime")
}

/// Criterion with the seed's settings for sub-microsecond benches: 1 s
/// warm-up, 5 s measurement, 100 samples, significance level 0.05.
///
/// # Examples
///
/// ```
/// let _c = tokio_pulse_benches::config();
/// ```
pub fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(100)
        .significance_level(0.05)
}

/// Criterion for benches whose iterations take milliseconds: fewer samples,
/// so that a run stays short; the same significance level.
///
/// # Examples
///
/// ```
/// let _c = tokio_pulse_benches::config_slow();
/// ```
pub fn config_slow() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .significance_level(0.05)
}

/// `tasks` tasks share `ops` increments of a `tokio::sync::Mutex`; returns
/// when all are done.
///
/// # Examples
///
/// ```
/// let rt = tokio_pulse_benches::rt(2);
/// assert_eq!(tokio_pulse_benches::contended_tokio_mutex(&rt, 4, 100), 100);
/// ```
pub fn contended_tokio_mutex(rt: &Runtime, tasks: u64, ops: u64) -> u64 {
    let counter = Arc::new(tokio::sync::Mutex::new(0u64));
    let per_task = ops / tasks;
    rt.block_on(async {
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    for _ in 0..per_task {
                        *counter.lock().await += 1;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("a contention task panicked");
        }
    });
    let total = *counter.blocking_lock();
    total
}

/// Runs `body` as one task on a worker of `rt` and waits for it, so that
/// what it does counts as local to the runtime.
///
/// # Examples
///
/// ```
/// let rt = tokio_pulse_benches::rt(1);
/// assert_eq!(tokio_pulse_benches::on_worker(&rt, async { 7 }), 7);
/// ```
pub fn on_worker<F>(rt: &Runtime, body: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.block_on(rt.spawn(body))
        .expect("the bench task panicked")
}

/// The seed's performance-targets rows, as group `seed_targets`. Each
/// bench id ends in `_x<ops>`: its time divided by `<ops>` is the row's
/// per-operation figure, which `cargo xtask bench --targets` prints next to
/// the seed's target, on the fork and on stock.
///
/// # Examples
///
/// ```no_run
/// let mut c = tokio_pulse_benches::config();
/// tokio_pulse_benches::seed_targets(&mut c);
/// ```
pub fn seed_targets(c: &mut Criterion) {
    let mut group = c.benchmark_group("seed_targets");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function(format!("uncontended_atomic_x{BATCH}"), |b| {
        let value = AtomicU64::new(0);
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(&value).fetch_add(1, Relaxed);
            }
        })
    });
    group.bench_function(format!("uncontended_mutex_x{BATCH}"), |b| {
        let lock = parking_lot::Mutex::new(0u64);
        b.iter(|| {
            for _ in 0..BATCH {
                *black_box(&lock).lock() += 1;
            }
        })
    });

    let rt = rt(WORKERS);
    group.throughput(Throughput::Elements(CONTENDED_OPS));
    for tasks in [2, 8] {
        group.bench_function(format!("contention_{tasks}_tasks_x{CONTENDED_OPS}"), |b| {
            b.iter(|| contended_tokio_mutex(&rt, tasks, CONTENDED_OPS))
        });
    }
    group.throughput(Throughput::Elements(RUNTIME_OPS));
    group.bench_function(format!("channel_send_recv_x{RUNTIME_OPS}"), |b| {
        b.iter(|| {
            on_worker(&rt, async {
                let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(128);
                let producer = tokio::spawn(async move {
                    for i in 0..RUNTIME_OPS {
                        tx.send(i).await.expect("receiver dropped");
                    }
                });
                let mut sum = 0;
                while let Some(i) = rx.recv().await {
                    sum += i;
                }
                producer.await.expect("producer panicked");
                black_box(sum)
            })
        })
    });
    group.bench_function(format!("task_spawn_x{RUNTIME_OPS}"), |b| {
        b.iter(|| {
            on_worker(&rt, async {
                for i in 0..RUNTIME_OPS {
                    let handle = tokio::spawn(async move { black_box(i) });
                    handle.await.expect("spawned task panicked");
                }
            })
        })
    });
    group.bench_function(format!("context_switch_x{RUNTIME_OPS}"), |b| {
        b.iter(|| {
            on_worker(&rt, async {
                for _ in 0..RUNTIME_OPS {
                    tokio::task::yield_now().await;
                }
            })
        })
    });
    group.finish();
}
