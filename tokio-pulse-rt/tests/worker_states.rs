//! Worker states on the real runtime: the states add up to each worker's
//! wall time, an idle worker parks, a worker that only steals searches, and
//! `block_in_place` shows as `blocking`. Intervals are hundreds of
//! milliseconds so the 1 % bound is milliseconds, far above the clock's
//! resolution; nothing asserts how fast anything is.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};
use tokio_pulse_rt::{PulseConfig, RuntimeProbes, RuntimeSnapshot, WorkerState};

mod common;
use common::settle;

fn timed_runtime(workers: usize) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(workers)
        .pulse(PulseConfig::new().poll_timing(true))
        .enable_all()
        .build()
        .expect("build timed runtime")
}

/// A snapshot once every worker has started (has a state).
fn started(probes: &RuntimeProbes) -> RuntimeSnapshot {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let snap = probes.snapshot();
        if snap
            .workers
            .iter()
            .all(|w| w.states.as_ref().is_some_and(|s| s.current.is_some()))
        {
            return snap;
        }
        assert!(Instant::now() < deadline, "workers did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn state(snap: &RuntimeSnapshot, worker: usize, state: WorkerState) -> Duration {
    snap.workers[worker].states.as_ref().unwrap().state(state)
}

#[test]
fn states_add_up_to_wall_time_within_one_percent() {
    let rt = timed_runtime(2);
    let probes = rt.handle().pulse();
    let stop = Arc::new(AtomicBool::new(false));
    let before = started(&probes);
    let from = Instant::now();
    // A mixed load: timers (driver turns and parks), spawns, yields.
    let load = {
        let stop = stop.clone();
        rt.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let tasks: Vec<_> = (0..50)
                    .map(|_| tokio::spawn(async { tokio::task::yield_now().await }))
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    std::thread::sleep(Duration::from_millis(400));
    let after = probes.snapshot();
    let elapsed = from.elapsed();
    stop.store(true, Ordering::Relaxed);
    rt.block_on(load).unwrap();
    for (then, now) in before.workers.iter().zip(&after.workers) {
        let (then, now) = (then.states.as_ref().unwrap(), now.states.as_ref().unwrap());
        // The states add up to the worker's own wall time, at every reading.
        let slack = now.wall / 100;
        assert!(
            now.total().abs_diff(now.wall) <= slack,
            "states {:?} vs wall {:?}",
            now.time,
            now.wall
        );
        // And that wall time is the time that passed: the growth between two
        // readings is the time between them (the readings lie inside
        // [from - ε, from + elapsed]).
        let grown = now.total() - then.total();
        assert!(
            grown <= elapsed + elapsed / 100
                && grown + elapsed / 100 >= elapsed.saturating_sub(Duration::from_millis(1)),
            "states grew {grown:?} in {elapsed:?}: {:?}",
            now.time
        );
        assert!(now.state(WorkerState::Poll) > then.state(WorkerState::Poll));
    }
    // Without block_in_place no core was ever handed away.
    for w in 0..2 {
        assert_eq!(state(&after, w, WorkerState::Blocking), Duration::ZERO);
    }
}

#[test]
fn an_idle_worker_parks() {
    let rt = timed_runtime(2);
    let probes = rt.handle().pulse();
    let before = started(&probes);
    std::thread::sleep(Duration::from_millis(300));
    let after = probes.snapshot();
    for w in 0..2 {
        let parked = state(&after, w, WorkerState::Park) - state(&before, w, WorkerState::Park);
        assert!(
            parked >= Duration::from_millis(250),
            "worker {w} parked {parked:?}: {:?}",
            after.workers[w].states
        );
    }
}

#[test]
fn a_worker_that_only_steals_shows_search_time() {
    let rt = timed_runtime(2);
    let probes = rt.handle().pulse();
    let before = started(&probes);
    // One task spawns from a worker and keeps that worker busy: everything
    // the other worker runs, it steals.
    rt.block_on(async {
        tokio::spawn(async {
            let tasks: Vec<_> = (0..2_000)
                .map(|_| tokio::spawn(async { std::hint::black_box(0u64) }))
                .collect();
            std::thread::sleep(Duration::from_millis(50));
            for task in tasks {
                task.await.unwrap();
            }
        })
        .await
        .unwrap();
    });
    let after = settle(&probes);
    let thief = (0..2)
        .max_by_key(|&w| after.workers[w].stolen_tasks)
        .unwrap();
    assert!(after.workers[thief].stolen_tasks > 0, "nothing was stolen");
    let searched =
        state(&after, thief, WorkerState::Search) - state(&before, thief, WorkerState::Search);
    assert!(
        searched > Duration::ZERO,
        "{:?}",
        after.workers[thief].states
    );
}

#[test]
fn block_in_place_hands_the_core_away() {
    let rt = timed_runtime(1);
    let probes = rt.handle().pulse();
    started(&probes);
    rt.block_on(async {
        tokio::spawn(async {
            tokio::task::block_in_place(|| std::thread::sleep(Duration::from_millis(50)));
        })
        .await
        .unwrap();
    });
    let after = settle(&probes);
    let blocking = state(&after, 0, WorkerState::Blocking);
    assert!(blocking > Duration::ZERO, "{:?}", after.workers[0].states);
    let states = after.workers[0].states.as_ref().unwrap();
    assert!(states.total().abs_diff(states.wall) <= states.wall / 100);
}

#[test]
fn a_stopped_worker_stops_counting() {
    let rt = timed_runtime(1);
    let probes = rt.handle().pulse();
    started(&probes);
    drop(rt);
    let deadline = Instant::now() + Duration::from_secs(10);
    let stopped = loop {
        let snap = probes.snapshot();
        let states = snap.workers[0].states.clone().unwrap();
        if states.current.is_none() {
            break states;
        }
        assert!(Instant::now() < deadline, "the worker did not stop");
        std::thread::sleep(Duration::from_millis(5));
    };
    std::thread::sleep(Duration::from_millis(50));
    let later = probes.snapshot().workers[0].states.clone().unwrap();
    assert_eq!(stopped, later);
    assert!(stopped.wall > Duration::ZERO);
    assert!(stopped.total().abs_diff(stopped.wall) <= stopped.wall / 100);
}
