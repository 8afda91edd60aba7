//! The `block_on` future's polls on a current-thread runtime are timed and
//! published as their own pseudo-task (issue 11, item 5), and the poll
//! histogram's count stays equal to `polls_total` through `block_in_place`
//! hand-offs and shutdown (item 13). Real runtimes, blocking sleeps of tens
//! of milliseconds; nothing asserts how fast anything is.
//!
//! Its own binary: the event listener is process-wide.

use std::panic::Location;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};
use tokio_pulse_probes::BLOCK_ON_TASK_ID;
use tokio_pulse_rt::{PulseConfig, RuntimeSnapshot};

mod common;
use common::{capture, pulse_current_thread as current_thread, pulse_multi_thread, wait_until};

fn multi_thread(workers: usize) -> Runtime {
    pulse_multi_thread(workers, PulseConfig::new().poll_timing(true))
}

/// Asserts, per worker, that the poll histogram counts every poll counted.
fn assert_count_is_polls(snap: &RuntimeSnapshot) {
    for worker in &snap.workers {
        let timing = worker.poll_time.as_ref().expect("poll timing on");
        assert_eq!(
            timing.polls(),
            worker.polls,
            "worker {}: histogram _count {} != polls_total {}\n{snap:?}",
            worker.index,
            timing.polls(),
            worker.polls
        );
    }
}

// ---- item 5: the block_on future as its own pseudo-task ----

#[test]
fn a_stuck_block_on_body_is_a_stall_and_slow_poll_of_block_on_at_its_caller() {
    const STUCK: Duration = Duration::from_millis(60);
    let capture = capture();
    let rt = current_thread(PulseConfig::new().stall_watchdog(Duration::from_millis(10)));
    let probes = rt.handle().pulse();
    let id = probes.id();

    // A second thread reads the live state while the body is stuck.
    let (stuck_tx, stuck_rx) = mpsc::channel();
    let watcher = {
        let probes = probes.clone();
        std::thread::spawn(move || {
            stuck_rx.recv().unwrap();
            std::thread::sleep(Duration::from_millis(30));
            probes.snapshot()
        })
    };
    let here = Location::caller();
    rt.block_on(async {
        stuck_tx.send(()).unwrap();
        std::thread::sleep(STUCK);
    });
    let during = watcher.join().unwrap();
    // The watchdog sees the stall end. (The raised report waits for its
    // stack: the process's first symbolization reads the debug info.)
    wait_until("the stall and its end", Duration::from_secs(10), || {
        capture.stalls_of(id).len() >= 2
    });

    // While stuck: current_poll_seconds shows the block_on poll...
    let live = during.workers[0].poll_time.as_ref().unwrap();
    let current = live.current_poll.expect("the stuck body is a current poll");
    assert!(current >= Duration::from_millis(25), "{current:?}");
    let mut text = String::new();
    tokio_pulse_rt::prometheus::render_exact_families(&mut text, &[during]);
    let shown = text
        .lines()
        .find(|line| line.starts_with("tokio_pulse_current_poll_seconds{"))
        .and_then(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .expect("current_poll_seconds on the scrape");
    assert!(shown >= 0.025, "{text}");

    // ...and the watchdog names it: once while stuck, once at the end.
    let stalls = capture.stalls_of(id);
    assert_eq!(stalls.len(), 2, "{stalls:?}");
    for stall in &stalls {
        assert_eq!(stall.task.id, BLOCK_ON_TASK_ID, "{stall:?}");
        assert_eq!(stall.task_name.as_deref(), Some("block_on"), "{stall:?}");
        let at = stall.task.spawned_at.expect("the block_on caller");
        assert_eq!((at.file(), at.line()), (here.file(), here.line() + 1));
        assert!(
            stall.task.to_string().contains("block_on"),
            "{}",
            stall.task
        );
    }
    assert!(!stalls[0].ended && stalls[1].ended, "{stalls:?}");
    assert!(stalls[1].duration >= STUCK, "{stalls:?}");

    // The poll's end is a slow poll of the same pseudo-task, and it is the
    // only one: no task was charged for it.
    let slow = capture.slow_of(id);
    assert_eq!(slow.len(), 1, "{slow:?}");
    assert_eq!(slow[0].task, stalls[0].task);
    assert_eq!(slow[0].task_name.as_deref(), Some("block_on"));
    assert_eq!(slow[0].duration, stalls[1].duration);

    // The block_on future is not a task: it is in the slow-poll and stall
    // counts but not in polls_total, the histogram or the poll-time sum.
    let snap = probes.snapshot();
    let timing = snap.workers[0].poll_time.as_ref().unwrap();
    assert_eq!(timing.slow_polls, 1);
    assert_eq!(timing.stalls, 1);
    assert_eq!(snap.workers[0].polls, 0);
    assert_count_is_polls(&snap);
    assert!(timing.poll_time < STUCK, "{timing:?}");
    assert_eq!(timing.current_poll, None, "nothing is running now");
}

#[test]
fn a_task_polled_right_after_a_slow_block_on_poll_is_not_charged_for_it() {
    const SLOW_BODY: Duration = Duration::from_millis(60);
    let capture = capture();
    // Both thresholds 20 ms: far above an empty poll, even on a loaded
    // machine, and far below the body's block.
    let rt = current_thread(
        PulseConfig::new()
            .slow_poll_threshold(Duration::from_millis(20))
            .stall_watchdog(Duration::from_millis(20)),
    );
    let probes = rt.handle().pulse();
    let id = probes.id();
    let task_id = rt.block_on(async {
        // Queued now, polled right after this poll of the block_on future.
        let task = tokio::spawn(async {});
        let task_id = task.id();
        std::thread::sleep(SLOW_BODY);
        task.await.unwrap();
        task_id
    });
    std::thread::sleep(Duration::from_millis(40));
    let task_id = format!("{task_id}").parse::<u64>().unwrap();

    let slow = capture.slow_of(id);
    assert!(
        slow.iter().all(|e| e.task.id != task_id),
        "the fast task was reported slow: {slow:?}"
    );
    assert_eq!(slow.len(), 1, "{slow:?}");
    assert_eq!(slow[0].task.id, BLOCK_ON_TASK_ID);
    assert!(slow[0].duration >= SLOW_BODY, "{slow:?}");
    let stalls = capture.stalls_of(id);
    assert!(
        stalls.iter().all(|e| e.task.id == BLOCK_ON_TASK_ID),
        "a stall named an innocent task: {stalls:?}"
    );
    let snap = probes.snapshot();
    let timing = snap.workers[0].poll_time.as_ref().unwrap();
    assert_eq!(snap.workers[0].polls, 1);
    assert_count_is_polls(&snap);
    // The task's own poll is in the tiers under 2^14 µs (16.4 ms), and the
    // body's block is in no poll time.
    assert_eq!(timing.tiers[..15].iter().sum::<u64>(), 1, "{timing:?}");
    assert!(timing.poll_time < SLOW_BODY, "{timing:?}");
}

#[test]
fn block_on_polls_are_published_only_while_they_run() {
    let rt = current_thread(PulseConfig::new().poll_timing(true));
    let probes = rt.handle().pulse();
    // A block_on future that panics leaves no poll published behind.
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            tokio::spawn(async {}).await.unwrap();
            panic!("the block_on body panics");
        })
    }));
    assert!(panicked.is_err());
    let snap = probes.snapshot();
    let worker = probes.worker(0).unwrap();
    assert_eq!(worker.current_poll(), None, "{snap:?}");
    assert_count_is_polls(&snap);
    // The runtime goes on, and the next block_on is timed from its start.
    rt.block_on(async { tokio::spawn(async {}).await.unwrap() });
    let snap = probes.snapshot();
    assert_eq!(snap.workers[0].polls, 2);
    assert_count_is_polls(&snap);
    assert_eq!(worker.current_poll(), None);
}

