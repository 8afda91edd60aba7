//! Model checks of the single-writer counters and the snapshot path with
//! [loom](https://docs.rs/loom), which runs each test under every
//! interleaving of its threads (up to a preemption bound) and every value a
//! `Relaxed` load may legally return.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p tokio-pulse-probes --test
//! loom --release` (or `cargo xtask test`, which uses its own target
//! directory, `target/loom`). Under `cfg(loom)` the crate's `Counter` and the
//! shutdown flag use loom's atomics. `LOOM_MAX_PREEMPTIONS` overrides the
//! default bound of 2.
//!
//! What is checked:
//!
//! 1. A reader never sees a counter go backwards, whatever it interleaves
//!    with (coherence of one location plus stores that only grow).
//! 2. Once the writers are joined, a snapshot equals exactly what they wrote:
//!    the load + store pair of one writer loses nothing.
//! 3. Two workers' recorders on two threads do not disturb each other's
//!    counters.
//! 4. A reader of the poll state each timed poll publishes (for the stall
//!    watchdog and `current_poll_seconds`) sees each poll whole: its start
//!    and its task's id and spawn location from the same poll, never a mix,
//!    even when the same task is polled again after another, and across a
//!    poll ended by the thread that takes a handed-over core up and a poll
//!    of the `block_on` pseudo-task.
//!
//! Readers run on spawned threads and the writes happen on the model's main
//! thread: loom 0.7's exploration misses the interleavings of a load on the
//! main thread with a spawned thread that loads before it stores
//! (tokio-rs/loom#392). Each test also checks, across all executions, that
//! the readers saw more than one state, so a model that stops exploring
//! fails instead of passing vacuously.
#![cfg(loom)]

use loom::thread;
use tokio_pulse_probes::{
    fork, RemoteKind, RuntimeProbes, RuntimeSnapshot, ScheduleKind, WorkerSnapshot, YieldReason,
};

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

/// Every counter of a worker snapshot, in a fixed order.
fn fields(w: &WorkerSnapshot) -> Vec<u64> {
    let mut v = vec![
        w.polls,
        w.polls_lifo,
        w.spawns_local,
        w.wakes_lifo,
        w.wakes_local_queue,
        w.yields_yield_now,
        w.yields_budget,
        w.self_wakes_local,
        w.lifo_capped,
        w.overflows_batch,
        w.steal_attempts,
        w.steal_operations,
        w.stolen_tasks,
        w.parks,
        w.unparks,
    ];
    for cell in &w.steals_from {
        v.extend([cell.operations, cell.tasks]);
    }
    v
}

fn assert_not_backwards(earlier: &RuntimeSnapshot, later: &RuntimeSnapshot) {
    for (a, b) in earlier.workers.iter().zip(&later.workers) {
        for (x, y) in fields(a).into_iter().zip(fields(b)) {
            assert!(
                y >= x,
                "worker {} went backwards: {a:?} then {b:?}",
                a.index
            );
        }
    }
    assert!(later.remote_schedules() >= earlier.remote_schedules());
}

/// Collects values across a model's executions.
struct Seen(std::sync::Mutex<Vec<u64>>);

impl Seen {
    const fn new() -> Seen {
        Seen(std::sync::Mutex::new(Vec::new()))
    }

    fn push(&self, value: u64) {
        self.0.lock().unwrap().push(value);
    }

    fn distinct(&self) -> Vec<u64> {
        let mut values = self.0.lock().unwrap().clone();
        values.sort_unstable();
        values.dedup();
        values
    }
}

#[test]
fn counter_reader_never_sees_it_go_backwards() {
    static SEEN: Seen = Seen::new();
    model(|| {
        // A counter's only writer outside the crate is its recorder: here
        // the tasks stolen from victim 0.
        let (rt, mut recorders) = RuntimeProbes::new(None, 1);
        let mut recorder = recorders.pop().unwrap();
        let tasks = |rt: &RuntimeProbes| rt.worker(0).unwrap().steals_from()[0].tasks.get();
        recorder.steal_attempt(0);
        let reader = {
            let rt = rt.clone();
            thread::spawn(move || {
                let first = tasks(&rt);
                let second = tasks(&rt);
                assert!(first <= second, "{first} then {second}");
                SEEN.push(first);
                SEEN.push(second);
            })
        };
        recorder.stole(1);
        recorder.stole(2);
        recorder.stole(3);
        reader.join().unwrap();
        assert_eq!(tasks(&rt), 6);
    });
    // Exactly the values the writer stored, and each of them, were seen.
    assert_eq!(SEEN.distinct(), [0, 1, 3, 6]);
}

