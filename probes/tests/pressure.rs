//! Pressure on probes driven by hand, with the real watchdog: `some` grows
//! while a task waits and a worker is idle, `full` only while every worker
//! is busy polling too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_pulse_probes::fork::{self, RuntimeGauges};
use tokio_pulse_probes::{PulseConfig, TaskInfo};

/// Three tasks always waiting in the inject queue.
struct Waiting;

impl RuntimeGauges for Waiting {
    fn global_queue_depth(&self) -> usize {
        3
    }
    fn local_queue_depth(&self, _worker: usize) -> Option<usize> {
        None
    }
    fn alive_tasks(&self) -> usize {
        3
    }
}

#[test]
fn full_needs_every_worker_busy_and_some_only_a_waiting_task() {
    let settings = PulseConfig::new()
        .stall_watchdog(Duration::from_secs(60))
        .watchdog_period(Duration::from_millis(2))
        .resolve()
        .unwrap();
    let (writer, mut recorders) = fork::with_settings(Some("pressure"), 2, &settings);
    let gauges: Arc<dyn RuntimeGauges> = Arc::new(Waiting);
    writer.set_gauges(Arc::downgrade(&gauges));
    let probes = writer.probes().clone();
    let task = || TaskInfo {
        id: 1,
        spawned_at: None,
    };

    // Worker 0 polls, worker 1 is idle: tasks wait with a worker free.
    recorders[0].busy_started();
    recorders[0].poll_started(task);
    let before = probes.snapshot().sampled;
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(200));
    let imbalance = probes.snapshot().sampled.delta(&before);
    let elapsed = start.elapsed();
    assert_eq!(imbalance.pressure_full, Duration::ZERO, "{imbalance:?}");
    assert!(
        imbalance.pressure_some >= Duration::from_millis(150)
            && imbalance.pressure_some <= elapsed + Duration::from_millis(10),
        "{imbalance:?} in {elapsed:?}"
    );

    // Both poll: now it is full too.
    recorders[1].busy_started();
    recorders[1].poll_started(task);
    let before = probes.snapshot().sampled;
    std::thread::sleep(Duration::from_millis(200));
    let saturated = probes.snapshot().sampled.delta(&before);
    assert!(
        saturated.pressure_full >= Duration::from_millis(150),
        "{saturated:?}"
    );
    assert!(saturated.pressure_some >= saturated.pressure_full);
    drop(recorders);
}
