//! What a user reaches through `Handle::pulse()` only reads, and what it
//! reads never goes backwards, however hard the runtime works meanwhile.
//! (That no user path can write is shown by the `compile_fail` examples in
//! the crate docs.)

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tokio_pulse_rt::{RuntimeSnapshot, WorkerSnapshot};

/// Every counter of a worker, by name, in a fixed order.
fn worker_counters(w: &WorkerSnapshot) -> Vec<(String, u64)> {
    let mut out = vec![
        ("polls".to_string(), w.polls),
        ("polls_lifo".to_string(), w.polls_lifo),
        ("spawns_local".to_string(), w.spawns_local),
        ("wakes_lifo".to_string(), w.wakes_lifo),
        ("wakes_local_queue".to_string(), w.wakes_local_queue),
        ("self_wakes_local".to_string(), w.self_wakes_local),
        ("yields_yield_now".to_string(), w.yields_yield_now),
        ("yields_budget".to_string(), w.yields_budget),
        ("lifo_capped".to_string(), w.lifo_capped),
        ("overflows_batch".to_string(), w.overflows_batch),
        ("steal_attempts".to_string(), w.steal_attempts),
        ("steal_operations".to_string(), w.steal_operations),
        ("stolen_tasks".to_string(), w.stolen_tasks),
        ("parks".to_string(), w.parks),
        ("unparks".to_string(), w.unparks),
    ];
    for (victim, cell) in w.steals_from.iter().enumerate() {
        out.push((format!("steals_from[{victim}].operations"), cell.operations));
        out.push((format!("steals_from[{victim}].tasks"), cell.tasks));
    }
    out
}

/// Every counter of a runtime, by name.
fn counters(snap: &RuntimeSnapshot) -> Vec<(String, u64)> {
    let mut out = vec![
        ("spawns_remote".to_string(), snap.spawns_remote),
        ("wakes_remote".to_string(), snap.wakes_remote),
        ("self_wakes_remote".to_string(), snap.self_wakes_remote),
        ("overflows_single".to_string(), snap.overflows_single),
    ];
    for w in &snap.workers {
        for (name, value) in worker_counters(w) {
            out.push((format!("worker {} {name}", w.index), value));
        }
    }
    out
}

/// A workload that touches every path: local spawns and wakes, remote
/// spawns and wakes from plain threads, yields, steals, parks.
async fn churn(stop: Arc<AtomicBool>) {
    while !stop.load(Relaxed) {
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                tokio::spawn(async move {
                    for _ in 0..(i % 8) {
                        tokio::task::yield_now().await;
                    }
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    tokio::spawn(async move { tx.send(i).ok() });
                    rx.await.ok()
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    }
}

#[test]
fn counters_read_through_the_public_api_never_go_backwards_under_load() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let probes = tokio_pulse_rt::probes(rt.handle());
    let stop = Arc::new(AtomicBool::new(false));

    // Load on the workers, and remote spawns and wakes from plain threads.
    let workers: Vec<_> = (0..4).map(|_| rt.spawn(churn(stop.clone()))).collect();
    let remote: Vec<_> = (0..2)
        .map(|_| {
            let (handle, stop) = (rt.handle().clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Relaxed) {
                    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                    let waiter = handle.spawn(rx);
                    tx.send(()).unwrap();
                    handle.block_on(waiter).unwrap().unwrap();
                }
            })
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(2);
    let mut reads = 0u64;
    let mut last = counters(&probes.snapshot());
    let first = last.clone();
    while Instant::now() < deadline {
        let now = counters(&probes.snapshot());
        for ((name, before), (_, after)) in last.iter().zip(&now) {
            assert!(
                after >= before,
                "{name} went backwards: {before} then {after} (read {reads})"
            );
        }
        last = now;
        reads += 1;
    }

    stop.store(true, Relaxed);
    for thread in remote {
        thread.join().unwrap();
    }
    rt.block_on(async {
        for worker in workers {
            worker.await.unwrap();
        }
    });

    // The reads covered a runtime that was really moving.
    let moved = |name: &str| {
        let at = |v: &[(String, u64)]| v.iter().find(|(n, _)| n == name).unwrap().1;
        at(&last) > at(&first)
    };
    assert!(reads > 100, "only {reads} reads");
    assert!(moved("spawns_remote"), "no remote spawns during the reads");
    assert!(
        last.iter()
            .zip(&first)
            .filter(|((name, _), _)| name.ends_with(" polls"))
            .any(|((_, after), (_, before))| after > before),
        "no polls during the reads"
    );
}
