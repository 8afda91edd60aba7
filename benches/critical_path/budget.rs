//! Coop-budget and yield accounting on the fork's runtime.
//!
//! - `budget/consume_budget_x1000`: one task spends 1000 units of coop
//!   budget; every 128th runs the budget out and yields (reason `budget`).
//! - `budget/unconstrained_x1000`: the same inside `unconstrained`, which
//!   skips the accounting: the difference is what the accounting costs.
//! - `budget/yield_now_x1000`: 1000 explicit yields (reason `yield_now`).
//! - `budget/yielded_probe`: the yield probe alone, batched ×100.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio::task::coop::{consume_budget, unconstrained};
use tokio_pulse_benches::{config, on_worker, rt, BATCH, RUNTIME_OPS, WORKERS};
use tokio_pulse_probes::{RuntimeProbes, YieldReason};

fn budget(c: &mut Criterion) {
    let rt = rt(WORKERS);
    let mut group = c.benchmark_group("budget");
    group.throughput(Throughput::Elements(RUNTIME_OPS));
    group.bench_function(format!("consume_budget_x{RUNTIME_OPS}"), |b| {
        b.iter(|| {
            on_worker(&rt, async {
                for _ in 0..RUNTIME_OPS {
                    consume_budget().await;
                }
            })
        })
    });
    group.bench_function(format!("unconstrained_x{RUNTIME_OPS}"), |b| {
        b.iter(|| {
            on_worker(
                &rt,
                unconstrained(async {
                    for _ in 0..RUNTIME_OPS {
                        consume_budget().await;
                    }
                }),
            )
        })
    });
    group.bench_function(format!("yield_now_x{RUNTIME_OPS}"), |b| {
        b.iter(|| {
            on_worker(&rt, async {
                for _ in 0..RUNTIME_OPS {
                    tokio::task::yield_now().await;
                }
            })
        })
    });

    let (_probes, mut recorders) = RuntimeProbes::new(Some("bench-budget"), WORKERS);
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("yielded_probe", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(&mut recorders[0]).yielded(YieldReason::Budget);
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = budget
}
criterion_main!(benches);
