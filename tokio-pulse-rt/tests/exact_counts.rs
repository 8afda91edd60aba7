//! Known workloads on the real, patched runtime give known deltas, read
//! through the public API (`Handle::pulse()` and snapshots).

use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};
use tokio_pulse_rt::{RuntimeSnapshot, WorkerSnapshot};

mod common;
use common::{current_thread, multi_thread, poll_fn_select_drain};

const N: usize = 1000;

/// Both flavors, for tests that apply to both.
fn flavors() -> [(&'static str, Runtime); 2] {
    [
        ("multi_thread", multi_thread(2)),
        ("current_thread", current_thread()),
    ]
}

fn sum(snap: &RuntimeSnapshot, field: impl Fn(&WorkerSnapshot) -> u64) -> u64 {
    snap.workers.iter().map(field).sum()
}

/// Waits until `done` reaches `target`, failing after a generous deadline.
fn wait_for(done: &AtomicUsize, target: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while done.load(SeqCst) < target {
        assert!(Instant::now() < deadline, "workload did not finish");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn spawns_from_a_worker_are_local() {
    for (flavor, rt) in flavors() {
        let probes = rt.handle().pulse();
        let (before, after) = rt.block_on(async move {
            tokio::spawn(async move {
                let before = probes.snapshot();
                let handles: Vec<_> = (0..N).map(|_| tokio::spawn(async {})).collect();
                for handle in handles {
                    handle.await.unwrap();
                }
                (before, probes.snapshot())
            })
            .await
            .unwrap()
        });
        let change = after.delta(&before);
        assert_eq!(sum(&change, |w| w.spawns_local), N as u64, "{flavor}");
        assert_eq!(change.spawns_remote, 0, "{flavor}");
    }
}

#[test]
fn spawns_from_a_plain_thread_are_remote() {
    for (flavor, rt) in flavors() {
        let probes = rt.handle().pulse();
        let done = Arc::new(AtomicUsize::new(0));
        let before = probes.snapshot();
        let handle = rt.handle().clone();
        let counter = done.clone();
        std::thread::spawn(move || {
            for _ in 0..N {
                let counter = counter.clone();
                handle.spawn(async move {
                    counter.fetch_add(1, SeqCst);
                });
            }
        })
        .join()
        .unwrap();
        let spawned = probes.snapshot().delta(&before);
        assert_eq!(spawned.spawns_remote, N as u64, "{flavor}");
        assert_eq!(sum(&spawned, |w| w.spawns_local), 0, "{flavor}");

        // Drive a current-thread runtime until the tasks ran; a multi-thread
        // one runs them on its own workers.
        if flavor == "current_thread" {
            let done = done.clone();
            rt.block_on(poll_fn(move |cx| {
                if done.load(SeqCst) == N {
                    Poll::Ready(())
                } else {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            }));
        }
        wait_for(&done, N);
        // Each task completes in one poll, and nothing else ran.
        let ran = probes.snapshot().delta(&before);
        assert_eq!(ran.polls(), N as u64, "{flavor}");
    }
}

/// Runs `task` to its end as a task spawned on `rt`, and returns what the
/// probes counted meanwhile.
fn change_from_task(
    rt: &Runtime,
    task: impl Future<Output = ()> + Send + 'static,
) -> RuntimeSnapshot {
    let probes = rt.handle().pulse();
    let before = probes.snapshot();
    rt.block_on(async { tokio::spawn(task).await.unwrap() });
    probes.snapshot().delta(&before)
}

#[test]
fn yield_now_is_counted_once_per_call() {
    const K: u64 = 257;
    for (flavor, rt) in flavors() {
        let change = change_from_task(&rt, async {
            for _ in 0..K {
                tokio::task::yield_now().await;
            }
        });
        assert_eq!(sum(&change, |w| w.yields_yield_now), K, "{flavor}");
        assert_eq!(sum(&change, |w| w.self_wakes_local), 0, "{flavor}");
        assert_eq!(sum(&change, |w| w.yields_budget), 0, "{flavor}");
        // The task is polled once, then once per yield.
        assert_eq!(change.polls(), K + 1, "{flavor}");
    }
}

#[test]
fn self_wakes_during_a_poll_are_counted_as_yields() {
    const K: u64 = 100;
    for (flavor, rt) in flavors() {
        let change = change_from_task(&rt, async {
            let mut left = K;
            poll_fn(move |cx| {
                if left == 0 {
                    return Poll::Ready(());
                }
                left -= 1;
                cx.waker().wake_by_ref();
                Poll::Pending
            })
            .await
        });
        assert_eq!(sum(&change, |w| w.self_wakes_local), K, "{flavor}");
        assert_eq!(sum(&change, |w| w.yields_yield_now), 0, "{flavor}");
        assert_eq!(change.polls(), K + 1, "{flavor}");
    }
}

#[test]
fn coop_budget_exhaustion_is_counted() {
    // Tokio's per-poll budget is 128 units; each `consume_budget` takes one,
    // and the call that finds the budget empty yields instead.
    const BUDGET: u64 = 128;
    const CALLS: u64 = 1000;
    for (flavor, rt) in flavors() {
        let change = change_from_task(&rt, async {
            for _ in 0..CALLS {
                tokio::task::consume_budget().await;
            }
        });
        let expected = CALLS / BUDGET;
        assert_eq!(sum(&change, |w| w.yields_budget), expected, "{flavor}");
        assert_eq!(change.polls(), expected + 1, "{flavor}");
    }
}

/// Two bounded channels of `capacity`, each filled until it is full, their
/// senders dropped.
fn full_channels(capacity: usize) -> [tokio::sync::mpsc::Receiver<usize>; 2] {
    std::array::from_fn(|_| {
        let (tx, rx) = tokio::sync::mpsc::channel(capacity);
        for i in 0..capacity {
            tx.try_send(i).expect("room left in the channel");
        }
        assert!(tx.try_send(capacity).is_err(), "the channel is full");
        rx
    })
}

/// How a task waits on both channels at once.
#[derive(Clone, Copy, Debug)]
enum Combinator {
    /// `tokio::select!`, which checks the budget itself before it polls a
    /// branch, and so yields once with one refusal.
    TokioSelect,
    /// A select written with `poll_fn`, as `futures::select!` and most
    /// hand-written combinators are: no budget check of its own, so once
    /// the budget is spent both `recv`s are refused in the poll that yields.
    PollFnSelect,
    /// `tokio::join!` of one drain per channel: both refused too.
    TokioJoin,
}

const COMBINATORS: [Combinator; 3] = [
    Combinator::TokioSelect,
    Combinator::PollFnSelect,
    Combinator::TokioJoin,
];

/// Receives everything from both channels, one message per select (or per
/// branch of the join), and returns how many it received; counts its own
/// polls into `polls`. Every message is ready, so nothing but the budget
/// makes it yield: every poll but the last ends in a budget yield.
fn drain(
    combinator: Combinator,
    channels: [tokio::sync::mpsc::Receiver<usize>; 2],
    polls: Arc<AtomicUsize>,
) -> impl Future<Output = usize> {
    let [mut a, mut b] = channels;
    let mut drain: std::pin::Pin<Box<dyn Future<Output = usize> + Send>> = match combinator {
        Combinator::TokioSelect => Box::pin(async move {
            let mut received = 0;
            loop {
                tokio::select! {
                    biased;
                    Some(_) = a.recv() => received += 1,
                    Some(_) = b.recv() => received += 1,
                    else => break received,
                }
            }
        }),
        Combinator::PollFnSelect => Box::pin(poll_fn_select_drain([a, b])),
        Combinator::TokioJoin => Box::pin(async move {
            let one = |mut rx: tokio::sync::mpsc::Receiver<usize>| async move {
                let mut received = 0;
                while rx.recv().await.is_some() {
                    received += 1;
                }
                received
            };
            let (x, y) = tokio::join!(one(a), one(b));
            x + y
        }),
    };
    poll_fn(move |cx| {
        polls.fetch_add(1, SeqCst);
        drain.as_mut().poll(cx)
    })
}

#[test]
fn waiting_on_two_full_channels_is_one_budget_yield_per_poll() {
    const CAPACITY: usize = 1000;
    for combinator in COMBINATORS {
        for (flavor, rt) in flavors() {
            let probes = rt.handle().pulse();
            let polls = Arc::new(AtomicUsize::new(0));
            let before = probes.snapshot();
            let task = drain(combinator, full_channels(CAPACITY), polls.clone());
            let received = rt.block_on(async { tokio::spawn(task).await.unwrap() });
            let change = probes.snapshot().delta(&before);
            let at = format!("{combinator:?} on {flavor}");
            assert_eq!(received, 2 * CAPACITY, "{at}");
            // Every poll but the last ran out of budget and yielded: once
            // each, though both channels were refused.
            let polls = polls.load(SeqCst) as u64;
            assert!(polls > 10, "{at}: {polls} polls never ran out of budget");
            assert_eq!(sum(&change, |w| w.yields_budget), polls - 1, "{at}");
            assert_eq!(sum(&change, |w| w.yields_yield_now), 0, "{at}");
        }
    }
}

#[test]
fn a_block_on_future_is_one_budget_yield_per_poll_on_current_thread() {
    const CAPACITY: usize = 1000;
    for combinator in COMBINATORS {
        for (flavor, rt) in flavors() {
            let probes = rt.handle().pulse();
            let polls = Arc::new(AtomicUsize::new(0));
            let before = probes.snapshot();
            let received = rt.block_on(drain(combinator, full_channels(CAPACITY), polls.clone()));
            let change = probes.snapshot().delta(&before);
            let at = format!("{combinator:?} on {flavor}");
            assert_eq!(received, 2 * CAPACITY, "{at}");
            let polls = polls.load(SeqCst) as u64;
            assert!(polls > 10, "{at}: {polls} polls never ran out of budget");
            // A current-thread `block_on` future runs on the worker (it
            // holds the core), with no task polled between its polls; a
            // multi-thread `block_on` runs on no worker: nothing is counted.
            let expected = if flavor == "current_thread" {
                polls - 1
            } else {
                0
            };
            assert_eq!(sum(&change, |w| w.yields_budget), expected, "{at}");
            assert_eq!(change.polls(), 0, "{at}");
        }
    }
}

#[test]
fn forced_imbalance_produces_steals_attributed_to_victims() {
    let rt = multi_thread(2);
    // Everything is spawned from one worker that then stays busy, so the
    // other worker can only get work by stealing. Retry a few times in case
    // the scheduler happens to hand everything to one side.
    let mut stolen = 0;
    for _attempt in 0..5 {
        let change = change_from_task(&rt, async {
            let tasks: Vec<_> = (0..64)
                .map(|_| tokio::spawn(async { spin(Duration::from_micros(200)) }))
                .collect();
            spin(Duration::from_millis(20));
            for task in tasks {
                task.await.unwrap();
            }
        });
        for thief in &change.workers {
            let per_victim_tasks: u64 = thief.steals_from.iter().map(|c| c.tasks).sum();
            let per_victim_ops: u64 = thief.steals_from.iter().map(|c| c.operations).sum();
            assert_eq!(per_victim_tasks, thief.stolen_tasks);
            assert_eq!(per_victim_ops, thief.steal_operations);
            assert_eq!(
                thief.steals_from[thief.index].operations, 0,
                "stole from itself"
            );
            assert!(thief.steal_attempts >= thief.steal_operations);
            assert!(thief.stolen_tasks >= thief.steal_operations);
        }
        stolen = change.stolen_tasks();
        if stolen > 0 {
            assert!(stolen <= 64, "stole {stolen} of 64 tasks");
            break;
        }
    }
    assert!(stolen > 0, "no steals in 5 imbalanced runs");
}

fn spin(time: Duration) {
    let start = Instant::now();
    while start.elapsed() < time {
        std::hint::spin_loop();
    }
}

#[test]
fn lifo_chained_polls_are_counted() {
    // A ping-pong over oneshot channels chains through the LIFO slot.
    let rt = multi_thread(1);
    let probes = rt.handle().pulse();
    let before = probes.snapshot();
    rt.block_on(async {
        tokio::spawn(async {
            for _ in 0..100 {
                let (tx, rx) = tokio::sync::oneshot::channel();
                let pong = tokio::spawn(async move { rx.await.unwrap() });
                tx.send(()).unwrap();
                pong.await.unwrap();
            }
        })
        .await
        .unwrap()
    });
    let change = probes.snapshot().delta(&before);
    let worker = &change.workers[0];
    assert!(worker.polls_lifo > 0, "{worker:?}");
    assert!(worker.polls > worker.polls_lifo);
    assert!(worker.wakes_lifo + worker.spawns_local > 0);
}

/// Fails if any counter of `later` is below the same counter of `earlier`.
fn assert_monotonic(earlier: &RuntimeSnapshot, later: &RuntimeSnapshot) {
    assert_eq!(earlier.id, later.id);
    let went_back = |a: u64, b: u64, what: &str| {
        assert!(b >= a, "{what} went from {a} to {b}");
    };
    went_back(earlier.spawns_remote, later.spawns_remote, "spawns_remote");
    went_back(earlier.wakes_remote, later.wakes_remote, "wakes_remote");
    went_back(
        earlier.self_wakes_remote,
        later.self_wakes_remote,
        "self_wakes_remote",
    );
    went_back(
        earlier.overflows_single,
        later.overflows_single,
        "overflows_single",
    );
    for (a, b) in earlier.workers.iter().zip(&later.workers) {
        let pairs = [
            (a.polls, b.polls, "polls"),
            (a.polls_lifo, b.polls_lifo, "polls_lifo"),
            (a.spawns_local, b.spawns_local, "spawns_local"),
            (a.wakes_lifo, b.wakes_lifo, "wakes_lifo"),
            (
                a.wakes_local_queue,
                b.wakes_local_queue,
                "wakes_local_queue",
            ),
            (a.yields_yield_now, b.yields_yield_now, "yields_yield_now"),
            (a.yields_budget, b.yields_budget, "yields_budget"),
            (a.self_wakes_local, b.self_wakes_local, "self_wakes_local"),
            (a.lifo_capped, b.lifo_capped, "lifo_capped"),
            (a.overflows_batch, b.overflows_batch, "overflows_batch"),
            (a.steal_attempts, b.steal_attempts, "steal_attempts"),
            (a.steal_operations, b.steal_operations, "steal_operations"),
            (a.stolen_tasks, b.stolen_tasks, "stolen_tasks"),
            (a.parks, b.parks, "parks"),
            (a.unparks, b.unparks, "unparks"),
        ];
        for (x, y, what) in pairs {
            went_back(x, y, what);
        }
        for (x, y) in a.steals_from.iter().zip(&b.steals_from) {
            went_back(x.operations, y.operations, "steals_from.operations");
            went_back(x.tasks, y.tasks, "steals_from.tasks");
        }
    }
}

/// A mixed workload: local and remote spawns, wakes, yields, and steals.
async fn mixed_load(rounds: usize) {
    for _ in 0..rounds {
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                tokio::spawn(async move {
                    for _ in 0..(i % 4) {
                        tokio::task::yield_now().await;
                    }
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    tokio::spawn(async move { tx.send(i).unwrap() });
                    rx.await.unwrap()
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    }
}

#[test]
fn counters_never_decrease_also_after_shutdown() {
    for (flavor, rt) in flavors() {
        let probes = rt.handle().pulse();
        let first = probes.snapshot();
        rt.block_on(async { tokio::spawn(mixed_load(20)).await.unwrap() });
        let second = probes.snapshot();
        assert!(second.polls() > first.polls(), "{flavor}: no polls counted");
        assert_monotonic(&first, &second);
        drop(rt);
        let after_shutdown = probes.snapshot();
        assert_monotonic(&second, &after_shutdown);
        // Nothing runs after shutdown: the counters stay where they were,
        // apart from the tasks shutdown itself may have woken.
        assert!(after_shutdown.polls() >= second.polls());
    }
}

#[test]
fn concurrent_snapshots_under_load_are_monotonic() {
    const MIN_SNAPSHOTS: usize = 200;
    let rt = multi_thread(2);
    let probes = rt.handle().pulse();
    let stop = Arc::new(AtomicUsize::new(0));
    let taken = Arc::new(AtomicUsize::new(0));
    let reader = {
        let probes = probes.clone();
        let (stop, taken) = (stop.clone(), taken.clone());
        std::thread::spawn(move || {
            let mut last = probes.snapshot();
            while stop.load(SeqCst) == 0 {
                let next = probes.snapshot();
                assert_monotonic(&last, &next);
                last = next;
                taken.fetch_add(1, SeqCst);
            }
            last
        })
    };
    // Keep the load going until the reader has raced it for a while.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut rounds = 0;
    while rounds < 20 || taken.load(SeqCst) < MIN_SNAPSHOTS {
        assert!(Instant::now() < deadline, "the reader is stuck");
        rt.block_on(async {
            let remote = tokio::runtime::Handle::current();
            let outside = std::thread::spawn(move || {
                for _ in 0..200 {
                    remote.spawn(async { tokio::task::yield_now().await });
                }
            });
            tokio::spawn(mixed_load(2)).await.unwrap();
            outside.join().unwrap();
        });
        rounds += 1;
    }
    stop.store(1, SeqCst);
    let last = reader.join().unwrap();
    assert!(taken.load(SeqCst) >= MIN_SNAPSHOTS);
    assert_monotonic(&last, &probes.snapshot());
}

#[test]
fn runtimes_are_named_and_listed() {
    let rt = Builder::new_multi_thread()
        .worker_threads(3)
        .name("pulse-test-named")
        .build()
        .unwrap();
    let probes = rt.handle().pulse();
    assert_eq!(probes.name(), "pulse-test-named");
    assert_eq!(probes.workers().len(), 3);
    assert!(tokio_pulse_rt::runtimes()
        .iter()
        .any(|listed| listed.id() == probes.id()));

    let unnamed = current_thread();
    let unnamed_probes = unnamed.handle().pulse();
    assert_eq!(
        unnamed_probes.name(),
        format!("runtime-{}", unnamed_probes.id())
    );
    assert_eq!(unnamed_probes.workers().len(), 1);

    // Once the runtime and every handle to its probes are gone, it is no
    // longer listed.
    let id = probes.id();
    drop(rt);
    drop(probes);
    assert!(tokio_pulse_rt::runtimes().iter().all(|r| r.id() != id));
}

#[test]
fn gauges_report_queues_alive_tasks_and_shutdown() {
    // A current-thread runtime runs nothing while no thread drives it, so
    // remote spawns wait in the inject queue where the gauges can see them.
    let rt = current_thread();
    let probes = rt.handle().pulse();
    let (release, gate) = tokio::sync::watch::channel(false);
    for _ in 0..10 {
        let mut gate = gate.clone();
        rt.handle().spawn(async move {
            gate.wait_for(|open| *open).await.unwrap();
        });
    }
    let waiting = probes.snapshot();
    assert_eq!(waiting.global_queue_depth, Some(10));
    assert_eq!(waiting.alive_tasks, Some(10));
    assert_eq!(waiting.workers[0].local_queue_depth, None);
    assert!(!waiting.shut_down);

    // Polled once, the tasks park on the gate: still alive, no longer queued.
    rt.block_on(tokio::task::yield_now());
    let parked = probes.snapshot();
    assert_eq!(parked.global_queue_depth, Some(0));
    assert_eq!(parked.alive_tasks, Some(10));
    release.send(true).unwrap();
    rt.block_on(async {
        while tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
            > 0
        {
            tokio::task::yield_now().await;
        }
    });
    assert_eq!(probes.snapshot().alive_tasks, Some(0));

    drop(rt);
    let gone = probes.snapshot();
    assert!(gone.shut_down);
    assert_eq!(gone.alive_tasks, None, "gauges outlived the scheduler");
}

#[test]
fn multi_thread_local_queue_depth_is_visible() {
    let rt = multi_thread(1);
    let probes = rt.handle().pulse();
    let depth = rt.block_on(async {
        tokio::spawn(async move {
            // The worker is busy in this task, so what it spawns waits in its
            // local queue (one in the LIFO slot, which is not stealable and
            // not counted as queued).
            let children: Vec<_> = (0..20).map(|_| tokio::spawn(async {})).collect();
            let depth = probes.snapshot().workers[0].local_queue_depth;
            for child in children {
                child.await.unwrap();
            }
            depth
        })
        .await
        .unwrap()
    });
    assert_eq!(depth, Some(19));
}
