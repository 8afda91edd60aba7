//! Poll-time tiers and clock reads, batched ×100.
//!
//! - `clock/*`: one read of each clock: the probes' [`Clock::global`] (a
//!   calibrated TSC where the CPU has an invariant one, else `Instant`), the
//!   TSC clock and the `Instant` clock explicitly, and `std::time::Instant`.
//! - `tier/of_us`: the branch-free tier lookup alone; `tier/ticks_to_tier`:
//!   ticks to microseconds to tier through the public API (the end of a
//!   timed poll gets the same tier from one multiply, an `or` and a `bsr`;
//!   the `poll/*` pair includes it).
//! - `poll/*`: the per-poll probe pair (`poll_started` + `poll_ended`) with
//!   poll timing off (one counter) and on (one clock read, a tier, the poll
//!   state published for the watchdog: the task and the mark).

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio_pulse_benches::{config, BATCH};
use tokio_pulse_probes::{tier, Clock, PulseConfig, RuntimeProbes, TaskInfo};

fn clocks(c: &mut Criterion) {
    let mut group = c.benchmark_group("clock");
    group.throughput(Throughput::Elements(BATCH));
    let mut bench_clock = |name: &str, clock: Clock| {
        group.bench_function(name, |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    black_box(black_box(&clock).now());
                }
            })
        });
    };
    bench_clock("global_now", Clock::global());
    if let Some(tsc) = Clock::calibrated_tsc() {
        bench_clock("tsc_now", tsc);
    }
    bench_clock("instant_clock_now", Clock::instant());
    group.bench_function("std_instant_now", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(Instant::now());
            }
        })
    });
    group.finish();
}

fn tiers(c: &mut Criterion) {
    let mut group = c.benchmark_group("tier");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("of_us", |b| {
        let mut us = 1u64;
        b.iter(|| {
            for _ in 0..BATCH {
                us = us.wrapping_mul(3).wrapping_add(1) & 0xF_FFFF;
                black_box(tier::of_us(black_box(us)));
            }
        })
    });
    let clock = Clock::global();
    group.bench_function("ticks_to_tier", |b| {
        let mut ticks = 1u64;
        b.iter(|| {
            for _ in 0..BATCH {
                ticks = ticks.wrapping_mul(3).wrapping_add(7) & 0xFFF_FFFF;
                black_box(tier::of_us(clock.ticks_to_us(black_box(ticks))));
            }
        })
    });
    group.finish();
}

fn polls(c: &mut Criterion) {
    let mut group = c.benchmark_group("poll");
    group.throughput(Throughput::Elements(BATCH));
    for timing in [false, true] {
        let settings = PulseConfig::new()
            .poll_timing(timing)
            .resolve()
            .expect("poll-timing settings");
        let (_rt, mut recorders) = RuntimeProbes::with_settings(Some("bench-poll"), 1, &settings);
        let recorder = &mut recorders[0];
        recorder.busy_started();
        let name = if timing { "timing_on" } else { "timing_off" };
        group.bench_function(name, |b| {
            b.iter(|| {
                for id in 1..=BATCH {
                    let r = black_box(&mut *recorder);
                    r.poll_started(|| TaskInfo {
                        id,
                        spawned_at: None,
                    });
                    r.poll_ended();
                }
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = clocks, tiers, polls
}
criterion_main!(benches);
