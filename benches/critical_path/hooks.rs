//! Each counter probe alone, batched ×100 to amortize the measurement, with
//! `black_box` so that the stores are not merged. Criterion's time per
//! iteration divided by 100 is one probe's cost; the budget is ≤ 2 ns.
//! `baseline/*` gives the primitives to compare with: the single-writer
//! relaxed load + store every probe is, and the locked `fetch_add` the
//! probes avoid. `task_names/*` prices the named-task table the fork uses
//! under `tokio_unstable` with Tokio's `tracing` feature.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio_pulse_benches::{config, BATCH};
use tokio_pulse_probes::fork::{self, WorkerRecorder};
use tokio_pulse_probes::{
    task_names, RemoteKind, RuntimeProbes, ScheduleKind, TaskInfo, YieldReason,
};

/// Benches `probe` on a fresh 16-worker runtime's worker 0, `BATCH` times
/// per iteration.
fn bench_probe(c: &mut Criterion, name: &str, probe: impl Fn(&mut WorkerRecorder)) {
    let (_rt, mut recorders) = RuntimeProbes::new(Some("bench"), 16);
    let mut recorder = recorders.swap_remove(0);
    let mut group = c.benchmark_group("probes");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function(name, |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                probe(black_box(&mut recorder));
            }
        })
    });
    group.finish();
}

fn probes(c: &mut Criterion) {
    // What the fork calls per poll: the start (which counts it) and the end.
    bench_probe(c, "poll_started", |r| {
        r.poll_started(|| TaskInfo {
            id: 1,
            spawned_at: None,
        })
    });
    bench_probe(c, "lifo_poll_started", |r| {
        r.lifo_poll_started(|| TaskInfo {
            id: 1,
            spawned_at: None,
        })
    });
    bench_probe(c, "poll_ended", |r| r.poll_ended());
    bench_probe(c, "scheduled_local_spawn_lifo", |r| {
        r.scheduled_local(ScheduleKind::Spawn, true)
    });
    bench_probe(c, "scheduled_local_wake_queue", |r| {
        r.scheduled_local(ScheduleKind::Wake, false)
    });
    bench_probe(c, "yielded", |r| r.yielded(YieldReason::YieldNow));
    bench_probe(c, "steal_attempt", |r| r.steal_attempt(black_box(3)));
    bench_probe(c, "steal_attempt_and_stole", |r| {
        r.steal_attempt(black_box(3));
        r.stole(black_box(4));
    });
    bench_probe(c, "parked", |r| r.parked());
    bench_probe(c, "unparked", |r| r.unparked());
    bench_probe(c, "overflowed", |r| r.overflowed());
    bench_probe(c, "lifo_capped", |r| r.lifo_capped());

    let (writer, _recorders) = fork::new(Some("bench-remote"), 16);
    let inject_lock = parking_lot::Mutex::new(());
    let mut group = c.benchmark_group("probes");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("pushed_locked", |b| {
        let _held = inject_lock.lock();
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(&writer).pushed_locked(RemoteKind::Spawn);
            }
        })
    });
    group.finish();
}

fn baseline(c: &mut Criterion) {
    let mut group = c.benchmark_group("baseline");
    group.throughput(Throughput::Elements(BATCH));
    let value = AtomicU64::new(0);
    group.bench_function("relaxed_load_store", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                let v = black_box(&value);
                v.store(v.load(Relaxed) + 1, Relaxed);
            }
        })
    });
    group.bench_function("fetch_add", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(&value).fetch_add(1, Relaxed);
            }
        })
    });
    group.finish();
}

fn snapshots(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot");
    for workers in [2, 16] {
        let (rt, _recorders) = RuntimeProbes::new(Some("bench-snapshot"), workers);
        group.bench_function(format!("{workers}_workers"), |b| {
            b.iter(|| black_box(&rt).snapshot())
        });
    }
    group.finish();
}

/// What the fork adds to a task's life under `tokio_unstable` + `tracing`:
/// a named task's spawn and completion (`remember` + `forget`), and an
/// unnamed task's completion (`forget`) with no named task alive in its
/// shard, or with one alive (then it takes the shard's lock to look).
fn task_names(c: &mut Criterion) {
    let mut group = c.benchmark_group("task_names");
    let mut id = 1u64 << 50;
    group.bench_function("named_spawn_and_complete", |b| {
        b.iter(|| {
            id += 1;
            task_names::remember(black_box(id), black_box("connection handler"));
            task_names::forget(black_box(id));
        })
    });
    // Ids of shard 0 only: none is named yet.
    group.bench_function("unnamed_complete_none_alive", |b| {
        b.iter(|| task_names::forget(black_box(2u64 << 50)))
    });
    task_names::remember(3 << 50, "alive");
    group.bench_function("unnamed_complete_one_alive", |b| {
        b.iter(|| task_names::forget(black_box((3u64 << 50) + 16)))
    });
    task_names::forget(3 << 50);
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = probes, baseline, snapshots, task_names
}
criterion_main!(benches);
