//! Why a worker is stuck: the stall report's stack, CPU share and thread
//! state, captured by interrupting the stuck worker with a signal, on the
//! real runtime. Each test also checks that the interruption did not break
//! the worker: it sleeps its full time, finishes its loop with the right
//! result, or gets the lock. Linux x86_64 and AArch64 only (elsewhere stacks
//! compile to nothing).

#![cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};
use tokio_pulse_rt::{PulseConfig, Recent, RecentEvent, RuntimeProbes, Stall};

const STALL: Duration = Duration::from_millis(50);

/// One test at a time: a watchdog captures a stack only while no other
/// symbolizes one (the first symbolization of a test build reads its debug
/// info for up to a second), and a stall that ends meanwhile gets no stack.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poison| poison.into_inner())
}

fn runtime() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(1)
        .pulse(
            PulseConfig::new()
                .stall_watchdog(STALL)
                .watchdog_period(Duration::from_millis(2)),
        )
        .build()
        .expect("build the runtime")
}

/// The report of the stall's end on worker 0, once the watchdog has seen it.
fn ended_stall(probes: &RuntimeProbes) -> Arc<Recent<Stall>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(stall) = probes.worker(0).unwrap().last_stall() {
            if stall.ended {
                return stall;
            }
        }
        assert!(Instant::now() < deadline, "no stall reported");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The report of the stall's end on worker 0, whose innermost frame of this
/// test's own code is `function` of this file.
fn ended_stall_in(probes: &RuntimeProbes, function: &str) -> Arc<Recent<Stall>> {
    let stall = ended_stall(probes);
    let (top, stack) = top_user_function(&stall);
    assert!(
        top.ends_with(&format!("stall_stacks::{function}")),
        "{top}\n{stack}"
    );
    stall
}

/// The innermost frame of this test's own code, and the stack rendered.
fn top_user_function(stall: &Stall) -> (String, String) {
    let stack = stall
        .details
        .stack
        .as_ref()
        .unwrap_or_else(|| panic!("no stack: {:?}", stall.details.stack_unavailable));
    let top = stack
        .top_user_frame()
        .unwrap_or_else(|| panic!("no user frame in\n{stack}"));
    let file = top.file.clone().unwrap_or_default();
    assert!(
        file.ends_with("tests/stall_stacks.rs"),
        "top user frame {top} is not in this file; stack:\n{stack}"
    );
    (top.function.clone().unwrap_or_default(), stack.to_string())
}

#[inline(never)]
fn sleeper(for_: Duration) -> Duration {
    let started = Instant::now();
    std::thread::sleep(for_);
    started.elapsed()
}

#[test]
fn a_sleeping_worker_sleeps_its_full_time_and_is_seen_asleep_in_the_sleeper() {
    let _serial = serial();
    let rt = runtime();
    let probes = rt.handle().pulse();
    let slept = rt.block_on(async {
        tokio::spawn(async { sleeper(Duration::from_millis(200)) })
            .await
            .unwrap()
    });
    assert!(slept >= Duration::from_millis(200), "slept only {slept:?}");

    let stall = ended_stall_in(&probes, "sleeper");
    let cpu = stall.details.cpu.expect("the CPU share");
    assert!(cpu.share() <= 0.10, "a sleep was {cpu}");
    let thread = stall.details.thread.clone().expect("the thread state");
    assert_eq!(thread.state, 'S', "{thread}");
    assert!(
        matches!(
            thread.syscall.as_deref(),
            Some("nanosleep" | "clock_nanosleep")
        ),
        "{thread}"
    );
    let stack = stall.details.stack.as_ref().unwrap();
    assert_eq!(Some(stack.thread_id), stall.details.thread_id);
    assert!(stack.interrupted_for <= stack.signal_to_capture);

    // The same report, from every place a user can find it.
    let snapshot = probes.snapshot();
    assert_eq!(snapshot.workers[0].last_stall.as_ref(), Some(&stall));
    assert!(tokio_pulse_rt::stalls().contains(&stall));
    assert_eq!(probes.stalls(), vec![stall.clone()]);
    // And it is the ring's entry: the same seq, time and report.
    let recent = tokio_pulse_rt::recent_events(probes.id());
    let entry = recent
        .iter()
        .find(|entry| entry.seq == stall.seq)
        .unwrap_or_else(|| panic!("seq {} is not in {recent:?}", stall.seq));
    assert_eq!(entry.at, stall.at);
    assert!(stall.at.is_some());
    assert!(matches!(&entry.event, RecentEvent::Stall(event) if *event == stall.event));
}

