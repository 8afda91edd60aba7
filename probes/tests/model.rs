//! The data model's claims, tested with real threads: layout, single-writer
//! counting, live monotonic reads, snapshots and deltas, the registry.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use tokio_pulse_probes::{
    fork, runtimes, RemoteKind, RuntimeProbes, ScheduleKind, WorkerProbes, YieldReason,
};

#[test]
fn workers_sit_on_separate_cache_lines() {
    let (rt, _recorders) = RuntimeProbes::new(None, 8);
    let addresses: Vec<usize> = rt
        .workers()
        .map(|w| w as *const WorkerProbes as usize)
        .collect();
    for (i, a) in addresses.iter().enumerate() {
        // crossbeam's CachePadded aligns to 128 bytes on x86_64 and AArch64
        // (adjacent-line prefetch pairs 64-byte lines).
        assert_eq!(a % 128, 0, "worker {i} is not line-aligned");
        for b in &addresses[i + 1..] {
            assert!(a.abs_diff(*b) >= 128, "workers share a cache line");
        }
    }
}

#[test]
fn one_writer_per_worker_loses_nothing() {
    // Fewer events under Miri, which runs the same interleavings slowly.
    const EVENTS: u64 = if cfg!(miri) { 500 } else { 200_000 };
    let (rt, recorders) = RuntimeProbes::new(Some("writers"), 4);
    let start = Arc::new(Barrier::new(recorders.len()));
    let writers: Vec<_> = recorders
        .into_iter()
        .map(|mut recorder| {
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                for _ in 0..EVENTS {
                    recorder.poll_started(|| tokio_pulse_probes::TaskInfo {
                        id: 1,
                        spawned_at: None,
                    });
                    recorder.scheduled_local(ScheduleKind::Wake, false);
                    recorder.yielded(YieldReason::YieldNow);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let snap = rt.snapshot();
    for worker in &snap.workers {
        assert_eq!(worker.polls, EVENTS);
        assert_eq!(worker.wakes_local_queue, EVENTS);
        assert_eq!(worker.yields_yield_now, EVENTS);
    }
}

#[test]
fn live_readers_never_see_a_counter_go_back() {
    const EVENTS: u64 = if cfg!(miri) { 2_000 } else { 500_000 };
    let (rt, mut recorders) = RuntimeProbes::new(None, 2);
    let mut recorder = recorders.remove(0);
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let rt = rt.clone();
            let done = done.clone();
            thread::spawn(move || {
                let mut last = rt.snapshot();
                let mut reads = 0u64;
                while !done.load(SeqCst) {
                    let next = rt.snapshot();
                    let (a, b) = (&last.workers[0], &next.workers[0]);
                    assert!(b.polls >= a.polls, "polls went back");
                    assert!(b.stolen_tasks >= a.stolen_tasks, "stolen went back");
                    assert!(b.steal_attempts >= a.steal_attempts);
                    last = next;
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for i in 0..EVENTS {
        recorder.poll_started(|| tokio_pulse_probes::TaskInfo {
            id: 1,
            spawned_at: None,
        });
        if i % 16 == 0 {
            recorder.steal_attempt(1);
            recorder.stole(3);
        }
    }
    done.store(true, SeqCst);
    for reader in readers {
        assert!(reader.join().unwrap() > 0);
    }
    let worker = &rt.snapshot().workers[0];
    assert_eq!(worker.polls, EVENTS);
    assert_eq!(worker.steals_from[1].operations, EVENTS.div_ceil(16));
    assert_eq!(worker.stolen_tasks, 3 * EVENTS.div_ceil(16));
}

#[test]
fn remote_counts_under_a_lock_lose_nothing() {
    const PER_THREAD: u64 = if cfg!(miri) { 200 } else { 50_000 };
    let (writer, _recorders) = fork::new(None, 1);
    let rt = writer.probes().clone();
    let writer = Arc::new(writer);
    let inject_lock = Arc::new(Mutex::new(()));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (writer, lock) = (writer.clone(), inject_lock.clone());
            thread::spawn(move || {
                let kind = if t % 2 == 0 {
                    RemoteKind::Spawn
                } else {
                    RemoteKind::Wake
                };
                for _ in 0..PER_THREAD {
                    let _held = lock.lock().unwrap();
                    writer.pushed_locked(kind);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let snap = rt.snapshot();
    assert_eq!(snap.spawns_remote, 2 * PER_THREAD);
    assert_eq!(snap.wakes_remote, 2 * PER_THREAD);
    assert_eq!(snap.remote_schedules(), 4 * PER_THREAD);
}

#[test]
fn schedules_are_split_by_kind_and_path() {
    let (rt, mut recorders) = RuntimeProbes::new(None, 1);
    let r = &mut recorders[0];
    r.scheduled_local(ScheduleKind::Spawn, true);
    r.scheduled_local(ScheduleKind::Spawn, false);
    r.scheduled_local(ScheduleKind::Wake, true);
    r.scheduled_local(ScheduleKind::Wake, true);
    r.scheduled_local(ScheduleKind::Wake, false);
    r.scheduled_local(ScheduleKind::SelfWake, false);
    let w = &rt.snapshot().workers[0];
    assert_eq!(w.spawns_local, 2);
    assert_eq!(w.wakes_lifo, 2);
    assert_eq!(w.wakes_local_queue, 1);
    assert_eq!(w.self_wakes_local, 1);
    assert_eq!(w.local_schedules(), 6);
}

#[test]
fn delta_is_the_change_between_snapshots() {
    let (rt, mut recorders) = RuntimeProbes::new(Some("delta"), 2);
    recorders[0].poll_started(|| tokio_pulse_probes::TaskInfo {
        id: 1,
        spawned_at: None,
    });
    recorders[1].steal_attempt(0);
    recorders[1].stole(5);
    let before = rt.snapshot();
    recorders[0].poll_started(|| tokio_pulse_probes::TaskInfo {
        id: 1,
        spawned_at: None,
    });
    recorders[0].lifo_poll_started(|| tokio_pulse_probes::TaskInfo {
        id: 1,
        spawned_at: None,
    });
    recorders[1].steal_attempt(0);
    recorders[1].steal_attempt(0);
    recorders[1].stole(2);
    recorders[0].parked();
    let after = rt.snapshot();
    let change = after.delta(&before);
    assert_eq!(change.workers[0].polls, 2);
    assert_eq!(change.workers[0].polls_lifo, 1);
    assert_eq!(change.workers[0].parks, 1);
    assert_eq!(change.workers[1].steals_from[0].tasks, 2);
    assert_eq!(change.workers[1].steals_from[0].operations, 1);
    assert_eq!(change.workers[1].failed_steals(), 1);
    assert!(change.uptime <= after.uptime);
    // A delta against itself is all zeros.
    let zero = after.delta(&after);
    assert_eq!(zero.polls(), 0);
    assert_eq!(zero.stolen_tasks(), 0);
    // Mismatched inputs saturate instead of panicking.
    let backwards = before.delta(&after);
    assert_eq!(backwards.polls(), 0);
}

#[test]
fn stole_without_a_valid_victim_is_dropped_not_a_panic() {
    let (rt, mut recorders) = RuntimeProbes::new(None, 2);
    recorders[0].steal_attempt(7);
    recorders[0].stole(1);
    assert_eq!(rt.snapshot().stolen_tasks(), 0);
}

#[test]
fn registry_lists_live_runtimes_only() {
    let (a, _ra) = RuntimeProbes::new(Some("registry-a"), 1);
    let (b, _rb) = RuntimeProbes::new(Some("registry-b"), 1);
    let listed: Vec<u64> = runtimes().iter().map(|r| r.id()).collect();
    assert!(listed.contains(&a.id()) && listed.contains(&b.id()));
    let gone = a.id();
    drop(a);
    let listed: Vec<u64> = runtimes().iter().map(|r| r.id()).collect();
    assert!(!listed.contains(&gone));
    assert!(listed.contains(&b.id()));
}

#[test]
fn memory_stays_within_budget_for_16_workers() {
    // DESIGN budget: probes are O(workers^2) and at most 64 KiB for 16.
    let workers = 16;
    let per_worker = std::mem::size_of::<crossbeam_utils::CachePadded<WorkerProbes>>()
        + workers * std::mem::size_of::<tokio_pulse_probes::StealCell>();
    let total = workers * per_worker;
    assert!(total <= 64 * 1024, "{total} bytes for {workers} workers");
}

#[test]
fn a_published_poll_is_visible_until_it_ends() {
    use tokio_pulse_probes::{Clock, PulseConfig, TaskInfo};

    let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    let (rt, mut recorders) = RuntimeProbes::with_clock(None, 1, &settings, Clock::instant());
    let recorder = &mut recorders[0];
    let at = std::panic::Location::caller();
    recorder.busy_started();
    assert_eq!(
        rt.snapshot().workers[0]
            .poll_time
            .as_ref()
            .unwrap()
            .current_poll,
        None
    );
    recorder.poll_started(|| TaskInfo {
        id: 42,
        spawned_at: Some(at),
    });
    std::thread::sleep(std::time::Duration::from_millis(2));
    let during = rt.snapshot();
    let current = during.workers[0].poll_time.as_ref().unwrap().current_poll;
    assert!(current.unwrap() >= std::time::Duration::from_millis(2));
    recorder.poll_ended();
    let after = rt.snapshot();
    let timing = after.workers[0].poll_time.as_ref().unwrap();
    assert_eq!(timing.current_poll, None);
    assert_eq!(timing.polls(), 1);
    assert_eq!(timing.slow_polls, 1, "2 ms is over the 1 ms default");
    assert!(timing.poll_time >= std::time::Duration::from_millis(2));
}

#[test]
fn tiers_trail_by_at_most_one_poll_and_a_batch_end_counts_it() {
    use tokio_pulse_probes::{PulseConfig, TaskInfo};

    let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    let (rt, mut recorders) = RuntimeProbes::with_settings(None, 1, &settings);
    let clock = rt.clock();
    let recorder = &mut recorders[0];
    let counted = || rt.snapshot().workers[0].poll_time.clone().unwrap().polls();
    let mut now = 1_000;
    recorder.busy_started_at(now);
    for k in 1..=5u64 {
        recorder.poll_started(|| TaskInfo {
            id: k,
            spawned_at: None,
        });
        now += clock.ns_to_ticks(3_000);
        recorder.poll_ended_at(now);
        let seen = counted();
        assert!(seen == k || seen + 1 == k, "{seen} counted after {k} polls");
    }
    recorder.busy_ended();
    let timing = rt.snapshot().workers[0].poll_time.clone().unwrap();
    assert_eq!(timing.polls(), 5);
    assert_eq!(timing.tiers[2], 5, "3 µs polls: {timing:?}");
    assert_eq!(timing.poll_time, timing.busy_time);
    let sum = timing.poll_time.as_nanos() as i128;
    assert!((sum - 15_000).abs() <= 10, "{sum} ns for five 3 µs polls");
}

#[test]
fn a_block_on_poll_is_timed_and_published_but_is_no_task_poll() {
    use tokio_pulse_probes::{Clock, PulseConfig, TaskInfo, BLOCK_ON_TASK_ID};

    let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    // `Clock::instant`: one tick is one nanosecond.
    let (rt, mut recorders) = RuntimeProbes::with_clock(None, 1, &settings, Clock::instant());
    let recorder = &mut recorders[0];
    let at = std::panic::Location::caller();
    let task = |id| TaskInfo {
        id,
        spawned_at: None,
    };
    recorder.busy_started_at(1_000);
    recorder.poll_started(|| task(1));
    recorder.poll_ended_at(4_000); // 3 µs
    recorder.block_on_poll_started(at);
    let current = rt.worker(0).unwrap().current_poll().unwrap();
    assert_eq!(current.started, 4_000);
    assert_eq!(current.task.id, BLOCK_ON_TASK_ID);
    assert_eq!(current.task.spawned_at, Some(at));
    recorder.block_on_poll_ended_at(5_004_000); // 5 ms: slow
    recorder.poll_started(|| task(2));
    assert_eq!(
        rt.worker(0).unwrap().current_poll().unwrap().started,
        5_004_000,
        "the next task poll starts where the block_on poll ended"
    );
    recorder.poll_ended_at(5_006_000); // 2 µs
    recorder.busy_ended();
    let snap = rt.snapshot();
    let timing = snap.workers[0].poll_time.as_ref().unwrap();
    assert_eq!(
        snap.workers[0].polls, 2,
        "the block_on poll is no task poll"
    );
    assert_eq!(timing.polls(), 2);
    assert_eq!(timing.tiers[2], 2, "{timing:?}");
    assert_eq!(timing.poll_time.as_nanos(), 5_000, "only the task polls");
    assert_eq!(timing.slow_polls, 1, "the block_on poll was slow");
    assert_eq!(timing.current_poll, None);
}

#[test]
fn a_poll_handed_over_with_the_core_is_timed_when_the_core_is_taken_up() {
    use tokio_pulse_probes::{Clock, PulseConfig, TaskInfo};

    let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    let (rt, mut recorders) = RuntimeProbes::with_clock(None, 1, &settings, Clock::instant());
    let recorder = &mut recorders[0];
    recorder.busy_started_at(1_000);
    recorder.poll_started(|| TaskInfo {
        id: 7,
        spawned_at: None,
    });
    // `block_in_place`: the task's thread gives the core away mid-poll and
    // never ends the poll; the thread that takes the core up starts a batch.
    recorder.busy_started_at(8_000);
    let snap = rt.snapshot();
    let timing = snap.workers[0].poll_time.as_ref().unwrap();
    assert_eq!(timing.current_poll, None);
    assert_eq!(snap.workers[0].polls, 1);
    assert_eq!(timing.polls(), 1, "the handed-over poll is counted");
    assert_eq!(timing.tiers[3], 1, "7 µs: {timing:?}");
    assert_eq!(timing.poll_time.as_nanos(), 7_000);
    // The next poll starts after the handed-over one.
    recorder.poll_started(|| TaskInfo {
        id: 8,
        spawned_at: None,
    });
    assert!(rt.worker(0).unwrap().current_poll().unwrap().started >= 8_000);
}

#[test]
fn block_on_exited_closes_a_block_on_poll_that_unwound() {
    use tokio_pulse_probes::{PulseConfig, TaskInfo};

    let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    let (rt, mut recorders) = RuntimeProbes::with_settings(None, 1, &settings);
    let recorder = &mut recorders[0];
    recorder.busy_started();
    recorder.poll_started(|| TaskInfo {
        id: 3,
        spawned_at: None,
    });
    recorder.poll_ended();
    recorder.block_on_poll_started(std::panic::Location::caller());
    let started = rt.worker(0).unwrap().current_poll().unwrap().started;
    // The block_on future panicked: no block_on_poll_ended.
    recorder.block_on_exited();
    let snap = rt.snapshot();
    let timing = snap.workers[0].poll_time.as_ref().unwrap();
    assert_eq!(timing.current_poll, None);
    assert_eq!((snap.workers[0].polls, timing.polls()), (1, 1));
    // The next block_on's poll is a new poll, with a later mark.
    recorder.busy_started();
    recorder.block_on_poll_started(std::panic::Location::caller());
    assert!(rt.worker(0).unwrap().current_poll().unwrap().started > started);
}
