//! Differential test: the probes against Tokio's own `tokio_unstable`
//! runtime metrics, on the same runtime, for the same workloads.
//!
//! Build and run it with `--cfg tokio_unstable` (`cargo xtask test` does, in
//! its own target directory `target/unstable`); without that cfg Tokio has no
//! per-worker metrics and this file compiles to nothing.
//!
//! # Protocol
//!
//! 1. Build a multi-thread runtime (1, 2 and 4 workers).
//! 2. Run one workload to completion. The test thread starts it with
//!    `Handle::spawn` and waits on a plain `std` channel, never in `block_on`
//!    (see "budget" below for why).
//! 3. Wait until the runtime is quiescent: no task alive, every worker parked
//!    (our `parks == unparks + 1`), and two readings of both Tokio's metrics
//!    and the probes, taken apart, identical. Tokio's workers publish their
//!    metrics batch only when they park, so only then are its numbers final.
//! 4. Assert exact equality of every mapping below, cumulatively since the
//!    runtime was built. Then run the next workload on the same runtime.
//!
//! # The mappings (Tokio `RuntimeMetrics` ↔ probes)
//!
//! Per worker `i` (Tokio's worker index is the probes' worker index: both are
//! the core's position at runtime build):
//!
//! | Tokio | probes | why it is the same event |
//! |---|---|---|
//! | `worker_steal_count(i)` | `stolen_tasks` | both counted in `Stats::incr_steal_count`, called once per successful `steal_into2` with the number of tasks moved |
//! | `worker_steal_operations(i)` | `steal_operations` | the same call, one per successful steal |
//! | `worker_local_schedule_count(i)` | `local_schedules()` | both in `Handle::schedule_local` (spawns, wakes and self-wakes by the thread holding the core) |
//! | `worker_overflow_count(i)` | `overflows_batch` | both in `Stats::incr_overflow_count` (half of a full local queue moved to the inject queue) |
//! | `worker_poll_count(i)` | `polls - polls_lifo` | Tokio counts in `start_poll`, which `run_task` calls once per task taken from a queue; the polls chained through the LIFO slot afterwards are not counted (tokio-rs/tokio#7106). We count both kinds, separately |
//! | `worker_park_count(i)` | `parks` | both in `Stats::about_to_park` |
//! | `worker_park_unpark_count(i)` | `parks + unparks` | Tokio adds one on park and one on unpark |
//!
//! Runtime-wide:
//!
//! | Tokio | probes | why |
//! |---|---|---|
//! | `spawned_tasks_count()` | `spawns()` (= Σ `spawns_local` + `spawns_remote`) | Tokio counts every task bound into `OwnedTasks`; each bound task is scheduled once as a spawn, locally or through the inject queue |
//! | `remote_schedule_count()` | `remote_schedules()` (= `spawns_remote + wakes_remote + self_wakes_remote + overflows_single`) | both in `Handle::push_remote_task`, which remote spawns, remote wakes, self-wakes without a core and single-task overflow pushes all go through |
//! | `budget_forced_yield_count()` | Σ `yields_budget` | see below |
//!
//! ## Budget: the same number only where the definitions meet
//!
//! Tokio increments `budget_forced_yield_count` in `coop::poll_proceed` when
//! a decrement takes the budget *to zero*, on whichever thread has the
//! runtime's handle: once per poll that spends its budget (the budget is
//! reset per poll), unless `RestoreOnPending` gives a unit back (below). We
//! count in `context::defer` the first time in a poll that an operation *is
//! refused* budget on a worker holding its core, which makes the task
//! yield; more refusals in the same poll (a task waiting on several
//! channels with a combinator that has no budget check of its own) are the
//! same yield. These are one event each per poll when a task keeps using
//! coop resources until it is refused, which is what the two budget
//! workloads here do (one receives from one channel, one from two channels
//! at once). They differ (and the difference is pinned by
//! [`budget_definitions_differ_where_documented`]) when:
//!
//! - the budget reaches zero on the last operation before the task completes
//!   or waits on something without coop: Tokio +1, probes +0;
//! - the operation that reaches zero returns `Pending`: `RestoreOnPending`
//!   gives the unit back, yet Tokio has already counted (and counts again
//!   if a later operation in the same poll reaches zero);
//! - the budget runs out in a multi-thread `block_on` (not a worker): Tokio
//!   +1, probes +0. (A current-thread `block_on` future holds the core, and
//!   its refusals are counted like a task's.)
//!
//! So the workloads below wait for their tasks without coop (a `std` channel,
//! `unconstrained`, or a hand-written signal) except where they mean to
//! exhaust the budget.
#![cfg(tokio_unstable)]

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use tokio::runtime::{Runtime, RuntimeMetrics};
use tokio_pulse_rt::RuntimeSnapshot;

