//! Busy time and poll time are one counter: a snapshot reads it once for
//! both, so they are equal in every snapshot, even one taken while the
//! worker adds to it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_pulse_probes::{Clock, PulseConfig, RuntimeProbes, TaskInfo};

#[test]
#[cfg_attr(miri, ignore = "races a writer for a while: too slow under Miri")]
fn busy_time_equals_poll_time_in_every_live_snapshot() {
    let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    let (rt, mut recorders) = RuntimeProbes::with_clock(None, 1, &settings, Clock::instant());
    let mut worker = recorders.remove(0);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // Batches of one 1 µs poll, back to back: each batch's end adds
            // to the shared counter.
            let mut now = 0u64;
            while !stop.load(Ordering::Relaxed) {
                worker.busy_started_at(now);
                worker.poll_started(|| TaskInfo {
                    id: 1,
                    spawned_at: None,
                });
                now += 1_000;
                worker.poll_ended_at(now);
                worker.busy_ended();
            }
        })
    };
    let deadline = Instant::now() + Duration::from_millis(300);
    let mut snapshots = 0u64;
    while Instant::now() < deadline {
        let timing = rt.snapshot().workers[0].poll_time.clone().unwrap();
        assert_eq!(
            timing.busy_time, timing.poll_time,
            "after {snapshots} snapshots"
        );
        snapshots += 1;
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let timing = rt.snapshot().workers[0].poll_time.clone().unwrap();
    assert!(timing.poll_time > Duration::ZERO);
    assert_eq!(timing.busy_time, timing.poll_time);
}
