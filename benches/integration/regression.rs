//! The workloads of `cargo xtask overhead` under criterion, plus the seed's
//! performance-targets rows. This file and the library it uses depend on
//! Tokio and criterion only, so `cargo xtask bench --targets` builds it
//! against stock Tokio too, and `--save-baseline` / `--baseline` compare a
//! change to the patch against a saved run.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio_pulse_benches::{config, config_slow, rt, seed_targets, workloads, WORKERS};

fn overhead_workloads(c: &mut Criterion) {
    let rt = Arc::new(rt(WORKERS));
    let mut group = c.benchmark_group("overhead");
    for name in workloads::names() {
        let mut workload = workloads::build(&name, &rt).expect("a listed workload builds");
        group.throughput(Throughput::Elements(workload.units));
        group.bench_function(&name, |b| b.iter(|| (workload.iteration)()));
    }
    group.finish();
}

criterion_group! {
    name = overhead;
    config = config_slow();
    targets = overhead_workloads
}
criterion_group! {
    name = targets;
    config = config();
    targets = seed_targets
}
criterion_main!(overhead, targets);
