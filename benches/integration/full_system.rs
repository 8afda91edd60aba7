//! End to end on the fork: spawn, poll, yield and steal together, and a
//! Prometheus scrape of the result.
//!
//! - `full_system/mixed`: from a worker, `TASKS` tasks are spawned; each
//!   yields `YIELDS` times and does a oneshot round trip with a helper task,
//!   so spawns, wakes, yields, LIFO polls and steals all happen.
//! - `full_system/scrape/N_workers`: rendering `/metrics` (the Tokio-Pulse
//!   families only) with a live runtime of N workers. The budget for 16
//!   workers is under 1 ms.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio_pulse_benches::{config_slow, on_worker, rt, WORKERS};

const TASKS: u64 = 500;
const YIELDS: u64 = 5;

fn mixed(c: &mut Criterion) {
    let rt = rt(WORKERS);
    let mut group = c.benchmark_group("full_system");
    group.throughput(Throughput::Elements(TASKS));
    group.bench_function("mixed", |b| {
        b.iter(|| {
            on_worker(&rt, async {
                let handles: Vec<_> = (0..TASKS)
                    .map(|i| {
                        tokio::spawn(async move {
                            for _ in 0..YIELDS {
                                tokio::task::yield_now().await;
                            }
                            let (tx, rx) = tokio::sync::oneshot::channel();
                            tokio::spawn(async move { tx.send(i).ok() });
                            rx.await.expect("the helper task dropped its sender")
                        })
                    })
                    .collect();
                let mut sum = 0;
                for handle in handles {
                    sum += handle.await.expect("a task panicked");
                }
                black_box(sum)
            })
        })
    });
    group.finish();
}

fn scrape(c: &mut Criterion) {
    let mut group = c.benchmark_group("full_system");
    group.throughput(Throughput::Elements(1));
    for workers in [WORKERS, 16] {
        let rt = rt(workers);
        rt.block_on(async {
            for _ in 0..100 {
                tokio::spawn(async { tokio::task::yield_now().await })
                    .await
                    .expect("warm-up task panicked");
            }
        });
        let renderer = tokio_pulse_rt::prometheus()
            .with_global_recorder(false)
            .build()
            .expect("renderer");
        group.bench_function(format!("scrape/{workers}_workers"), |b| {
            b.iter(|| black_box(renderer.render()))
        });
        drop(rt);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config_slow();
    targets = mixed, scrape
}
criterion_main!(benches);