/// A loop whose result depends on every iteration.
#[inline(never)]
fn spinner(iterations: u64) -> u64 {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for i in 0..iterations {
        state = black_box(
            state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(i | 1),
        );
    }
    state
}

#[test]
fn a_spinning_worker_finishes_its_loop_and_is_seen_on_cpu_in_the_spinner() {
    let _serial = serial();
    // How many iterations take about 300 ms here, and their result.
    let started = Instant::now();
    let mut iterations = 1_000_000;
    while started.elapsed() < Duration::from_millis(300) {
        spinner(iterations);
        iterations *= 2;
    }
    let expected = spinner(iterations);

    let rt = runtime();
    let probes = rt.handle().pulse();
    let result = rt.block_on(async move {
        tokio::spawn(async move { spinner(iterations) })
            .await
            .unwrap()
    });
    assert_eq!(result, expected);

    let stall = ended_stall_in(&probes, "spinner");
    let cpu = stall.details.cpu.expect("the CPU share");
    assert!(cpu.busy_share() >= 0.80, "a spin was {cpu}; {stall:?}");
    let thread = stall.details.thread.clone().expect("the thread state");
    assert_eq!(thread.state, 'R', "{thread}");
}

#[inline(never)]
fn locker(lock: &Mutex<u64>) -> u64 {
    let mut value = lock.lock().unwrap();
    *value += 1;
    *value
}

#[test]
fn a_worker_blocked_on_a_mutex_gets_it_and_is_seen_in_futex_in_the_locker() {
    let _serial = serial();
    let lock = Arc::new(Mutex::new(0));
    let mut guard = lock.lock().unwrap();
    let rt = runtime();
    let probes = rt.handle().pulse();
    let task = rt.spawn({
        let lock = lock.clone();
        async move { locker(&lock) }
    });
    // Held well past the stall threshold, then released with a value.
    std::thread::sleep(Duration::from_millis(300));
    *guard = 41;
    drop(guard);
    assert_eq!(rt.block_on(task).unwrap(), 42);

    let stall = ended_stall_in(&probes, "locker");
    let cpu = stall.details.cpu.expect("the CPU share");
    assert!(cpu.share() <= 0.10, "a lock wait was {cpu}");
    let thread = stall.details.thread.clone().expect("the thread state");
    assert_eq!(thread.state, 'S', "{thread}");
    assert_eq!(thread.syscall.as_deref(), Some("futex"), "{thread}");
}

/// A current-thread runtime runs on whichever thread calls `block_on`: the
/// stall's stack is the caller's at the time. Here one thread ran `block_on`
/// first and waits elsewhere, still alive; a second thread's `block_on`
/// then sleeps. A report that named the first thread would show it in its
/// channel wait, not in the sleeper.
#[test]
fn a_current_thread_runtime_is_seen_on_the_thread_that_calls_block_on() {
    let _serial = serial();
    let rt = Arc::new(
        Builder::new_current_thread()
            .pulse(
                PulseConfig::new()
                    .stall_watchdog(STALL)
                    .watchdog_period(Duration::from_millis(2)),
            )
            .build()
            .expect("build the runtime"),
    );
    let probes = rt.handle().pulse();
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let first = std::thread::spawn({
        let rt = rt.clone();
        move || {
            rt.block_on(async {});
            // Alive, and off the runtime, until the end of the test.
            let _ = wait.recv();
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while probes.worker(0).unwrap().thread_id().is_none() {
        assert!(Instant::now() < deadline, "block_on recorded no thread");
        std::thread::sleep(Duration::from_millis(1));
    }
    let first_tid = probes.worker(0).unwrap().thread_id();
    let slept = std::thread::spawn({
        let rt = rt.clone();
        move || rt.block_on(async { sleeper(Duration::from_millis(200)) })
    })
    .join()
    .unwrap();
    assert!(slept >= Duration::from_millis(200), "slept only {slept:?}");

    let stall = ended_stall_in(&probes, "sleeper");
    assert_ne!(stall.details.thread_id, first_tid, "{stall:?}");
    let thread = stall.details.thread.clone().expect("the thread state");
    assert_eq!(thread.state, 'S', "{thread}");
    drop(release);
    first.join().unwrap();
}
