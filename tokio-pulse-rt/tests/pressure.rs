//! Pressure on the real runtime: `full` counts the time tasks waited in
//! the inject queue while every worker was busy inside a poll, and nothing
//! is counted while no task waits.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use tokio::runtime::Builder;
use tokio_pulse_probes::PulseConfig;

const WORKERS: usize = 2;

#[test]
fn tasks_waiting_behind_busy_workers_are_full_pressure() {
    let period = Duration::from_millis(2);
    let rt = Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .pulse(
            PulseConfig::new()
                .stall_watchdog(Duration::from_secs(60))
                .watchdog_period(period),
        )
        .build()
        .unwrap();
    let probes = rt.handle().pulse().clone();
    let blocked = Arc::new(Barrier::new(WORKERS + 1));
    let release = Arc::new(Barrier::new(WORKERS + 1));
    for _ in 0..WORKERS {
        let (blocked, release) = (blocked.clone(), release.clone());
        rt.spawn(async move {
            // Inside a poll, blocking the worker: busy, as far as the
            // runtime can tell.
            blocked.wait();
            release.wait();
        });
    }
    blocked.wait();
    // Every worker is busy and nothing waits: no pressure.
    let before = probes.snapshot();
    std::thread::sleep(Duration::from_millis(100));
    let idle_queues = probes.snapshot().delta(&before).sampled;

    let before = probes.snapshot();
    let pushed = Instant::now();
    let tasks: Vec<_> = (0..3).map(|_| rt.spawn(async {})).collect();
    std::thread::sleep(Duration::from_millis(200));
    let waited = pushed.elapsed();
    release.wait();
    rt.block_on(async {
        for task in tasks {
            task.await.unwrap();
        }
    });
    // The queue is empty again: nothing more is charged.
    std::thread::sleep(Duration::from_millis(20));
    let settled = probes.snapshot();
    std::thread::sleep(Duration::from_millis(50));
    let after = probes.snapshot().delta(&settled).sampled;
    let blocked = settled.delta(&before).sampled;

    assert_eq!(idle_queues.pressure_some, Duration::ZERO, "{idle_queues:?}");
    assert!(
        blocked.pressure_full >= waited.mul_f64(0.8)
            && blocked.pressure_full <= waited + Duration::from_millis(30),
        "full {:?} while tasks waited {waited:?}",
        blocked.pressure_full
    );
    assert!(blocked.pressure_some >= blocked.pressure_full);
    assert!(
        blocked.pressure_some <= waited + Duration::from_millis(30),
        "{blocked:?}"
    );
    assert_eq!(after.pressure_some, Duration::ZERO, "{after:?}");

    let mut text = String::new();
    tokio_pulse_rt::prometheus::render_families(&mut text, &[probes.snapshot()]);
    for kind in ["some", "full"] {
        let series = format!("kind=\"{kind}\"}} ");
        assert!(
            text.lines().any(
                |line| line.starts_with("tokio_pulse_pressure_seconds_total{")
                    && line.contains(&series)
            ),
            "{text}"
        );
    }
}
