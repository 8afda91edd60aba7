//! `Handle::dump()` and poll timing: the workers' wait for one another at
//! the dump's barrier, and the trace itself, are scheduler work, charged to
//! no poll.
//!
//! Task dumps need `--cfg tokio_unstable` and Tokio's `taskdump` feature,
//! which Tokio allows only on Linux (x86, x86_64, aarch64, s390x);
//! `cargo xtask test` builds this with the differential test, in
//! `target/unstable`. Anywhere else this file compiles to nothing.
#![cfg(all(
    tokio_unstable,
    target_os = "linux",
    any(
        target_arch = "x86",
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "s390x"
    )
))]

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::runtime::Builder;
use tokio_pulse_rt::{PulseConfig, RuntimeSnapshot};

mod common;
use common::{settle, wait_until};

/// Polls at least this long are slow.
const SLOW: Duration = Duration::from_millis(100);
/// How long the one deliberately slow poll blocks its worker: well over
/// [`SLOW`], and under the dump barrier's 250 ms timeout.
const BLOCK: Duration = Duration::from_millis(200);
const DEADLINE: Duration = Duration::from_secs(30);

fn slow_polls(snap: &RuntimeSnapshot) -> u64 {
    snap.workers
        .iter()
        .map(|w| w.poll_time.as_ref().expect("poll timing is on").slow_polls)
        .sum()
}

/// One worker is inside a 200 ms poll when the dump is requested, so the
/// other waits at the dump's barrier for most of that time. Short, self-waking
/// tasks keep both workers polling before, during (the dump polls them in
/// tracing mode, and they wake themselves into the inject queue) and after
/// the dump, so that each worker's first poll after the barrier is a short
/// task's. Before the fix that poll was charged the wait: a second slow poll.
#[test]
fn a_task_dump_makes_no_slow_polls() {
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .pulse(
            PulseConfig::new()
                .poll_timing(true)
                .slow_poll_threshold(SLOW)
                .no_stall_watchdog(),
        )
        .enable_all()
        .build()
        .expect("build runtime");
    let probes = rt.handle().pulse();

    let stop = Arc::new(AtomicBool::new(false));
    let spins = Arc::new(AtomicUsize::new(0));
    for _ in 0..8 {
        let (stop, spins) = (stop.clone(), spins.clone());
        rt.spawn(poll_fn(move |cx| {
            if stop.load(SeqCst) {
                return Poll::Ready(());
            }
            spins.fetch_add(1, SeqCst);
            cx.waker().wake_by_ref();
            Poll::Pending
        }));
    }
    wait_until("the short tasks run", DEADLINE, || {
        spins.load(SeqCst) > 1000
    });

    let before = probes.snapshot();
    let blocking = Arc::new(AtomicBool::new(false));
    let blocked = blocking.clone();
    rt.spawn(async move {
        blocked.store(true, SeqCst);
        std::thread::sleep(BLOCK);
    });
    wait_until("a worker blocks", DEADLINE, || blocking.load(SeqCst));

    let dumper = Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build the dumping runtime");
    let handle = rt.handle().clone();
    let dump = dumper
        .block_on(async { tokio::time::timeout(DEADLINE, handle.dump()).await })
        .expect("the dump finished");
    assert!(
        dump.tasks().iter().count() >= 8,
        "the dump traced the short tasks"
    );

    // Both workers poll the short tasks again after the dump.
    let after_dump = spins.load(SeqCst);
    wait_until("the short tasks run after the dump", DEADLINE, || {
        spins.load(SeqCst) > after_dump + 1000
    });
    stop.store(true, SeqCst);
    let change = settle(&probes).delta(&before);

    // The one slow poll is the 200 ms one.
    assert_eq!(slow_polls(&change), 1, "{change:#?}");
}
