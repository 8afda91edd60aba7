//! Shutdown on the real runtime: a `Runtime::drop` that waits on a worker
//! stuck in a blocking poll stays watched and exported until the worker
//! stops, and a watchdog with a long period ends with its runtime. Its own
//! binary: the listener is process-wide, and the watchdog threads are
//! counted.

use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::runtime::Builder;
use tokio_pulse_rt::{PulseConfig, SlowPoll, Stall};

mod common;
use common::{capture, wait_until};

/// The tests of this binary count watchdog threads; one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn listed(id: u64) -> bool {
    tokio_pulse_rt::export::live_snapshots()
        .iter()
        .any(|s| s.id == id)
}

#[test]
fn a_hung_shutdown_stays_watched_and_exported_until_the_workers_stop() {
    let _serial = serial();
    let capture = capture();
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        // No stacks: this test is about shutdown, and the first stack a test
        // build symbolizes can take longer than the 300 ms stall.
        .pulse(
            PulseConfig::new()
                .stall_watchdog(Duration::from_millis(100))
                .stack_capture(false),
        )
        .build()
        .unwrap();
    let probes = rt.handle().pulse().clone();
    let id = probes.id();
    let stalls = || -> Vec<Stall> { capture.stalls_of(id) };
    let (started_tx, started_rx) = mpsc::channel();
    rt.spawn(async move {
        started_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    });
    started_rx.recv().unwrap();
    let dropper = std::thread::spawn(move || drop(rt));
    wait_until("shutdown to begin", Duration::from_secs(5), || {
        probes.is_shut_down()
    });
    assert!(
        stalls().is_empty(),
        "stalled before shutdown began: the test needs a faster machine"
    );

    // `Runtime::drop` waits for the stuck worker. Meanwhile the runtime is
    // exported and watched.
    assert!(
        listed(id),
        "exporters dropped a runtime whose drop is hanging"
    );
    wait_until("the stall during shutdown", Duration::from_secs(5), || {
        !stalls().is_empty() || dropper.is_finished()
    });
    assert!(
        !dropper.is_finished(),
        "the drop ended before the stall was reported"
    );
    assert!(
        listed(id),
        "exporters dropped a runtime whose drop is hanging"
    );
    let live = stalls()[0].clone();
    assert!(!live.ended, "{live:?}");
    assert!(live.duration >= Duration::from_millis(100), "{live:?}");
    assert!(probes.watchdog_running());

    dropper.join().unwrap();
    wait_until("the end of the stall", Duration::from_secs(5), || {
        stalls().len() == 2
    });
    let done = stalls()[1].clone();
    assert!(done.ended, "{done:?}");
    assert_eq!((done.worker, done.task), (live.worker, live.task));
    assert!(done.duration >= Duration::from_millis(300), "{done:?}");
    // The final duration is the worker's own timing of the poll.
    let slow: Vec<SlowPoll> = capture
        .slow_of(id)
        .into_iter()
        .filter(|e| e.task == live.task)
        .collect();
    assert_eq!(slow.len(), 1, "{slow:?}");
    assert_eq!(done.duration, slow[0].duration);

    // The workers have stopped: the runtime leaves the export (its probes
    // are still alive, held here) and the watchdog ends.
    assert!(probes.workers_stopped());
    assert!(!listed(id));
    wait_until("the watchdog to exit", Duration::from_secs(1), || {
        !probes.watchdog_running() && watchdog_threads().is_none_or(|n| n == 0)
    });
}

/// Threads of this process named like a watchdog (Linux truncates thread
/// names to 15 bytes), or `None` where `/proc` has no threads to count.
fn watchdog_threads() -> Option<usize> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .filter(|name| name.trim() == "tokio-pulse-wat")
            .count(),
    )
}

#[test]
fn dropping_the_runtime_ends_a_watchdog_with_a_10s_period_promptly() {
    let _serial = serial();
    let before = watchdog_threads();
    for flavor in ["multi_thread", "current_thread"] {
        let mut builder = if flavor == "multi_thread" {
            Builder::new_multi_thread()
        } else {
            Builder::new_current_thread()
        };
        let rt = builder
            .pulse(
                PulseConfig::new()
                    .stall_watchdog(Duration::from_millis(10))
                    .watchdog_period(Duration::from_secs(10)),
            )
            .build()
            .unwrap();
        rt.block_on(async { tokio::spawn(async {}).await.unwrap() });
        let probes = rt.handle().pulse().clone();
        assert!(probes.watchdog_running());
        // A thread names itself once it runs.
        wait_until("the watchdog thread", Duration::from_secs(2), || {
            watchdog_threads() == before.map(|n| n + 1)
        });
        let dropped = Instant::now();
        drop(rt);
        wait_until(
            &format!("the {flavor} watchdog to exit"),
            Duration::from_secs(2),
            || !probes.watchdog_running() && watchdog_threads() == before,
        );
        assert!(dropped.elapsed() < Duration::from_secs(2));
    }
}
