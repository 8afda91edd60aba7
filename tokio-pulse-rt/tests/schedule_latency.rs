//! Schedule latency by source, on the real runtime: how long woken and
//! spawned tasks waited before their poll started, per worker, by where the
//! worker took them from. The waits asserted are made by blocking a worker
//! for tens of milliseconds, so they hold on a loaded machine.

use std::sync::mpsc;
use std::time::Duration;

use tokio::runtime::{Builder, Runtime};
use tokio_pulse_rt::{tier, PulseConfig, RuntimeSnapshot, ScheduleSource};

mod common;
use common::settle;

const BLOCK: Duration = Duration::from_millis(60);

fn timed_runtime(workers: usize) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(workers)
        .pulse(PulseConfig::new().poll_timing(true))
        .enable_all()
        .build()
        .expect("build timed runtime")
}

/// Waits, by source, of at least `at_least` (tier-exact: the tiers whose
/// lower bound is at least it), over all workers.
fn waits_at_least(snap: &RuntimeSnapshot, source: ScheduleSource, at_least: Duration) -> u64 {
    let us = at_least.as_micros() as u64;
    snap.workers
        .iter()
        .filter_map(|w| w.schedule_latency.as_ref())
        .map(|l| {
            l.source(source)
                .tiers
                .iter()
                .enumerate()
                .filter(|(k, _)| lower_bound_us(*k) >= us)
                .map(|(_, n)| n)
                .sum::<u64>()
        })
        .sum()
}

/// The inclusive lower bound of tier `k` in microseconds.
fn lower_bound_us(k: usize) -> u64 {
    k.checked_sub(1).and_then(tier::upper_bound_us).unwrap_or(0)
}

fn waits(snap: &RuntimeSnapshot, source: ScheduleSource) -> u64 {
    snap.workers
        .iter()
        .filter_map(|w| w.schedule_latency.as_ref())
        .map(|l| l.source(source).tasks())
        .sum()
}

#[test]
fn every_poll_records_one_wait_and_blocked_waits_land_by_source() {
    let rt = timed_runtime(1);
    let probes = rt.handle().pulse();
    let handle = rt.handle().clone();
    let (blocked_tx, blocked_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let blocker = rt.spawn(async move {
        // Two spawns from the worker: the first goes to the LIFO slot, the
        // second moves it to the local queue and takes the slot.
        let a = tokio::spawn(async {});
        let b = tokio::spawn(async {});
        blocked_tx.send(()).unwrap();
        // Hold the only worker: everything scheduled now waits.
        release_rx.recv().unwrap();
        std::thread::sleep(BLOCK);
        (a, b)
    });
    blocked_rx.recv().unwrap();
    // From outside while the worker is blocked: the inject queue.
    let remote: Vec<_> = (0..3).map(|_| handle.spawn(async {})).collect();
    release_tx.send(()).unwrap();
    rt.block_on(async move {
        let (a, b) = blocker.await.unwrap();
        a.await.unwrap();
        b.await.unwrap();
        for task in remote {
            task.await.unwrap();
        }
    });
    let snap = settle(&probes);
    let worker = &snap.workers[0];
    let latency = worker.schedule_latency.as_ref().expect("timing is on");
    let recorded: u64 = latency.sources.iter().map(|s| s.tasks()).sum();
    // Every poll of a stamped task records one wait, LIFO polls included.
    assert_eq!(recorded, worker.polls, "{latency:?}");
    let long = BLOCK / 2;
    assert_eq!(
        waits_at_least(&snap, ScheduleSource::Lifo, long),
        1,
        "{latency:?}"
    );
    // `a`, moved from the LIFO slot to the queue by `b`, and the remote
    // spawns: the worker takes one of those from the inject queue and moves
    // the rest of its batch to its local queue, where they count as local.
    let local = waits_at_least(&snap, ScheduleSource::Local, long);
    let inject = waits_at_least(&snap, ScheduleSource::Inject, long);
    assert!(local >= 1 && inject >= 1, "{latency:?}");
    assert_eq!(local + inject, 4, "{latency:?}");
    assert_eq!(
        waits_at_least(&snap, ScheduleSource::Stolen, Duration::ZERO),
        0
    );
    // The blocked tasks' waits are in the sums too.
    let total: Duration = latency.sources.iter().map(|s| s.total).sum();
    assert!(total >= long * 5, "{total:?}");
}

#[test]
fn stolen_tasks_are_recorded_as_stolen() {
    let rt = timed_runtime(2);
    let probes = rt.handle().pulse();
    rt.block_on(async {
        rt.spawn(async {
            // Fill this worker's queue while holding it, so that the other
            // worker steals.
            let tasks: Vec<_> = (0..64)
                .map(|_| tokio::spawn(async { std::thread::sleep(Duration::from_millis(1)) }))
                .collect();
            std::thread::sleep(Duration::from_millis(30));
            for task in tasks {
                task.await.unwrap();
            }
        })
        .await
        .unwrap();
    });
    let snap = settle(&probes);
    assert!(snap.stolen_tasks() > 0, "the workload must steal");
    let stolen = waits(&snap, ScheduleSource::Stolen);
    assert!(stolen > 0, "no stolen waits: {:?}", snap.workers);
    // A steal returns one task and moves the rest to the thief's queue, so
    // at most one stolen wait per steal operation.
    let operations: u64 = snap.workers.iter().map(|w| w.steal_operations).sum();
    assert!(stolen <= operations, "{stolen} > {operations}");
    let recorded: u64 = [
        ScheduleSource::Lifo,
        ScheduleSource::Local,
        ScheduleSource::Stolen,
        ScheduleSource::Inject,
    ]
    .into_iter()
    .map(|s| waits(&snap, s))
    .sum();
    assert_eq!(recorded, snap.polls());
}

#[test]
fn no_histogram_without_timing() {
    let rt = Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    rt.block_on(async { tokio::spawn(async {}).await.unwrap() });
    let snap = rt.handle().pulse().snapshot();
    assert!(snap.workers[0].schedule_latency.is_none());
    assert!(snap.workers[0].states.is_none());
}

/// `schedule_latency(false)` keeps poll timing (tiers, worker states) but
/// stamps nothing and has no histogram, on both schedulers.
#[test]
fn schedule_latency_off_keeps_poll_timing_without_the_histogram() {
    let config = PulseConfig::new().poll_timing(true).schedule_latency(false);
    let multi = Builder::new_multi_thread()
        .worker_threads(1)
        .pulse(config.clone())
        .build()
        .unwrap();
    let current = Builder::new_current_thread().pulse(config).build().unwrap();
    for rt in [multi, current] {
        rt.block_on(async {
            for _ in 0..10 {
                tokio::spawn(async { tokio::task::yield_now().await })
                    .await
                    .unwrap();
            }
        });
        let probes = rt.handle().pulse();
        assert!(!probes.settings().schedule_latency);
        let snap = settle(&probes);
        let worker = &snap.workers[0];
        assert!(worker.schedule_latency.is_none(), "{worker:?}");
        let timed = worker.poll_time.as_ref().expect("poll timing stays on");
        assert!(timed.tiers.iter().sum::<u64>() >= 10, "{timed:?}");
        assert!(worker.states.is_some());
    }
}