/// The child half of [`a_stuck_tokio_main_body_is_reported_as_block_on`]:
/// does nothing unless that test starts it.
#[test]
fn tokio_main_child() {
    if std::env::var_os("BLOCK_ON_TIMING_CHILD").is_none() {
        return;
    }
    let capture = capture();
    let attribute = line!() + 1;
    #[tokio::main(flavor = "current_thread")]
    async fn stuck_main() {
        std::thread::sleep(Duration::from_millis(50));
    }
    stuck_main();
    // The raised report waits for its stack's symbolization.
    wait_until("the stall report", Duration::from_secs(10), || {
        !capture.stalls().is_empty()
    });
    // The span `#[tokio::main]` gives its `block_on` call lies in the
    // function it expands.
    let in_main =
        |at: &Location<'_>| at.file() == file!() && (attribute..attribute + 4).contains(&at.line());
    // The watchdog reports the stuck body while it is stuck. (Its end is
    // not reported: the runtime shuts down right after, and the watchdog
    // stops with it.)
    let stalls = capture.stalls();
    assert!(!stalls.is_empty() && !stalls[0].ended, "{stalls:?}");
    for stall in &stalls {
        assert_eq!(stall.task.id, BLOCK_ON_TASK_ID, "{stall:?}");
        assert_eq!(stall.task_name.as_deref(), Some("block_on"));
        assert!(in_main(stall.task.spawned_at.unwrap()), "{stall:?}");
        println!("child: stall of {}", stall.task);
    }
    // Its end is one slow poll, of the body.
    let slow = capture.slow();
    assert_eq!(slow.len(), 1, "{slow:?}");
    assert_eq!(slow[0].task, stalls[0].task);
    assert_eq!(slow[0].task_name.as_deref(), Some("block_on"));
    assert!(slow[0].duration >= Duration::from_millis(50), "{slow:?}");
    println!("child checked");
}

