//! Steal paths and the steal matrix.
//!
//! - `work_stealing/imbalanced_spawn`: one task spawns `TASKS` small tasks
//!   into its own worker's queue; the other worker must steal to help.
//! - `work_stealing/steal_probes_rotating_victim`: the thief's probe pair
//!   (`steal_attempt` + `stole`) over all 16 victims of a 16-worker matrix,
//!   batched ×100, so each call touches a different cell.
//! - `work_stealing/matrix_snapshot`: reading the live runtime's probes,
//!   steal matrix included, as an exporter does on a scrape.
//!
//! Before measuring, it prints the steal matrix one imbalanced spawn left, so
//! a run shows that the bench really steals.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio_pulse_benches::{config, on_worker, rt, BATCH, WORKERS};
use tokio_pulse_probes::RuntimeProbes;

const TASKS: u64 = 2_000;
const SPIN: u64 = 200;

fn imbalanced_spawn(rt: &tokio::runtime::Runtime) {
    on_worker(rt, async {
        let handles: Vec<_> = (0..TASKS)
            .map(|i| {
                tokio::spawn(async move {
                    let mut x = i;
                    for j in 0..SPIN {
                        x = black_box(x.wrapping_mul(31).wrapping_add(j));
                    }
                    x
                })
            })
            .collect();
        for handle in handles {
            black_box(handle.await.expect("a stolen task panicked"));
        }
    })
}

fn work_stealing(c: &mut Criterion) {
    let rt = rt(WORKERS);
    let probes = rt.handle().pulse();
    let before = probes.snapshot();
    imbalanced_spawn(&rt);
    let delta = probes.snapshot().delta(&before);
    for (thief, worker) in delta.workers.iter().enumerate() {
        let row: Vec<String> = worker
            .steals_from
            .iter()
            .map(|cell| format!("{}/{}", cell.operations, cell.tasks))
            .collect();
        eprintln!(
            "work_stealing: worker {thief} stole (operations/tasks) from each victim: [{}]",
            row.join(", ")
        );
    }

    let mut group = c.benchmark_group("work_stealing");
    group.throughput(Throughput::Elements(TASKS));
    group.bench_function("imbalanced_spawn", |b| b.iter(|| imbalanced_spawn(&rt)));

    let (_matrix, mut recorders) = RuntimeProbes::new(Some("bench-steal"), 16);
    let thief = &mut recorders[0];
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("steal_probes_rotating_victim", |b| {
        b.iter(|| {
            for i in 0..BATCH as usize {
                let r = black_box(&mut *thief);
                r.steal_attempt(i % 16);
                r.stole(1);
            }
        })
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("matrix_snapshot", |b| {
        b.iter(|| black_box(&probes).snapshot())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = work_stealing
}
criterion_main!(benches);
