//! The live age of the oldest task waiting in each queue, on the real
//! runtime: it grows while every worker is blocked, nothing being polled,
//! and drops to 0 once the queues drain.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};
use tokio_pulse_probes::PulseConfig;
use tokio_pulse_rt::RuntimeProbes;

const WORKERS: usize = 2;
/// Local tasks each blocker spawns before it blocks: the first goes to the
/// LIFO slot, and each later one pushes the one before onto the local
/// queue, so `LOCAL - 1` wait there.
const LOCAL: usize = 3;

/// Blocks every worker, then pushes tasks to the inject queue from outside
/// (and each blocker some to its local queue), and checks a reading of the
/// ages `every` so often against the truth, within `tolerance`, while
/// blocked; then
/// releases the workers and waits for every age to read 0.
fn check(rt: Runtime, every: Duration, tolerance: Duration) {
    let probes: Arc<RuntimeProbes> = rt.handle().pulse().clone();
    let blocked = Arc::new(Barrier::new(WORKERS + 1));
    let spawned = Arc::new(Barrier::new(WORKERS + 1));
    let release = Arc::new(Barrier::new(WORKERS + 1));
    for _ in 0..WORKERS {
        let (blocked, spawned, release) = (blocked.clone(), spawned.clone(), release.clone());
        rt.spawn(async move {
            // Both workers are inside a poll once everyone is here.
            blocked.wait();
            for _ in 0..LOCAL {
                tokio::spawn(async {});
            }
            spawned.wait();
            release.wait();
        });
    }
    blocked.wait();
    let local_from = Instant::now();
    spawned.wait();
    let local_to = Instant::now();
    let inject_from = Instant::now();
    for _ in 0..3 {
        rt.spawn(async {});
    }
    let inject_to = Instant::now();

    // A failed check must still release the workers, or dropping the
    // runtime would wait for them forever.
    let blocked_checks = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut readings = 0;
        let mut last = Duration::ZERO;
        while inject_from.elapsed() < Duration::from_millis(450) {
            std::thread::sleep(every);
            let snap = probes.snapshot();
            let read_at = Instant::now();
            let sampled = &snap.sampled;
            let inject = sampled.inject_oldest.expect("inject queue age");
            assert_eq!(snap.global_queue_depth, Some(3));
            within(inject, read_at, inject_from, inject_to, tolerance, "inject");
            for (worker, local) in sampled.local_oldest.iter().enumerate() {
                let local = local.expect("local queue age");
                let what = format!("local queue of worker {worker}");
                within(local, read_at, local_from, local_to, tolerance, &what);
            }
            last = inject;
            readings += 1;
        }
        assert!(readings >= 5, "{readings} readings");
        assert!(last >= Duration::from_millis(300), "{last:?}");
    }));
    release.wait();
    if let Err(panic) = blocked_checks {
        std::panic::resume_unwind(panic);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sampled = probes.snapshot().sampled;
        let zero = Some(Duration::ZERO);
        if sampled.inject_oldest == zero && sampled.local_oldest.iter().all(|&age| age == zero) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ages never dropped to 0: {sampled:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(rt);
}

/// `age`, read at `read_at`, of a task pushed between `from` and `to`, is
/// the truth within `tolerance`.
fn within(
    age: Duration,
    read_at: Instant,
    from: Instant,
    to: Instant,
    tolerance: Duration,
    what: &str,
) {
    let (shortest, longest) = (read_at - to, read_at - from);
    assert!(
        age + tolerance >= shortest && age <= longest + tolerance,
        "{what}: age {age:?}, truth between {shortest:?} and {longest:?}, tolerance {tolerance:?}"
    );
}

#[test]
fn ages_follow_the_truth_within_two_watchdog_periods() {
    let period = Duration::from_millis(20);
    let rt = Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .pulse(
            PulseConfig::new()
                .stall_watchdog(Duration::from_secs(60))
                .watchdog_period(period),
        )
        .build()
        .unwrap();
    assert!(rt.handle().pulse().watchdog_running());
    // Readings 2.5 periods apart: between them, only the watchdog samples.
    check(rt, period * 5 / 2, 2 * period);
}

#[test]
fn without_timing_or_watchdog_each_snapshot_samples() {
    // No poll timing, no watchdog thread: the snapshots themselves sample,
    // every 20 ms here, which bounds the error.
    let rt = Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .pulse(PulseConfig::new().poll_timing(false).no_stall_watchdog())
        .build()
        .unwrap();
    assert!(!rt.handle().pulse().watchdog_running());
    check(rt, Duration::from_millis(20), Duration::from_millis(2 * 20));
}

#[test]
fn the_current_thread_scheduler_has_an_inject_age_and_no_local_one() {
    let rt = Builder::new_current_thread().build().unwrap();
    let probes = rt.handle().pulse().clone();
    let sampled = probes.snapshot().sampled;
    assert_eq!(sampled.inject_oldest, Some(Duration::ZERO));
    assert_eq!(sampled.local_oldest, vec![None]);
    // Pushed from outside while nothing runs the runtime: it waits.
    let task = rt.spawn(async {});
    let pushed = Instant::now();
    std::thread::sleep(Duration::from_millis(60));
    probes.snapshot();
    std::thread::sleep(Duration::from_millis(60));
    let snap = probes.snapshot();
    let age = snap.sampled.inject_oldest.unwrap();
    let mut text = String::new();
    tokio_pulse_rt::prometheus::render_families(&mut text, &[snap]);
    assert!(
        text.lines()
            .any(|line| line.starts_with("tokio_pulse_queue_oldest_seconds{")
                && line.contains("queue=\"inject\",worker=\"external\"} 0.")),
        "{text}"
    );
    assert!(
        age >= Duration::from_millis(50) && age <= pushed.elapsed(),
        "{age:?}"
    );
    rt.block_on(task).unwrap();
    // Snapshots within one period share a sample.
    std::thread::sleep(Duration::from_millis(2));
    assert_eq!(
        probes.snapshot().sampled.inject_oldest,
        Some(Duration::ZERO)
    );
}