mod common;
use common::{multi_thread, poll_fn_select_drain};

/// Longest wait for a workload or for quiescence before the test fails.
const DEADLINE: Duration = Duration::from_secs(30);
/// Tokio's local run queue holds 256 tasks; spawning more from a busy task
/// overflows it.
const LOCAL_QUEUE_CAPACITY: usize = 256;

/// A one-shot, auto-resetting wake-up that uses no Tokio primitive, so no
/// coop budget: the scheduler sees plain wakes.
#[derive(Default)]
struct Signal {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Signal {
    fn fire(&self) {
        self.fired.store(true, SeqCst);
        let waker = self.waker.lock().expect("signal lock").take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    async fn wait(&self) {
        poll_fn(|cx| {
            if self.fired.swap(false, SeqCst) {
                return Poll::Ready(());
            }
            *self.waker.lock().expect("signal lock") = Some(cx.waker().clone());
            if self.fired.swap(false, SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// Runs `workload` as a task spawned from the test thread and waits for it
/// on a `std` channel (no coop budget on the waiting side).
fn run<F>(rt: &Runtime, workload: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let (done_tx, done_rx) = mpsc::channel();
    rt.handle().spawn(async move {
        workload.await;
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(DEADLINE)
        .expect("workload finished within the deadline");
}

/// Awaits every handle without touching the coop budget.
async fn join_all(handles: Vec<tokio::task::JoinHandle<()>>) {
    tokio::task::unconstrained(async move {
        for handle in handles {
            handle.await.expect("workload task panicked");
        }
    })
    .await
}

/// One reading of every compared quantity, Tokio's and ours, in the order of
/// [`NAMES`]: per worker, then runtime-wide.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reading {
    tokio: Vec<u64>,
    probes: Vec<u64>,
    /// Whether every worker is parked by the probes' counters.
    all_parked: bool,
    alive: usize,
}

const WORKER_NAMES: [&str; 7] = [
    "worker_steal_count == stolen_tasks",
    "worker_steal_operations == steal_operations",
    "worker_local_schedule_count == local_schedules()",
    "worker_overflow_count == overflows_batch",
    "worker_poll_count == polls - polls_lifo",
    "worker_park_count == parks",
    "worker_park_unpark_count == parks + unparks",
];
const RUNTIME_NAMES: [&str; 3] = [
    "spawned_tasks_count == spawns()",
    "remote_schedule_count == remote_schedules()",
    "budget_forced_yield_count == sum(yields_budget)",
];

fn read(metrics: &RuntimeMetrics, snap: &RuntimeSnapshot) -> Reading {
    let mut tokio = Vec::new();
    let mut probes = Vec::new();
    for (i, w) in snap.workers.iter().enumerate() {
        tokio.extend([
            metrics.worker_steal_count(i),
            metrics.worker_steal_operations(i),
            metrics.worker_local_schedule_count(i),
            metrics.worker_overflow_count(i),
            metrics.worker_poll_count(i),
            metrics.worker_park_count(i),
            metrics.worker_park_unpark_count(i),
        ]);
        probes.extend([
            w.stolen_tasks,
            w.steal_operations,
            w.local_schedules(),
            w.overflows_batch,
            w.polls - w.polls_lifo,
            w.parks,
            w.parks + w.unparks,
        ]);
    }
    tokio.extend([
        metrics.spawned_tasks_count(),
        metrics.remote_schedule_count(),
        metrics.budget_forced_yield_count(),
    ]);
    probes.extend([
        snap.spawns(),
        snap.remote_schedules(),
        snap.workers.iter().map(|w| w.yields_budget).sum(),
    ]);
    Reading {
        tokio,
        probes,
        all_parked: snap.workers.iter().all(|w| w.parks == w.unparks + 1),
        alive: metrics.num_alive_tasks(),
    }
}

/// Waits for quiescence (step 3 of the protocol) and returns the final
/// snapshot after asserting every mapping exactly (step 4).
fn assert_agree(rt: &Runtime, workload: &str) -> RuntimeSnapshot {
    let metrics = rt.metrics();
    let probes = rt.handle().pulse();
    assert_eq!(metrics.num_workers(), probes.workers().len());
    let deadline = Instant::now() + DEADLINE;
    let mut last: Option<Reading> = None;
    let (reading, snap) = loop {
        let snap = probes.snapshot();
        let reading = read(&metrics, &snap);
        let settled = reading.alive == 0 && reading.all_parked;
        if settled && last.as_ref() == Some(&reading) {
            break (reading, snap);
        }
        assert!(
            Instant::now() < deadline,
            "{workload}: runtime not quiescent after {DEADLINE:?}: {reading:?}"
        );
        last = Some(reading);
        std::thread::sleep(Duration::from_millis(20));
    };
    let workers = snap.workers.len();
    let mut names = Vec::new();
    for i in 0..workers {
        names.extend(WORKER_NAMES.iter().map(|n| format!("worker {i}: {n}")));
    }
    names.extend(RUNTIME_NAMES.iter().map(|n| n.to_string()));
    let disagree: Vec<String> = names
        .iter()
        .zip(reading.tokio.iter().zip(&reading.probes))
        .filter(|(_, (tokio, ours))| tokio != ours)
        .map(|(name, (tokio, ours))| format!("{name}: tokio {tokio}, probes {ours}"))
        .collect();
    assert!(
        disagree.is_empty(),
        "{workload} on {workers} worker(s): probes disagree with Tokio's metrics:\n  {}",
        disagree.join("\n  ")
    );
    eprintln!(
        "{workload} on {workers} worker(s): {} mappings agree (cumulative: polls {}, lifo polls {}, \
         stolen {}, overflows {}, budget yields {}, remote schedules {})",
        names.len(),
        snap.polls(),
        snap.workers.iter().map(|w| w.polls_lifo).sum::<u64>(),
        snap.stolen_tasks(),
        snap.workers.iter().map(|w| w.overflows_batch).sum::<u64>(),
        snap.workers.iter().map(|w| w.yields_budget).sum::<u64>(),
        snap.remote_schedules(),
    );
    snap
}

/// Spawns `n` empty tasks from a worker, back to back, and waits for them.
async fn spawn_local(n: usize) {
    let handles = (0..n).map(|_| tokio::spawn(async {})).collect();
    join_all(handles).await;
}

/// The workloads, each checked on its own and cumulatively.
fn workloads(rt: &Runtime) {
    let workers = rt.metrics().num_workers();
    let handle = rt.handle().clone();
    let before = assert_agree(rt, "idle runtime");

    // Local spawns: a worker spawns 100 tasks.
    run(rt, spawn_local(100));
    let snap = assert_agree(rt, "local spawns");
    let change = snap.delta(&before);
    assert!(change.workers.iter().map(|w| w.spawns_local).sum::<u64>() >= 100);

    // Remote spawns: the test thread spawns 200 tasks.
    let before = snap;
    let (tx, rx) = mpsc::channel();
    for _ in 0..200 {
        let tx = tx.clone();
        handle.spawn(async move {
            let _ = tx.send(());
        });
    }
    for _ in 0..200 {
        rx.recv_timeout(DEADLINE).expect("remote task ran");
    }
    let snap = assert_agree(rt, "remote spawns");
    assert!(snap.delta(&before).spawns_remote >= 200);

    // Yields: 16 tasks yield 50 times each.
    run(rt, async {
        let handles = (0..16)
            .map(|_| {
                tokio::spawn(async {
                    for _ in 0..50 {
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        join_all(handles).await;
    });
    let before = assert_agree(rt, "yields");

    // Ping-pong: two tasks wake each other 2000 times; the wakes go through
    // the LIFO slot, whose polls Tokio's poll count misses.
    run(rt, async {
        let ping = Arc::new(Signal::default());
        let pong = Arc::new(Signal::default());
        let (ping2, pong2) = (ping.clone(), pong.clone());
        let a = tokio::spawn(async move {
            for _ in 0..2000 {
                pong2.fire();
                ping2.wait().await;
            }
        });
        let b = tokio::spawn(async move {
            for _ in 0..2000 {
                pong.wait().await;
                ping.fire();
            }
        });
        join_all(vec![a, b]).await;
    });
    let snap = assert_agree(rt, "ping-pong");
    let change = snap.delta(&before);
    assert!(
        change.workers.iter().map(|w| w.polls_lifo).sum::<u64>() > 0,
        "ping-pong chained no poll through the LIFO slot: {change:?}"
    );

    // Remote wakes: 64 tasks wait on signals that the test thread fires.
    let before = snap;
    let signals: Vec<Arc<Signal>> = (0..64).map(|_| Arc::new(Signal::default())).collect();
    let (tx, rx) = mpsc::channel();
    for signal in &signals {
        let (signal, tx) = (signal.clone(), tx.clone());
        handle.spawn(async move {
            signal.wait().await;
            let _ = tx.send(());
        });
    }
    // Let the tasks run and park on their signals before firing, so that
    // most wakes find a parked task (either way both sides count the same).
    std::thread::sleep(Duration::from_millis(50));
    for signal in &signals {
        signal.fire();
    }
    for _ in 0..64 {
        rx.recv_timeout(DEADLINE).expect("woken task finished");
    }
    let snap = assert_agree(rt, "remote wakes");
    assert!(
        snap.delta(&before).wakes_remote > 0,
        "no wake reached the inject queue"
    );

    // Imbalance: one worker spawns 512 short tasks, then blocks its thread
    // for 100 ms while holding its core, so the others can only steal.
    let before = snap;
    run(rt, async {
        let handles = (0..512)
            .map(|_| {
                tokio::spawn(async {
                    let spin = Instant::now();
                    while spin.elapsed() < Duration::from_micros(20) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        join_all(handles).await;
    });
    let snap = assert_agree(rt, "forced steals");
    let change = snap.delta(&before);
    if workers > 1 {
        assert!(
            change.stolen_tasks() > 0,
            "a 100 ms blocked worker was never stolen from: {change:?}"
        );
    }
    // More than a local queue's worth spawned without yielding overflows
    // it unless other workers steal fast enough; with one worker, always.
    if workers == 1 {
        assert!(change.workers[0].overflows_batch > 0, "{change:?}");
    }

    // Overflow: a busy task spawns 4 × LOCAL_QUEUE_CAPACITY tasks.
    let before = snap;
    run(rt, spawn_local(4 * LOCAL_QUEUE_CAPACITY));
    let snap = assert_agree(rt, "overflow to the inject queue");
    if workers == 1 {
        assert!(snap.delta(&before).workers[0].overflows_batch > 0);
    }

    // Budget: a task drains 1000 queued messages. Every receive that finds
    // the budget spent is refused, once, right after the one that spent it.
    let before = snap;
    run(rt, async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..1000u32 {
            tx.send(i).expect("receiver alive");
        }
        drop(tx);
        let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
        join_all(vec![drain]).await;
    });
    let snap = assert_agree(rt, "coop budget exhaustion");
    let yields: u64 = snap
        .delta(&before)
        .workers
        .iter()
        .map(|w| w.yields_budget)
        .sum();
    assert!(yields > 0, "draining 1000 messages never ran out of budget");

    // Budget, two channels: a task drains two full channels at once with a
    // select that has no budget check of its own (as `futures::select!`), so
    // once the budget is spent both receives are refused in the poll that
    // yields. Still one forced yield per poll to both sides. 2 × 1000
    // messages and the two closing `None`s are 2002 decrements, not a
    // multiple of the budget: the last poll does not reach zero.
    let before = snap;
    run(rt, async {
        let drain = tokio::spawn(select_over_two_full_channels(1000));
        join_all(vec![drain]).await;
    });
    let snap = assert_agree(rt, "coop budget exhaustion, select over two channels");
    let yields: u64 = snap
        .delta(&before)
        .workers
        .iter()
        .map(|w| w.yields_budget)
        .sum();
    assert!(yields >= 2000 / 128, "only {yields} budget yields");
}

/// Fills two bounded channels of `capacity` and receives everything from
/// both, one message per select, with a select written with `poll_fn` that
/// polls each open channel in turn.
async fn select_over_two_full_channels(capacity: usize) {
    let channels: [_; 2] = std::array::from_fn(|_| {
        let (tx, rx) = tokio::sync::mpsc::channel(capacity);
        for i in 0..capacity {
            tx.try_send(i).expect("room left in the channel");
        }
        rx
    });
    let received = poll_fn_select_drain(channels).await;
    assert_eq!(received, 2 * capacity);
}

#[test]
fn probes_agree_with_tokio_metrics_on_one_worker() {
    workloads(&multi_thread(1));
}

#[test]
fn probes_agree_with_tokio_metrics_on_two_workers() {
    workloads(&multi_thread(2));
}

#[test]
fn probes_agree_with_tokio_metrics_on_four_workers() {
    workloads(&multi_thread(4));
}

/// Pins the documented difference in budget accounting: Tokio counts the
/// operation that takes the budget to zero, we count the poll in which an
/// operation is refused, which makes the task yield. A task that spends
/// exactly its budget and then completes is one forced yield to Tokio and
/// none to us.
#[test]
fn budget_definitions_differ_where_documented() {
    const BUDGET: u32 = 128;
    let rt = multi_thread(1);
    let before = assert_agree(&rt, "idle runtime");
    let tokio_before = rt.metrics().budget_forced_yield_count();
    run(&rt, async {
        let spend = tokio::spawn(async {
            for _ in 0..BUDGET {
                tokio::task::consume_budget().await;
            }
        });
        join_all(vec![spend]).await;
    });
    // Not `assert_agree`: the two sides are meant to differ here by exactly
    // one. Wait for quiescence by hand.
    let deadline = Instant::now() + DEADLINE;
    let probes = rt.handle().pulse();
    while !(rt.metrics().num_alive_tasks() == 0
        && probes.workers().all(|w| w.parks() == w.unparks() + 1))
    {
        assert!(Instant::now() < deadline, "runtime not quiescent");
        std::thread::sleep(Duration::from_millis(10));
    }
    let ours: u64 = probes
        .snapshot()
        .delta(&before)
        .workers
        .iter()
        .map(|w| w.yields_budget)
        .sum();
    let tokio = rt.metrics().budget_forced_yield_count() - tokio_before;
    assert_eq!((tokio, ours), (1, 0));
}

/// Schedule latency against Tokio's own `schedule-latency` histogram
/// (feature `schedule-latency`, 64-bit targets only), on one runtime.
///
/// # Where the definitions meet
///
/// Both stamp a task in `schedule_task` (every spawn and wake, only on the
/// transition to scheduled) and record once per poll of a stamped task, LIFO
/// polls included, on the worker that polls it: so the number of waits per
/// worker is equal, exactly.
///
/// On Tokio 1.53 (the LTS base), Tokio records only in `start_poll`, so not
/// the polls chained through the LIFO slot (`polls_lifo`; 1.54 records those
/// too): there its count is ours less `polls_lifo`, exactly, and its long
/// waits are ours less some of our `lifo` source's.
///
/// # Where they differ
///
/// - The end: Tokio reads `Instant::now()` at its `start_poll`, after the
///   task is picked; we take the poll's start mark (the end of the previous
///   poll, or the batch start), before it is picked. Our wait is shorter by
///   the picking (a pop or a steal), and a remote push that lands after the
///   mark waited zero.
/// - The clock: Tokio's is `Instant` (nanoseconds since the scheduler
///   started); ours is the runtime's [`Clock`](tokio_pulse_rt::Clock) (a
///   TSC when it is trusted).
/// - The buckets: Tokio's are configured per runtime; ours are the poll-time
///   tiers (powers of two of microseconds), so only waits far from both
///   sets of bounds land in matching buckets. Ours also split by source.
///
/// So the test compares the counts exactly, and the waits of tasks that
/// were held up ~60 ms by a blocked worker (far above the 16.384 ms tier
/// bound and Tokio's 20 ms bucket bound) against the rest (far below).
#[cfg(target_pointer_width = "64")]
#[test]
fn schedule_latency_agrees_with_tokio_where_the_definitions_meet() {
    use tokio::runtime::{Builder, HistogramConfiguration};
    use tokio_pulse_rt::{tier, PulseConfig, ScheduleSource};

    const LONG: Duration = Duration::from_millis(20);
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .enable_metrics_schedule_latency_histogram()
        .metrics_schedule_latency_histogram_configuration(HistogramConfiguration::linear(LONG, 2))
        .pulse(PulseConfig::new().poll_timing(true))
        .build()
        .expect("build runtime");
    // Ordinary traffic: local spawns, wakes, remote spawns.
    run(&rt, spawn_local(500));
    let remote: Vec<_> = (0..100).map(|_| rt.handle().spawn(async {})).collect();
    run(&rt, join_all(remote));
    // Both workers blocked while tasks are scheduled to them and remotely:
    // each of those waits about 60 ms.
    let (ready_tx, ready_rx) = mpsc::channel();
    let release = Arc::new(std::sync::Barrier::new(3));
    let blockers: Vec<_> = (0..2)
        .map(|_| {
            let ready_tx = ready_tx.clone();
            let release = release.clone();
            rt.handle().spawn(async move {
                let children: Vec<_> = (0..5).map(|_| tokio::spawn(async {})).collect();
                ready_tx.send(()).unwrap();
                release.wait();
                std::thread::sleep(Duration::from_millis(60));
                join_all(children).await;
            })
        })
        .collect();
    for _ in 0..2 {
        ready_rx.recv_timeout(DEADLINE).unwrap();
    }
    let held: Vec<_> = (0..10).map(|_| rt.handle().spawn(async {})).collect();
    release.wait();
    run(&rt, async move {
        join_all(blockers).await;
        join_all(held).await;
    });
    let snap = assert_agree(&rt, "schedule latency");
    let metrics = rt.metrics();
    assert_eq!(metrics.schedule_latency_histogram_num_buckets(), 2);
    assert_eq!(
        metrics.schedule_latency_histogram_bucket_range(1).start,
        LONG
    );
    let long_tier = (0..tier::TIERS)
        .find(|&k| k > 0 && tier::upper_bound_us(k - 1).is_some_and(|us| us >= 16_000))
        .unwrap();
    // Tokio records the waits of LIFO-chained polls from 1.54 on.
    let records_chained_lifo = common::tokio_minor() >= 54;
    let mut long_total = 0;
    for (i, w) in snap.workers.iter().enumerate() {
        let latency = w.schedule_latency.as_ref().expect("timing is on");
        let ours: u64 = latency.sources.iter().map(|s| s.tasks()).sum();
        let ours_long: u64 = latency
            .sources
            .iter()
            .map(|s| s.tiers[long_tier..].iter().sum::<u64>())
            .sum();
        let tokio_short = metrics.schedule_latency_histogram_bucket_count(i, 0);
        let tokio_long = metrics.schedule_latency_histogram_bucket_count(i, 1);
        eprintln!(
            "worker {i}: waits tokio {} (>= {LONG:?}: {tokio_long}), probes {ours} (>= 16.384 ms: {ours_long})",
            tokio_short + tokio_long
        );
        if records_chained_lifo {
            assert_eq!(tokio_short + tokio_long, ours, "worker {i}: waits recorded");
            assert_eq!(tokio_long, ours_long, "worker {i}: long waits");
        } else {
            assert_eq!(
                tokio_short + tokio_long,
                ours - w.polls_lifo,
                "worker {i}: waits recorded, but for LIFO-chained polls (Tokio 1.53)"
            );
            let lifo_long: u64 = latency.source(ScheduleSource::Lifo).tiers[long_tier..]
                .iter()
                .sum();
            assert!(
                tokio_long <= ours_long && ours_long - tokio_long <= lifo_long,
                "worker {i}: long waits: tokio {tokio_long}, probes {ours_long} of which \
                 {lifo_long} from the LIFO slot (Tokio 1.53 misses the chained ones)"
            );
        }
        long_total += ours_long;
    }
    // At least the 10 held remote spawns waited through the block (the
    // children too, unless the other worker stole them before it blocked).
    assert!(long_total >= 10, "{long_total} long waits");
}
