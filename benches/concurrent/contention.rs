//! Progressive contention: 1, 2, 4, 8 and 16 tasks (or threads) share a fixed
//! total of `CONTENDED_OPS` lock acquisitions.
//!
//! - `contention/tokio_mutex/N`: tasks on the runtime, `tokio::sync::Mutex`
//!   (contended acquisitions park the task and wake it through the
//!   scheduler, so the wake probes are on this path).
//! - `contention/parking_lot_in_tasks/N`: tasks on the runtime, a blocking
//!   `parking_lot::Mutex` (workers contend, the scheduler does not).
//! - `contention/parking_lot_threads/N`: plain OS threads, no runtime: the
//!   floor the other two are compared with.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tokio_pulse_benches::{config_slow, contended_tokio_mutex, rt, CONTENDED_OPS, WORKERS};

const TASKS: [u64; 5] = [1, 2, 4, 8, 16];

fn contention(c: &mut Criterion) {
    let rt = rt(WORKERS);
    let mut group = c.benchmark_group("contention");
    group.throughput(Throughput::Elements(CONTENDED_OPS));
    for tasks in TASKS {
        group.bench_with_input(
            BenchmarkId::new("tokio_mutex", tasks),
            &tasks,
            |b, &tasks| b.iter(|| contended_tokio_mutex(&rt, tasks, CONTENDED_OPS)),
        );
    }
    for tasks in TASKS {
        group.bench_with_input(
            BenchmarkId::new("parking_lot_in_tasks", tasks),
            &tasks,
            |b, &tasks| {
                b.iter(|| {
                    let counter = Arc::new(parking_lot::Mutex::new(0u64));
                    rt.block_on(async {
                        let handles: Vec<_> = (0..tasks)
                            .map(|_| {
                                let counter = Arc::clone(&counter);
                                tokio::spawn(async move {
                                    for _ in 0..CONTENDED_OPS / tasks {
                                        *counter.lock() += 1;
                                    }
                                })
                            })
                            .collect();
                        for handle in handles {
                            handle.await.expect("a contention task panicked");
                        }
                    });
                    let total = *counter.lock();
                    total
                })
            },
        );
    }
    for threads in TASKS {
        group.bench_with_input(
            BenchmarkId::new("parking_lot_threads", threads),
            &threads,
            |b, &threads| {
                b.iter(|| {
                    let counter = parking_lot::Mutex::new(0u64);
                    std::thread::scope(|s| {
                        for _ in 0..threads {
                            s.spawn(|| {
                                for _ in 0..CONTENDED_OPS / threads {
                                    *counter.lock() += 1;
                                }
                            });
                        }
                    });
                    counter.into_inner()
                })
            },
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config_slow();
    targets = contention
}
criterion_main!(benches);