#[test]
fn snapshot_is_monotonic_and_final_snapshot_equals_the_writes() {
    static SEEN_POLLS: Seen = Seen::new();
    model(|| {
        let (writer, mut recorders) = fork::new(Some("loom"), 2);
        let rt = writer.probes().clone();
        let mut second = recorders.pop().unwrap();
        let mut first = recorders.pop().unwrap();
        let reader = {
            let rt = rt.clone();
            thread::spawn(move || {
                let a = rt.snapshot();
                let b = rt.snapshot();
                assert_not_backwards(&a, &b);
                SEEN_POLLS.push(a.polls());
                SEEN_POLLS.push(b.polls());
            })
        };
        let w1 = thread::spawn(move || {
            second.yielded(YieldReason::Budget);
            second.parked();
            second
        });
        first.scheduled_local(ScheduleKind::Spawn, true);
        first.poll_started(|| tokio_pulse_probes::TaskInfo {
            id: 1,
            spawned_at: None,
        });
        first.lifo_poll_started(|| tokio_pulse_probes::TaskInfo {
            id: 1,
            spawned_at: None,
        });
        first.steal_attempt(1);
        first.stole(4);
        // Tokio writes the remote counters under the inject lock; here this
        // thread is their only writer.
        writer.pushed_locked(RemoteKind::Spawn);
        reader.join().unwrap();
        let second = w1.join().unwrap();

        let end = rt.snapshot();
        let w = &end.workers[0];
        assert_eq!(
            (w.spawns_local, w.polls, w.polls_lifo, w.steal_attempts),
            (1, 2, 1, 1)
        );
        assert_eq!((w.steal_operations, w.stolen_tasks), (1, 4));
        assert_eq!(
            (w.steals_from[1].operations, w.steals_from[1].tasks),
            (1, 4)
        );
        assert_eq!(w.steals_from[0].tasks, 0);
        let w = &end.workers[1];
        assert_eq!((w.yields_budget, w.parks, w.polls), (1, 1, 0));
        assert_eq!(end.spawns_remote, 1);
        assert_eq!(end.spawns(), 2);
        drop((first, second));
    });
    // The reader saw the polls before, between and after the two writes.
    assert_eq!(SEEN_POLLS.distinct(), [0, 1, 2]);
}

#[test]
fn a_recorder_moving_between_threads_stays_the_single_writer() {
    // Tokio moves a worker's core (and its recorder) between threads, e.g.
    // on `block_in_place`. The hand-over synchronizes (here a thread join;
    // in Tokio the core's hand-off), so the new thread's load sees the old
    // thread's last store and no count is lost.
    static SEEN_POLLS: Seen = Seen::new();
    model(|| {
        let (rt, mut recorders) = RuntimeProbes::new(None, 1);
        let mut recorder = recorders.pop().unwrap();
        let reader = {
            let rt = rt.clone();
            thread::spawn(move || {
                let a = rt.snapshot();
                let b = rt.snapshot();
                assert_not_backwards(&a, &b);
                SEEN_POLLS.push(b.workers[0].polls);
            })
        };
        recorder.poll_started(|| tokio_pulse_probes::TaskInfo {
            id: 1,
            spawned_at: None,
        });
        let mut recorder = thread::spawn(move || {
            let mut recorder = recorder;
            recorder.poll_started(|| tokio_pulse_probes::TaskInfo {
                id: 1,
                spawned_at: None,
            });
            recorder
        })
        .join()
        .unwrap();
        recorder.parked();
        reader.join().unwrap();
        let end = rt.snapshot();
        assert_eq!((end.workers[0].polls, end.workers[0].parks), (2, 1));
    });
    assert_eq!(SEEN_POLLS.distinct(), [0, 1, 2]);
}