#[test]
fn a_stuck_tokio_main_body_is_reported_as_block_on() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "tokio_main_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("BLOCK_ON_TIMING_CHILD", "1")
        .env("TOKIO_PULSE_STALL", "10ms")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("child checked"),
        "child failed:\n{stdout}\n{stderr}"
    );
}

// ---- item 13: the histogram count equals polls_total ----

#[test]
fn polls_handed_over_by_block_in_place_are_timed() {
    let rt = multi_thread(2);
    let probes = rt.handle().pulse();
    rt.block_on(async {
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                tokio::spawn(async {
                    // The worker's core moves to another thread while this
                    // poll blocks; that thread ends the poll's timing.
                    tokio::task::block_in_place(|| std::thread::sleep(Duration::from_millis(2)));
                    tokio::task::yield_now().await;
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    drop(rt);
    let snap = probes.snapshot();
    assert!(snap.workers.iter().map(|w| w.polls).sum::<u64>() >= 32);
    assert_count_is_polls(&snap);
}

#[test]
fn the_last_batch_before_multi_thread_shutdown_is_counted() {
    let rt = multi_thread(1);
    let probes = rt.handle().pulse();
    let (started_tx, started_rx) = mpsc::channel();
    rt.spawn(async move {
        started_tx.send(()).unwrap();
        // Busy until shutdown cancels it: the worker polls it right up to
        // the end of its run loop.
        loop {
            tokio::task::yield_now().await;
        }
    });
    started_rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(5));
    drop(rt);
    let snap = probes.snapshot();
    assert!(snap.workers[0].polls > 1);
    assert_count_is_polls(&snap);
}

#[test]
fn count_is_polls_after_block_in_place_then_shutdown() {
    for _ in 0..5 {
        let rt = multi_thread(2);
        let probes = rt.handle().pulse();
        rt.block_on(async {
            for _ in 0..8 {
                tokio::spawn(async {
                    tokio::task::block_in_place(|| std::thread::sleep(Duration::from_millis(1)));
                    loop {
                        tokio::task::yield_now().await;
                    }
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        });
        drop(rt);
        assert_count_is_polls(&probes.snapshot());
    }
}

#[test]
fn current_thread_count_is_polls_after_shutdown() {
    let rt = current_thread(PulseConfig::new().poll_timing(true));
    let probes = rt.handle().pulse();
    rt.block_on(async {
        for _ in 0..8 {
            tokio::spawn(async {
                loop {
                    tokio::task::yield_now().await;
                }
            });
        }
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
    });
    assert_count_is_polls(&probes.snapshot());
    drop(rt);
    let snap = probes.snapshot();
    assert!(snap.workers[0].polls >= 100);
    assert_count_is_polls(&snap);
}

/// A spawned task's panic ends `block_on` from inside the task loop, right
/// after that task's poll (`unhandled_panic` needs `tokio_unstable`).
#[cfg(tokio_unstable)]
#[test]
fn current_thread_block_on_ended_by_a_task_panic_counts_that_poll() {
    // A high slow-poll threshold keeps the panicking poll (which prints its
    // message) off the slow path, which would count its tier at once.
    let rt = Builder::new_current_thread()
        .pulse(
            PulseConfig::new()
                .poll_timing(true)
                .slow_poll_threshold(Duration::from_secs(10)),
        )
        .unhandled_panic(tokio::runtime::UnhandledPanic::ShutdownRuntime)
        .build()
        .unwrap();
    let probes = rt.handle().pulse();
    let ended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            tokio::spawn(async { panic!("a task panics") });
            std::future::pending::<()>().await
        })
    }));
    assert!(ended.is_err());
    let snap = probes.snapshot();
    assert_eq!(snap.workers[0].polls, 1);
    assert_count_is_polls(&snap);
}

#[test]
fn multi_thread_block_on_is_charged_to_no_worker() {
    // Runtime::block_on on a multi-thread runtime polls its future on the
    // calling thread, which holds no worker: nothing to time, nothing
    // charged to a task.
    let capture = capture();
    let rt = Builder::new_multi_thread()
        .worker_threads(1)
        .pulse(
            PulseConfig::new()
                .poll_timing(true)
                .slow_poll_threshold(Duration::from_millis(15)),
        )
        .build()
        .unwrap();
    let probes = rt.handle().pulse();
    let started = Instant::now();
    rt.block_on(async {
        let task = tokio::spawn(async {});
        std::thread::sleep(Duration::from_millis(20));
        task.await.unwrap();
    });
    assert!(started.elapsed() >= Duration::from_millis(20));
    drop(rt);
    assert!(capture.slow_of(probes.id()).is_empty());
    let snap = probes.snapshot();
    assert_eq!(snap.workers[0].polls, 1);
    assert_count_is_polls(&snap);
}