#[test]
fn a_published_poll_is_read_whole() {
    use std::panic::Location;
    use tokio_pulse_probes::{Clock, CurrentPoll, PulseConfig, TaskInfo};

    // (start, task id, which location) of every poll the writer publishes.
    static SEEN: Seen = Seen::new();
    let a = Location::caller();
    let b = std::panic::Location::caller();
    assert_ne!(a, b);
    // Task 1 at `a`, task 2 at `b`, then task 1 again: a reader that mixed
    // the last poll's start with the middle poll's location would be caught.
    let polls = [(10, 1, a), (20, 2, b), (30, 1, a)];
    let code = move |poll: &CurrentPoll| {
        let at = poll.task.spawned_at.expect("a location");
        let which = if std::ptr::eq(at, a) { 0 } else { 1 };
        poll.started * 100 + poll.task.id * 10 + which
    };
    model(move || {
        let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
        let (rt, mut recorders) =
            RuntimeProbes::with_clock(Some("loom"), 1, &settings, Clock::instant());
        let mut recorder = recorders.pop().unwrap();
        let reader = {
            let rt = rt.clone();
            thread::spawn(move || {
                let worker = rt.worker(0).unwrap();
                match worker.current_poll() {
                    Some(poll) => {
                        let valid = polls.iter().any(|&(start, id, at)| {
                            poll.started == start
                                && poll.task.id == id
                                && poll.task.spawned_at.is_some_and(|p| std::ptr::eq(p, at))
                        });
                        assert!(valid, "a mixed read: {poll:?}");
                        SEEN.push(code(&poll));
                    }
                    None => SEEN.push(0),
                }
            })
        };
        recorder.busy_started_at(10);
        for (start, id, at) in polls {
            recorder.poll_started(|| TaskInfo {
                id,
                spawned_at: Some(at),
            });
            recorder.poll_ended_at(start + 10);
        }
        reader.join().unwrap();
        assert_eq!(rt.worker(0).unwrap().current_poll(), None);
    });
    // Between polls, and inside each of the three.
    assert_eq!(SEEN.distinct(), [0, 1010, 2021, 3010]);
}

#[test]
fn a_handed_over_poll_and_a_block_on_poll_are_read_whole() {
    use std::panic::Location;
    use tokio_pulse_probes::{Clock, CurrentPoll, PulseConfig, TaskInfo, BLOCK_ON_TASK_ID};

    static SEEN: Seen = Seen::new();
    let a = Location::caller();
    let b = std::panic::Location::caller();
    assert_ne!(a, b);
    // Task 1 at `a` from 10, left open by a core hand-off; the thread that
    // takes the core up at 20 ends it, and polls the block_on pseudo-task,
    // called at `b`, from 20 to 30.
    let code = move |poll: &CurrentPoll| {
        let at = poll.task.spawned_at.expect("a location");
        let which = if std::ptr::eq(at, a) { 0 } else { 1 };
        let id = if poll.task.id == BLOCK_ON_TASK_ID {
            9
        } else {
            poll.task.id
        };
        poll.started * 100 + id * 10 + which
    };
    model(move || {
        let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
        let (rt, mut recorders) =
            RuntimeProbes::with_clock(Some("loom"), 1, &settings, Clock::instant());
        let mut recorder = recorders.pop().unwrap();
        let reader = {
            let rt = rt.clone();
            thread::spawn(move || match rt.worker(0).unwrap().current_poll() {
                Some(poll) => {
                    let valid = (poll.started, poll.task.id, poll.task.spawned_at)
                        == (10, 1, Some(a))
                        || (poll.started, poll.task.id, poll.task.spawned_at)
                            == (20, BLOCK_ON_TASK_ID, Some(b));
                    assert!(valid, "a mixed read: {poll:?}");
                    SEEN.push(code(&poll));
                }
                None => SEEN.push(0),
            })
        };
        recorder.busy_started_at(10);
        recorder.poll_started(|| TaskInfo {
            id: 1,
            spawned_at: Some(a),
        });
        recorder.busy_started_at(20);
        recorder.block_on_poll_started(b);
        recorder.block_on_poll_ended_at(30);
        reader.join().unwrap();
        assert_eq!(rt.worker(0).unwrap().current_poll(), None);
        let timing = rt.snapshot().workers[0].poll_time.clone().unwrap();
        assert_eq!(timing.polls(), 1, "the handed-over poll is counted");
    });
    assert_eq!(SEEN.distinct(), [0, 1010, 2091]);
}
